"""Element-wise activations `relu`, `sigmoid`, `tanh`, and `softmax` over a flat vector."""
from __future__ import annotations

from math import prod

from ..codegen import mathfn
from ..ir import Node, Shape
from . import Inference, NoAttrs, OpDef
from .dense import needs_flat
from .lowering import map_elements


def _same_shape(node: Node, input_shape: Shape) -> Inference:
    return Inference(input_shape, node.attrs)


def _softmax(node: Node, input_shape: Shape) -> Inference:
    problem = needs_flat(node, input_shape)
    return Inference(input_shape, node.attrs, (problem,) if problem else ())


def _elementwise(kind: str) -> OpDef:
    function = mathfn.ELEMENTWISE[kind]

    def lower(c) -> None:
        map_elements(c, prod(c.layer.input_shape), function)

    return OpDef(kind=kind, usage=kind, params=(), attrs=NoAttrs, infer=_same_shape, lower=lower)


def _reduce(k, source, count: int, initial: float, combine):
    accumulator = k.variable("acc", initial)
    with k.loop("r", 0, count) as i:
        k.b.store(combine(k.b.load(accumulator), k.load(source, i)), accumulator)
    return k.b.load(accumulator)


def _lower_softmax(c) -> None:
    """softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x): subtracting the max keeps exp finite."""
    k = c.k
    count = prod(c.layer.input_shape)
    largest = _reduce(k, c.source, count, float("-inf"), k.fmaximum)
    map_elements(c, count, lambda k, x: mathfn.exp(k, k.fsub(x, largest)))
    total = _reduce(k, c.target, count, 0.0, k.fadd)
    with k.loop("norm", 0, count) as i:
        k.store(k.fdiv(k.load(c.target, i), total), c.target, i)


OPS = [_elementwise(kind) for kind in mathfn.ELEMENTWISE]
OPS.append(OpDef(kind="softmax", usage="softmax", params=(), attrs=NoAttrs, infer=_softmax, lower=_lower_softmax))
