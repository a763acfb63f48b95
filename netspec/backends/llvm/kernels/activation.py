"""Activations as loop nests: elementwise functions one element at a time (the
loop vectorizes), and softmax with its max subtracted first."""
from __future__ import annotations

from math import prod

from .. import mathfn
from . import KernelDef
from .common import map_elements


def _elementwise(function) -> KernelDef:
    def lower(c) -> None:
        map_elements(c, prod(c.layer.input_shape), function)

    return KernelDef(lower=lower, element=function)


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


KERNELS = {
    "relu": _elementwise(mathfn.relu),
    "sigmoid": _elementwise(mathfn.sigmoid),
    "tanh": _elementwise(mathfn.tanh),
    "softmax": KernelDef(lower=_lower_softmax),
}
