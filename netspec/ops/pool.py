"""`maxpool` and `avgpool kernel=K [stride=S] [padding=P]`: per-channel windows.

Stride defaults to the kernel. As in PyTorch, max pads with -inf and avg counts
the padded zeros, and padding may be at most half the kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import error
from ..ir import Node, Shape
from . import Inference, NoAttrs, OpDef, Param, Trait, params
from .spatial import needs_image, slide
from .window import setting


@dataclass(frozen=True)
class PoolAttrs:
    kernel: tuple[int, int]
    stride: tuple[int, int] | None  # None: the kernel size
    padding: params.Padding | params.SamePadding

    @property
    def step(self) -> tuple[int, int]:
        return self.stride or self.kernel


def _most_padding(kernel: int) -> int:
    """As in PyTorch: more than half the kernel and a window could cover only padding."""
    return kernel // 2


def _padding_too_large(node: Node, a: PoolAttrs, padding: params.Padding):
    limits = (_most_padding(a.kernel[0]), _most_padding(a.kernel[1]))
    sides = [("top", padding.top, 0), ("bottom", padding.bottom, 0), ("left", padding.left, 1), ("right", padding.right, 1)]
    bad = [(side, p, limits[axis]) for side, p, axis in sides if p > limits[axis]]
    if not bad:
        return None
    side, p, limit = bad[0]
    fixed = limits[0] if limits[0] == limits[1] else f"{limits[0]}x{limits[1]}"
    return error(
        "E0304",
        f"{node.name}: padding {p} ({side}) is more than half the kernel {a.kernel[0]}x{a.kernel[1]} "
        f"(at most {limit}): a window could then cover only padding",
        node.span_of("padding"),
        help=f"use padding={fixed} or less, or a larger kernel",
        fixes=(setting(node, "padding", str(fixed), f"use padding={fixed}"),),
    )


def infer(node: Node, input_shape: Shape) -> Inference:
    a: PoolAttrs = node.attrs
    out_hw, padding, diagnostics, requirements = slide(node, input_shape, a.kernel, a.step, a.padding,
                                                        _most_padding)
    resolved = PoolAttrs(a.kernel, a.step, padding)
    if len(input_shape) != 3:  # not an image: reported by slide
        return Inference(None, resolved, diagnostics)
    # `same` never pads a side by more than half the kernel; with sizes that are names it stays unresolved
    too_much = _padding_too_large(node, a, padding) if isinstance(padding, params.Padding) else None
    if too_much:
        return Inference(None, resolved, (too_much, *diagnostics))
    return Inference((input_shape[0], *out_hw) if out_hw else None, resolved, diagnostics, requirements)


def _pool(kind: str) -> OpDef:
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
        traits=frozenset({Trait.WINDOWED}),
    )


MAXPOOL = _pool("maxpool")
AVGPOOL = _pool("avgpool")


# -- Global and adaptive average pooling ----------------------------------------


@dataclass(frozen=True)
class AdaptiveAttrs:
    size: tuple[int, int]  # output height and width


def _adaptive_infer(node: Node, input_shape: Shape) -> Inference:
    wrong_rank = needs_image(node, input_shape)
    if wrong_rank:
        return Inference(None, node.attrs, (wrong_rank,))
    return Inference((input_shape[0], *node.attrs.size), node.attrs)


def _global_infer(node: Node, input_shape: Shape) -> Inference:
    wrong_rank = needs_image(node, input_shape)
    if wrong_rank:
        return Inference(None, node.attrs, (wrong_rank,))
    return Inference((input_shape[0], 1, 1), node.attrs)


GLOBALAVGPOOL = OpDef(kind="globalavgpool", usage="globalavgpool", params=(), attrs=NoAttrs, infer=_global_infer)
ADAPTIVEAVGPOOL = OpDef(kind="adaptiveavgpool", usage="adaptiveavgpool HxW",
                        params=(Param("size", params.size_pair("output size"), positional=True),),
                        attrs=AdaptiveAttrs, infer=_adaptive_infer)

OPS = (MAXPOOL, AVGPOOL, GLOBALAVGPOOL, ADAPTIVEAVGPOOL)
