"""`dropout P`: identity at inference (checked: 0 <= P < 1). The compiler removes it."""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node, Shape
from . import Inference, OpDef, Param, params
from .lowering import copy_input


@dataclass(frozen=True)
class DropoutAttrs:
    p: float


def infer(node: Node, input_shape: Shape) -> Inference:
    return Inference(input_shape, node.attrs)


def lower(c) -> None:
    # Emitted only when dropout cannot be removed (its input is the network's input
    # and its output the network's output).
    copy_input(c)


OP = OpDef(kind="dropout", usage="dropout P", params=(Param("p", params.probability, positional=True),),
           attrs=DropoutAttrs, infer=infer, lower=lower)
