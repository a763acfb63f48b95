"""`flatten`: C x H x W -> C*H*W, channel-major (a view of the same buffer)."""
from __future__ import annotations

from math import prod

from ..ir import Node, Shape
from . import Inference, NoAttrs, OpDef


def infer(node: Node, input_shape: Shape) -> Inference:
    return Inference((prod(input_shape),), node.attrs)


OP = OpDef(kind="flatten", usage="flatten", params=(), attrs=NoAttrs, infer=infer)
