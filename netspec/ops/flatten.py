"""`flatten`: C x H x W -> C*H*W, channel-major (a view of the same buffer)."""
from __future__ import annotations

from math import prod

from ..ir import Node, Shape
from . import Inference, NoAttrs, OpDef
from .lowering import map_elements


def infer(node: Node, input_shape: Shape) -> Inference:
    return Inference((prod(input_shape),), node.attrs)


def lower(c) -> None:
    # Emitted only when flatten cannot be a view (its input is the network's input
    # and its output the network's output); otherwise the plan shares the buffer.
    map_elements(c, prod(c.layer.input_shape), lambda k, x: x)


OP = OpDef(kind="flatten", usage="flatten", params=(), attrs=NoAttrs, infer=infer, lower=lower)
