"""Optimizers: how a step of gradient descent changes the weights, keyed by name.

The formulas are PyTorch's (`torch.optim.SGD`, `Adam`, `AdamW`, as documented), so a
step from the same weights, gradients and optimizer state gives the same weights. A
weight without a gradient (a running statistic) is no parameter: a step leaves it as is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class OptimizerState:
    """Steps taken so far and, per weight, the optimizer's running arrays (the momentum
    buffer for SGD; the first and second moment estimates for Adam)."""

    steps: int = 0
    buffers: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class SGD:
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def step(self, weights: Arrays, gradients: Arrays, state: OptimizerState) -> tuple[Arrays, OptimizerState]:
        updated, buffers = dict(weights), {}
        for key, gradient in gradients.items():
            weight = weights[key]
            gradient = gradient + self.weight_decay * weight
            if self.momentum:
                # The first step's buffer is the gradient itself, as in PyTorch.
                buffer = gradient if key not in state.buffers else self.momentum * state.buffers[key][0] + gradient
                buffers[key] = (buffer,)
                gradient = gradient + self.momentum * buffer if self.nesterov else buffer
            updated[key] = weight - self.lr * gradient
        return updated, OptimizerState(state.steps + 1, buffers)


def _adam_step(settings, weight, gradient, moments, steps: int):
    """One Adam update of `weight` (already decayed as its variant wants); returns it and the moments."""
    beta1, beta2 = settings.betas
    first, second = moments or (np.zeros_like(weight), np.zeros_like(weight))
    first = beta1 * first + (1 - beta1) * gradient
    second = beta2 * second + (1 - beta2) * gradient * gradient
    # math.sqrt keeps the bias correction a Python float: a numpy float64 scalar would
    # turn the float32 weights into float64, where PyTorch stays in float32.
    denominator = np.sqrt(second) / math.sqrt(1 - beta2 ** steps) + settings.eps
    return weight - settings.lr / (1 - beta1 ** steps) * first / denominator, (first, second)


def _adam(settings, weights: Arrays, gradients: Arrays, state: OptimizerState, decay):
    """An Adam step over every weight with a gradient; `decay(weight, gradient)` applies the variant's weight decay."""
    steps, updated, buffers = state.steps + 1, dict(weights), {}
    for key, gradient in gradients.items():
        decayed, gradient = decay(weights[key], gradient)
        updated[key], buffers[key] = _adam_step(settings, decayed, gradient, state.buffers.get(key), steps)
    return updated, OptimizerState(steps, buffers)


@dataclass(frozen=True)
class Adam:
    """Adam with L2 weight decay: the decay is added to the gradient."""

    lr: float = 0.001
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0

    def step(self, weights: Arrays, gradients: Arrays, state: OptimizerState) -> tuple[Arrays, OptimizerState]:
        return _adam(self, weights, gradients, state, lambda w, g: (w, g + self.weight_decay * w))


@dataclass(frozen=True)
class AdamW:
    """Adam with decoupled weight decay: the weights shrink by lr * weight_decay first."""

    lr: float = 0.001
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01

    def step(self, weights: Arrays, gradients: Arrays, state: OptimizerState) -> tuple[Arrays, OptimizerState]:
        return _adam(self, weights, gradients, state, lambda w, g: (w * (1 - self.lr * self.weight_decay), g))


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def choose_optimizer(name: str, lr: float | None = None, momentum: float | None = None,
                     weight_decay: float | None = None):
    """The optimizer called `name` with the settings given (None: its default); a
    DataError for another name, or momentum for other than SGD."""
    if name not in OPTIMIZERS:
        raise DataError(f"the optimizer must be one of {', '.join(sorted(OPTIMIZERS))}, not {name!r}")
    if momentum is not None and name != "sgd":
        raise DataError(f"momentum is SGD's; {name} keeps moment estimates of its own")
    chosen = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay}
    return OPTIMIZERS[name](**{key: value for key, value in chosen.items() if value is not None})
