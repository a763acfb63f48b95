"""`maxpool` and `avgpool kernel=K [stride=S] [padding=P]`: per-channel windows.

Stride defaults to the kernel. As in PyTorch, max pads with -inf and avg counts
the padded zeros, and padding may be at most half the kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ..codegen.kernel import F32, I32, constant, index, vector_type
from ..diagnostics import error
from ..ir import Node, Shape
from . import Inference, NoAttrs, OpDef, Param, params
from .lowering import copy_padded
from .spatial import needs_image, slide


@dataclass(frozen=True)
class PoolAttrs:
    kernel: tuple[int, int]
    stride: tuple[int, int] | None  # None: the kernel size
    padding: params.Padding | params.SamePadding

    @property
    def step(self) -> tuple[int, int]:
        return self.stride or self.kernel


def _padding_too_large(node: Node, a: PoolAttrs, padding: params.Padding):
    limits = (a.kernel[0] // 2, a.kernel[1] // 2)
    sides = [("top", padding.top, 0), ("bottom", padding.bottom, 0), ("left", padding.left, 1), ("right", padding.right, 1)]
    bad = [(side, p, limits[axis]) for side, p, axis in sides if p > limits[axis]]
    if not bad:
        return None
    side, p, limit = bad[0]
    fixed = limits[0] if limits[0] == limits[1] else f"{limits[0]}x{limits[1]}"
    return error(
        f"{node.name}: padding {p} ({side}) is more than half the kernel {a.kernel[0]}x{a.kernel[1]} "
        f"(at most {limit}): a window could then cover only padding",
        node.span_of("padding"),
        help=f"use padding={fixed} or less, or a larger kernel",
    )


def infer(node: Node, input_shape: Shape) -> Inference:
    a: PoolAttrs = node.attrs
    out_hw, padding, diagnostics = slide(node, input_shape, a.kernel, a.step, a.padding)
    resolved = PoolAttrs(a.kernel, a.step, padding)
    if len(input_shape) != 3:  # not an image: reported by slide
        return Inference(None, resolved, diagnostics)
    too_much = _padding_too_large(node, a, padding)
    if too_much:
        return Inference(None, resolved, (too_much, *diagnostics))
    return Inference((input_shape[0], *out_hw) if out_hw else None, resolved, diagnostics)


LANES = 16  # scratch is sized for vectors up to this width


def _slack(a: PoolAttrs) -> int:
    """Floats after the padded input that a strided vector load may touch."""
    return (LANES + 1) * a.step[1] + a.kernel[1] + LANES


def scratch_floats(layer) -> int:
    channels, n_h, n_w = layer.input_shape
    p = layer.attrs.padding
    return channels * (n_h + p.rows) * (n_w + p.columns) + _slack(layer.attrs)


def _strided(k, pointer, position, stride: int, width: int):
    """Elements position, position + stride, ... (`width` of them) as one vector."""
    if stride == 1:
        return k.vload(pointer, position, width)
    wide = k.vload(pointer, position, width * stride)
    lanes = ir.Constant(ir.VectorType(I32, width), [i * stride for i in range(width)])
    return k.b.shuffle_vector(wide, ir.Constant(wide.type, None), lanes)


def _lower(c, combine, initial: float, finish) -> None:
    """out[ch, oh, ow] = finish(combine over the window), a vector of outputs at a time.

    The input is first copied into scratch with the padding (filled with `initial`)
    and slack around it, so every window - and every strided vector load - lies
    inside the scratch buffer."""
    k, a, width = c.k, c.attrs, c.vector_width
    channels, n_h, n_w = c.layer.input_shape
    _, o_h, o_w = c.layer.output_shape
    (k_h, k_w), (s_h, s_w) = a.kernel, a.step
    padded_h, padded_w = copy_padded(c, channels, n_h, n_w, a.padding, initial, extra=_slack(a))

    def output_vector(row_start, target_position, first_column, lanes):
        total = constant(vector_type(width), initial)
        for kh in range(k_h):
            for kw in range(k_w):
                position = k.add(row_start, kh * padded_w + kw, k.mul(first_column, s_w))
                total = combine(k, total, _strided(k, c.scratch, position, s_w, width))
        k.vstore(finish(k, total, k_h * k_w), c.target, k.add(target_position, first_column), lanes)

    whole = o_w - o_w % width
    with k.loop("c", 0, channels) as ch:
        with k.loop("oh", 0, o_h) as oh:
            row_start = k.offset((ch, oh), (padded_h * padded_w, s_h * padded_w))
            target_row = k.offset((ch, oh), (o_h * o_w, o_w))
            with k.loop("ow", 0, whole, step=width) as first_column:
                output_vector(row_start, target_row, first_column, None)
            if whole < o_w:
                output_vector(row_start, target_row, index(whole), o_w - whole)


def _lower_max(c) -> None:
    _lower(c, lambda k, total, x: k.intrinsic("llvm.maximum", total, x), float("-inf"), lambda k, total, size: total)


def _lower_avg(c) -> None:
    # Padded zeros count, as with PyTorch's default count_include_pad=True; windows
    # never extend past the padded input, so the divisor is always k_h * k_w.
    _lower(c, lambda k, total, x: k.b.fadd(total, x), 0.0,
           lambda k, total, size: k.b.fdiv(total, constant(total.type, float(size))))


def _pool(kind: str, lower) -> OpDef:
    return OpDef(
        kind=kind,
        usage=f"{kind} kernel=K [stride=S] [padding=P|HxW|T,B,L,R|same|valid]",
        params=(
            Param("kernel", params.size_pair("kernel")),
            Param("stride", params.size_pair("stride"), default=None),
            Param("padding", params.padding, default=params.Padding(0, 0, 0, 0)),
        ),
        attrs=PoolAttrs,
        infer=infer,
        lower=lower,
        scratch_floats=scratch_floats,
    )


MAXPOOL = _pool("maxpool", _lower_max)
AVGPOOL = _pool("avgpool", _lower_avg)


# -- Global and adaptive average pooling ----------------------------------------


@dataclass(frozen=True)
class AdaptiveAttrs:
    size: tuple[int, int]  # output height and width


def _adaptive_infer(node: Node, input_shape: Shape) -> Inference:
    wrong_rank = needs_image(node, input_shape)
    if wrong_rank:
        return Inference(None, node.attrs, (wrong_rank,))
    return Inference((input_shape[0], *node.attrs.size), node.attrs)


def _lower_adaptive(c) -> None:
    """As PyTorch's adaptive_avg_pool2d: output (i, j) averages input rows
    [floor(i*H/OH), ceil((i+1)*H/OH)) and the columns likewise."""
    k = c.k
    channels, n_h, n_w = c.layer.input_shape
    _, o_h, o_w = c.layer.output_shape

    def window(position, inputs: int, outputs: int):
        start = k.b.sdiv(k.mul(position, inputs), index(outputs))
        end = k.b.sdiv(k.add(k.mul(k.add(position, 1), inputs), outputs - 1), index(outputs))
        return start, end

    with k.loop("c", 0, channels) as ch:
        with k.loop("oh", 0, o_h) as oh:
            rows = window(oh, n_h, o_h)
            with k.loop("ow", 0, o_w) as ow:
                columns = window(ow, n_w, o_w)
                total = k.variable("sum", 0.0)
                with k.loop("ih", *rows) as ih:
                    with k.loop("iw", *columns) as iw:
                        value = k.load(c.source, k.offset((ch, ih, iw), (n_h * n_w, n_w, 1)))
                        k.b.store(k.fadd(k.b.load(total), value), total)
                area = k.b.mul(k.b.sub(rows[1], rows[0]), k.b.sub(columns[1], columns[0]))
                mean = k.b.fdiv(k.b.load(total), k.b.sitofp(area, F32))
                k.store(mean, c.target, k.offset((ch, oh, ow), (o_h * o_w, o_w, 1)))


def _global_infer(node: Node, input_shape: Shape) -> Inference:
    wrong_rank = needs_image(node, input_shape)
    if wrong_rank:
        return Inference(None, node.attrs, (wrong_rank,))
    return Inference((input_shape[0], 1, 1), node.attrs)


def _lower_global(c) -> None:
    """out[ch] = mean of the channel's H*W values."""
    k = c.k
    channels, n_h, n_w = c.layer.input_shape
    plane = n_h * n_w
    with k.loop("c", 0, channels) as ch:
        total = k.variable("sum", 0.0)
        start = k.mul(ch, plane)
        with k.loop("i", 0, plane) as i:
            k.b.store(k.fadd(k.b.load(total), k.load(c.source, k.add(start, i))), total)
        k.store(k.b.fdiv(k.b.load(total), constant(F32, float(plane))), c.target, ch)


GLOBALAVGPOOL = OpDef(kind="globalavgpool", usage="globalavgpool", params=(), attrs=NoAttrs,
                      infer=_global_infer, lower=_lower_global)
ADAPTIVEAVGPOOL = OpDef(kind="adaptiveavgpool", usage="adaptiveavgpool HxW",
                        params=(Param("size", params.size_pair("output size"), positional=True),),
                        attrs=AdaptiveAttrs, infer=_adaptive_infer, lower=_lower_adaptive)
