"""`conv OUT kernel=K [stride=S] [padding=P] [bias=true|false]`: 2-D cross-correlation.

The kernel is c_o x c_i x k_h x k_w with c_i taken from the input (PyTorch's layout).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node, Shape
from . import OpDef, Param, Inference, params
from ..codegen import mathfn
from ..codegen.kernel import constant, index, real, vector_type
from .lowering import activate_in_place, copy_padded
from .spatial import needs_image, slide


@dataclass(frozen=True)
class ConvAttrs:
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: params.Padding | params.SamePadding
    bias: bool


def infer(node: Node, input_shape: Shape) -> Inference:
    a: ConvAttrs = node.attrs
    wrong_rank = needs_image(node, input_shape)
    if wrong_rank:
        return Inference(None, a, (wrong_rank,))
    out_hw, padding, diagnostics = slide(node, input_shape, a.kernel, a.stride, a.padding)
    resolved = ConvAttrs(a.out_channels, a.kernel, a.stride, padding, a.bias)
    return Inference((a.out_channels, *out_hw) if out_hw else None, resolved, diagnostics)


def weight_shapes(a: ConvAttrs, input_shape: Shape) -> dict[str, Shape]:
    shapes = {"weight": (a.out_channels, input_shape[0], *a.kernel)}
    if a.bias:
        shapes["bias"] = (a.out_channels,)
    return shapes


def macs(a: ConvAttrs, input_shape: Shape, output_shape: Shape) -> int:
    c_o, o_h, o_w = output_shape
    return c_o * input_shape[0] * a.kernel[0] * a.kernel[1] * o_h * o_w


def _padded(a: ConvAttrs) -> bool:
    return bool(a.padding.rows or a.padding.columns)


def scratch_floats(layer) -> int:
    c_i, n_h, n_w = layer.input_shape
    a = layer.attrs
    padded_input = c_i * (n_h + a.padding.rows) * (n_w + a.padding.columns)
    if a.stride == (1, 1):
        return padded_input + LANES + layer.output_shape[0] * _WideRows(layer).pitch
    return padded_input if _padded(a) else 0


def lower(c) -> None:
    if c.attrs.stride == (1, 1):
        lower_wide(c)
    else:
        lower_direct(c)


def lower_direct(c) -> None:
    """Any stride: out[oc, oh, ow] = bias[oc] + sum over ic, kh, kw of w[oc, ic, kh, kw] * x[ic, oh*s_h + kh, ow*s_w + kw]
    on the padded input. The innermost loop runs along an output row so it vectorizes."""
    k, a = c.k, c.attrs
    c_i, n_h, n_w = c.layer.input_shape
    c_o, o_h, o_w = c.layer.output_shape
    k_h, k_w = a.kernel
    s_h, s_w = a.stride
    source = c.source
    if _padded(a):
        n_h, n_w = copy_padded(c, c_i, n_h, n_w, a.padding, 0.0)
        source = c.scratch
    weight = c.weights["weight"]
    with k.loop("oc", 0, c_o) as oc:
        bias = k.load(c.weights["bias"], oc) if a.bias else 0.0
        with k.loop("oh", 0, o_h) as oh:
            row = k.offset((oc, oh), (o_h * o_w, o_w))
            with k.loop("ow0", 0, o_w) as ow:
                k.store(real(bias), c.target, k.add(row, ow))
            with k.loop("ic", 0, c_i) as ic:
                with k.loop("kh", 0, k_h) as kh:
                    input_row = k.offset((ic, k.add(k.mul(oh, s_h), kh)), (n_h * n_w, n_w))
                    with k.loop("kw", 0, k_w) as kw:
                        w = k.load(weight, k.offset((oc, ic, kh, kw), (c_i * k_h * k_w, k_h * k_w, k_w, 1)))
                        with k.loop("ow", 0, o_w) as ow:
                            x = k.load(source, k.add(input_row, kw, k.mul(ow, s_w)))
                            target = k.add(row, ow)
                            k.store(k.fadd(k.load(c.target, target), k.fmul(w, x)), c.target, target)
            activate_in_place(c, row, o_w)


# -- Schedule for stride 1: "wide rows" with register tiles ---------------------
#
# With stride 1 and the input padded to n_h' x n_w', output position (oh, ow)
# reads the input at q + kh*n_w' + kw where q = oh*n_w' + ow. Computing every q
# in [0, (o_h - 1)*n_w' + o_w) - the output rows laid end to end at the padded
# input's pitch, the columns past o_w being discarded - turns the convolution
# into one long contiguous loop per (oc, ic, kh, kw): ideal for vectors. A
# register tile holds `channels` output channels x `vectors` vectors of q, so
# each input vector loaded is used `channels` times and each weight broadcast
# `vectors` times. The result is then compacted row by row into the output,
# adding nothing but the fused activation.

LANES = 16  # scratch is sized for vectors up to this width


class _WideRows:
    def __init__(self, layer):
        c_i, n_h, n_w = layer.input_shape
        a = layer.attrs
        self.height, self.width = n_h + a.padding.rows, n_w + a.padding.columns
        _, o_h, o_w = layer.output_shape
        self.positions = (o_h - 1) * self.width + o_w
        # one extra vector so compaction may read a whole vector past the last row's end
        self.pitch = -(-self.positions // LANES) * LANES + LANES


def _tile_shape(width: int, vectors: int, channels: int) -> tuple[int, int]:
    """(output channels, q vectors) per register tile: as many accumulators as the
    vector registers allow (32 with AVX-512, 16 otherwise) after the operands."""
    accumulators = 24 if width >= 16 else 12
    across = next((r for r in (4, 3, 2) if vectors % r == 0), min(vectors, 4 if width >= 16 else 2))
    across = min(across, vectors)
    return max(1, min(channels, accumulators // across)), across


def _wide_tile(c, rows: _WideRows, source, wide, first_channel, channels: int, first_q, vectors: int) -> None:
    k, a, width = c.k, c.attrs, c.vector_width
    c_i = c.layer.input_shape[0]
    k_h, k_w = a.kernel
    weight = c.weights["weight"]
    accumulators = []
    for r in range(channels):
        channel = k.add(first_channel, r)
        start = k.splat(k.load(c.weights["bias"], channel), width) if a.bias else constant(vector_type(width), 0.0)
        accumulators.append([k.variable(f"acc{r}.{v}", start) for v in range(vectors)])
    with k.loop("ic", 0, c_i) as ic:
        with k.loop("kh", 0, k_h) as kh:
            line = k.add(k.mul(ic, rows.height * rows.width), k.mul(kh, rows.width), first_q)
            taps = [k.view(weight, k.offset((k.add(first_channel, r), ic, kh), (c_i * k_h * k_w, k_h * k_w, k_w)), k_w)
                    for r in range(channels)]
            # The kernel row is unrolled: the accumulators stay SSA values (registers) across it.
            sums = [[k.b.load(slot) for slot in row] for row in accumulators]
            for kw in range(k_w):
                xs = [k.vload(source, k.add(line, kw + v * width), width) for v in range(vectors)]
                for r in range(channels):
                    w = k.splat(k.load(taps[r], kw), width)
                    sums[r] = [k.intrinsic("llvm.fma", w, x, total) for x, total in zip(xs, sums[r])]
            for row, totals in zip(accumulators, sums):
                for slot, total in zip(row, totals):
                    k.b.store(total, slot)
    for r in range(channels):
        row = k.add(k.mul(k.add(first_channel, r), rows.pitch), first_q)
        for v in range(vectors):
            k.vstore(k.b.load(accumulators[r][v]), wide, k.add(row, v * width))


def _tiles_over_q(c, rows, source, wide, first_channel, channels: int) -> None:
    width = c.vector_width
    vectors = -(-rows.positions // width)
    _, across = _tile_shape(width, vectors, c.layer.output_shape[0])
    looped = vectors - vectors % across
    with c.k.loop("q", 0, looped * width, step=across * width) as first_q:
        _wide_tile(c, rows, source, wide, first_channel, channels, first_q, across)
    if vectors > looped:
        _wide_tile(c, rows, source, wide, first_channel, channels, index(looped * width), vectors - looped)


def _compact(c, rows: _WideRows, wide) -> None:
    """out[oc, oh, :] = act(wide[oc, oh * n_w' : oh * n_w' + o_w]), a vector at a time."""
    k, width = c.k, c.vector_width
    c_o, o_h, o_w = c.layer.output_shape
    with k.loop("oc.out", 0, c_o) as oc:
        with k.loop("oh.out", 0, o_h) as oh:
            source_row = k.add(k.mul(oc, rows.pitch), k.mul(oh, rows.width))
            target_row = k.offset((oc, oh), (o_h * o_w, o_w))
            for start in range(0, o_w, width):
                value = mathfn.apply(k, c.activation, k.vload(wide, k.add(source_row, start), width))
                k.vstore(value, c.target, k.add(target_row, start), min(width, o_w - start))


def lower_wide(c) -> None:
    k = c.k
    c_i, n_h, n_w = c.layer.input_shape
    c_o = c.layer.output_shape[0]
    rows = _WideRows(c.layer)
    copy_padded(c, c_i, n_h, n_w, c.attrs.padding, 0.0, extra=LANES)
    padded = k.view(c.scratch, 0, c_i * rows.height * rows.width + LANES)
    wide = k.view(c.scratch, c_i * rows.height * rows.width + LANES, c_o * rows.pitch)
    vectors = -(-rows.positions // c.vector_width)
    channels, _ = _tile_shape(c.vector_width, vectors, c_o)
    looped = c_o - c_o % channels
    with k.loop("oc", 0, looped, step=channels) as first_channel:
        _tiles_over_q(c, rows, padded, wide, first_channel, channels)
    if c_o > looped:
        _tiles_over_q(c, rows, padded, wide, index(looped), c_o - looped)
    _compact(c, rows, wide)


OP = OpDef(
    kind="conv",
    usage="conv OUT kernel=K [stride=S] [padding=P|HxW|T,B,L,R|same|valid] [bias=true|false]",
    params=(
        Param("out_channels", params.count("output channels"), positional=True),
        Param("kernel", params.size_pair("kernel")),
        Param("stride", params.size_pair("stride"), default=(1, 1)),
        Param("padding", params.padding, default=params.Padding(0, 0, 0, 0)),
        Param("bias", params.boolean, default=True),
    ),
    attrs=ConvAttrs,
    infer=infer,
    weight_shapes=weight_shapes,
    macs=macs,
    lower=lower,
    scratch_floats=scratch_floats,
)
