"""`flatten`: C x H x W -> C*H*W, channel-major (a view of the same buffer)."""
from __future__ import annotations

from math import prod

from ..ir import Node, Shape
from . import Inference, NoAttrs, OpDef
from .lowering import copy_input


def infer(node: Node, input_shape: Shape) -> Inference:
    return Inference((prod(input_shape),), node.attrs)


def lower(c) -> None:
    # Emitted only when flatten cannot be a view (its input is the network's input
    # and its output the network's output); otherwise the plan shares the buffer.
    copy_input(c)


OP = OpDef(kind="flatten", usage="flatten", params=(), attrs=NoAttrs, infer=infer, lower=lower)
