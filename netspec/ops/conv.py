"""`conv OUT kernel=K [stride=S] [padding=P] [bias=true|false]`: 2-D cross-correlation.

The kernel is c_o x c_i x k_h x k_w with c_i taken from the input (PyTorch's layout).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node, Shape
from . import Inference, OpDef, Param, Trait, params
from .spatial import slide


@dataclass(frozen=True)
class ConvAttrs:
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: params.Padding | params.SamePadding
    bias: bool

    @property
    def step(self) -> tuple[int, int]:
        """The stride in effect (the name pooling uses, where the stride may default)."""
        return self.stride


def _most_padding(kernel: int) -> int:
    """More than kernel - 1 on a side would add windows that see only padding."""
    return kernel - 1


def infer(node: Node, input_shape: Shape) -> Inference:
    a: ConvAttrs = node.attrs
    out_hw, padding, diagnostics, requirements = slide(node, input_shape, a.kernel, a.stride, a.padding,
                                                        _most_padding)
    resolved = ConvAttrs(a.out_channels, a.kernel, a.stride, padding, a.bias)
    return Inference((a.out_channels, *out_hw) if out_hw else None, resolved, diagnostics, requirements)


def weight_shapes(a: ConvAttrs, input_shape: Shape) -> dict[str, Shape]:
    shapes = {"weight": (a.out_channels, input_shape[0], *a.kernel)}
    if a.bias:
        shapes["bias"] = (a.out_channels,)
    return shapes


def macs(a: ConvAttrs, input_shape: Shape, output_shape: Shape) -> int:
    c_o, o_h, o_w = output_shape
    return c_o * input_shape[0] * a.kernel[0] * a.kernel[1] * o_h * o_w


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
    traits=frozenset({Trait.LINEAR_PER_CHANNEL, Trait.WINDOWED}),
)

OPS = (OP,)
