"""The layer registry: every layer kind is described once, here and in its module.

An `OpDef` holds a kind's parameters with their defaults, its shape rule, its
weights and its multiply-accumulate count; the builder, the checker, the weight
loader and the code generator all read the same description.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any, Callable

from ..ast import Value
from ..diagnostics import Diagnostic
from ..ir import Node, Shape

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    parse: Callable[[Value], Any]
    default: Any = REQUIRED
    positional: bool = False


@dataclass(frozen=True)
class Inference:
    """A shape rule's answer: the output shape (None if it cannot be known), the
    attributes with everything input-dependent resolved (e.g. `padding=same`),
    and the problems found."""

    output: Shape | None
    attrs: Any
    diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True)
class NoAttrs:
    """The attributes of a layer kind that takes no parameters."""


def _no_weights(attrs, input_shape: Shape) -> dict[str, Shape]:
    return {}


def _no_macs(attrs, input_shape: Shape, output_shape: Shape) -> int:
    return 0


def _no_scratch(layer) -> int:
    return 0


def _as_given(attrs, input_shape: Shape, suffix: str, array):
    return array


def _same_shape(attrs, input_shape: Shape, suffix: str, shape: Shape) -> Shape:
    return shape


@dataclass(frozen=True)
class OpDef:
    kind: str
    usage: str
    params: tuple[Param, ...]
    attrs: type
    infer: Callable[[Node, Shape], Inference]
    weight_shapes: Callable[[Any, Shape], dict[str, Shape]] = _no_weights
    macs: Callable[[Any, Shape, Shape], int] = _no_macs
    # Code generation: emits the layer's loop nest (see netspec.codegen.kernel.LayerCode),
    # and says how many floats of temporary storage that loop nest needs per example.
    lower: Callable[[Any], None] | None = None
    scratch_floats: Callable[[Any], int] = _no_scratch
    # A join reads several tensors: its shape rule gets a tuple of their shapes.
    joins: bool = False
    # Weights that are running statistics, not learned parameters (not in the count).
    buffers: tuple[str, ...] = ()
    # Weights that start at a fixed value rather than a random draw (see weights.initial_weights).
    initial_values: dict = field(default_factory=dict)
    # True when `lower` handles a whole tile of examples (c.count); otherwise the
    # generator calls it inside a loop over the tile, one example at a time.
    batched: bool = False
    # The layout the lowering wants a weight in (e.g. transposed), from PyTorch's layout,
    # and that layout's shape (known without converting anything).
    store_weight: Callable[[Any, Shape, str, Any], Any] = _as_given
    stored_shape: Callable[[Any, Shape, str, Shape], Shape] = _same_shape

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def count_params(self, attrs, input_shape: Shape) -> int:
        shapes = self.weight_shapes(attrs, input_shape)
        return sum(prod(shape) for suffix, shape in shapes.items() if suffix not in self.buffers)


def _registry() -> dict[str, OpDef]:
    from . import activation, batchnorm, conv, dense, dropout, flatten, join, pool

    ops = [conv.OP, pool.MAXPOOL, pool.AVGPOOL, pool.GLOBALAVGPOOL, pool.ADAPTIVEAVGPOOL, flatten.OP, dense.OP,
           batchnorm.OP, dropout.OP, join.ADD, join.CONCAT, *activation.OPS]
    return {op.kind: op for op in ops}


OPS: dict[str, OpDef] = _registry()
