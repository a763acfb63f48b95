"""Element-wise activations `relu`, `sigmoid`, `tanh`, and `softmax` over a flat vector."""
from __future__ import annotations

from ..ir import Node, Shape
from . import Inference, NoAttrs, OpDef
from .dense import needs_flat


def _same_shape(node: Node, input_shape: Shape) -> Inference:
    return Inference(input_shape, node.attrs)


def _softmax(node: Node, input_shape: Shape) -> Inference:
    problem = needs_flat(node, input_shape)
    return Inference(input_shape, node.attrs, (problem,) if problem else ())


ELEMENTWISE = ("relu", "sigmoid", "tanh")

OPS = [OpDef(kind=k, usage=k, params=(), attrs=NoAttrs, infer=_same_shape) for k in ELEMENTWISE]
OPS.append(OpDef(kind="softmax", usage="softmax", params=(), attrs=NoAttrs, infer=_softmax))
