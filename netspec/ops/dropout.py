"""`dropout P`: zeroes each element with probability P while training; the identity at inference."""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node, Shape
from . import Inference, OpDef, Param, Trait, params


@dataclass(frozen=True)
class DropoutAttrs:
    p: float


def infer(node: Node, input_shape: Shape) -> Inference:
    return Inference(input_shape, node.attrs)


OPS = (OpDef(kind="dropout", usage="dropout P", params=(Param("p", params.probability, positional=True),),
             attrs=DropoutAttrs, infer=infer, traits=frozenset({Trait.IDENTITY_AT_INFERENCE})),)
