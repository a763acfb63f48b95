"""The layer registry: what every layer kind computes, described once.

An `OpDef` holds a kind's parameters with their defaults, its shape rule, its
weights, its multiply-accumulate count and its traits; the builder, the checker,
the weight loader and every backend read the same description. How a backend
computes a kind lives in that backend (e.g. `backends/llvm/kernels/`), never here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from math import prod
from typing import Any, Callable

from ..frontend.ast import Value
from ..diagnostics import Diagnostic
from ..ir import Node, Shape

REQUIRED = object()


class Trait(Enum):
    """What passes need to know about a kind, declared by the kind instead of named by it."""

    # The output holds the input's elements in the same order, only reshaped (flatten).
    VIEW = "view"
    # out[i] = f(in[i]) for one scalar function f (relu, sigmoid, tanh).
    ELEMENTWISE = "elementwise"
    # The identity when the network is used for inference (dropout).
    IDENTITY_AT_INFERENCE = "identity at inference"
    # Reads several named tensors; its shape rule gets a tuple of `Operand`s (add, concat).
    JOINS = "joins"
    # Slides a kernel over height and width with a stride and padding (conv, pools): its
    # attributes have `kernel`, `step` (the stride in effect) and `padding`.
    WINDOWED = "windowed"
    # At inference, y = x * scale + shift per channel with scale and shift from running
    # statistics (batchnorm): foldable into a preceding LINEAR_PER_CHANNEL layer.
    AFFINE_PER_CHANNEL = "affine per channel"
    # Output channel c is a linear function of the input with weight[c] and bias[c] (conv, dense).
    LINEAR_PER_CHANNEL = "linear per channel"
    # The output is a probability distribution: non-negative, summing to 1 (softmax).
    DISTRIBUTION = "distribution"


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
    # With sizes that are names (`input 3xHxW`): what the layer needs of them
    # (symbolic.Requirement), checked for all sizes at once by netspec.sizes.
    requirements: tuple = ()


@dataclass(frozen=True)
class Operand:
    """A tensor a join reads: its shape, and the checked layer that produced it (None for
    the network's input), so a join's diagnostics can compute fixes on the producer."""

    shape: Shape
    producer: Any


@dataclass(frozen=True)
class NoAttrs:
    """The attributes of a layer kind that takes no parameters."""


def _no_weights(attrs, input_shape: Shape) -> dict[str, Shape]:
    return {}


def _no_macs(attrs, input_shape: Shape, output_shape: Shape) -> int:
    return 0


@dataclass(frozen=True)
class OpDef:
    kind: str
    usage: str
    params: tuple[Param, ...]
    attrs: type
    infer: Callable[[Node, Any], Inference]
    weight_shapes: Callable[[Any, Shape], dict[str, Shape]] = _no_weights
    macs: Callable[[Any, Shape, Shape], int] = _no_macs
    traits: frozenset[Trait] = frozenset()
    # Weights that are running statistics, not learned parameters (not in the count).
    buffers: tuple[str, ...] = ()
    # Weights that start at a fixed value rather than a random draw (see weights.initial_weights).
    initial_values: dict = field(default_factory=dict)

    def has(self, trait: Trait) -> bool:
        return trait in self.traits

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def count_params(self, attrs, input_shape: Shape) -> int | None:
        """The learned parameters; None when they depend on sizes that are names."""
        counts = [prod(shape) for suffix, shape in self.weight_shapes(attrs, input_shape).items()
                  if suffix not in self.buffers]
        return sum(counts) if all(isinstance(c, int) for c in counts) else None


def _registry() -> dict[str, OpDef]:
    from . import activation, batchnorm, conv, dense, dropout, flatten, join, pool

    modules = (conv, pool, flatten, dense, batchnorm, dropout, join, activation)
    return {op.kind: op for module in modules for op in module.OPS}


OPS: dict[str, OpDef] = _registry()
