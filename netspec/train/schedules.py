"""Learning-rate schedules: the learning rate of each epoch, keyed by name.

The formulas are PyTorch's (`torch.optim.lr_scheduler`, stepped once per epoch), in
their closed forms, so epoch e trains at the rate PyTorch's scheduler gives after e steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import DataError


@dataclass(frozen=True)
class Constant:
    def rate(self, lr: float, epoch: int) -> float:
        return lr


@dataclass(frozen=True)
class Step:
    """StepLR: the rate times `gamma` every `step_size` epochs."""

    step_size: int = 10
    gamma: float = 0.1

    def rate(self, lr: float, epoch: int) -> float:
        return lr * self.gamma ** (epoch // self.step_size)


@dataclass(frozen=True)
class Cosine:
    """CosineAnnealingLR: from lr down to `eta_min` along half a cosine over `t_max` epochs."""

    t_max: int
    eta_min: float = 0.0

    def rate(self, lr: float, epoch: int) -> float:
        return self.eta_min + (lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.t_max)) / 2


SCHEDULES = ("constant", "step", "cosine")


def choose_schedule(name: str, epochs: int, step_size: int = 10, gamma: float = 0.1):
    """The schedule called `name`; the cosine one anneals over all `epochs`. A
    DataError for another name."""
    if name not in SCHEDULES:
        raise DataError(f"the schedule must be one of {', '.join(SCHEDULES)}, not {name!r}")
    return {"constant": Constant(), "step": Step(step_size, gamma), "cosine": Cosine(epochs)}[name]
