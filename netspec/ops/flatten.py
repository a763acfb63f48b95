"""`flatten`: C x H x W -> C*H*W, channel-major (the same elements, reshaped)."""
from __future__ import annotations

from math import prod

from ..ir import Node, Shape
from . import Inference, NoAttrs, OpDef, Trait


def infer(node: Node, input_shape: Shape) -> Inference:
    return Inference((prod(input_shape),), node.attrs)


OPS = (OpDef(kind="flatten", usage="flatten", params=(), attrs=NoAttrs, infer=infer, traits=frozenset({Trait.VIEW})),)
