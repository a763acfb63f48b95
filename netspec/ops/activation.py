"""Element-wise activations `relu`, `sigmoid`, `tanh`, and `softmax` over a flat vector."""
from __future__ import annotations

from ..ir import Node, Shape
from . import Inference, NoAttrs, OpDef, Trait
from .dense import needs_flat


def _same_shape(node: Node, input_shape: Shape) -> Inference:
    return Inference(input_shape, node.attrs)


def _softmax(node: Node, input_shape: Shape) -> Inference:
    problem = needs_flat(node, input_shape)
    return Inference(input_shape, node.attrs, (problem,) if problem else ())


def _elementwise(kind: str) -> OpDef:
    return OpDef(kind=kind, usage=kind, params=(), attrs=NoAttrs, infer=_same_shape,
                 traits=frozenset({Trait.ELEMENTWISE}))


OPS = (_elementwise("relu"), _elementwise("sigmoid"), _elementwise("tanh"),
       OpDef(kind="softmax", usage="softmax", params=(), attrs=NoAttrs, infer=_softmax,
             traits=frozenset({Trait.DISTRIBUTION})))
