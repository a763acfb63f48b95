"""`conv OUT kernel=K [stride=S] [padding=P] [bias=true|false]`: 2-D cross-correlation.

The kernel is c_o x c_i x k_h x k_w with c_i taken from the input (PyTorch's layout).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node, Shape
from . import OpDef, Param, Inference, params
from ..codegen.kernel import real
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
    return c_i * (n_h + a.padding.rows) * (n_w + a.padding.columns) if _padded(a) else 0


def lower(c) -> None:
    """out[oc, oh, ow] = bias[oc] + sum over ic, kh, kw of w[oc, ic, kh, kw] * x[ic, oh*s_h + kh, ow*s_w + kw]
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
