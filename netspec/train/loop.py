"""The training loop: epochs of shuffled mini-batches, each a training step (loss and
gradients from generated code) and an optimizer step, reported epoch by epoch."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..backends.llvm.runtime import compile_network
from ..backends.llvm.training import compile_training
from ..check import ShapedGraph
from .data import Dataset, Examples
from .optimizers import OptimizerState


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # from 1
    loss: float  # mean over the epoch's batches
    accuracy: float  # on the training examples, with the weights at the end of the epoch
    validation_accuracy: float
    images_per_second: float  # training steps only, evaluation not counted

    def line(self) -> str:
        return (f"epoch {self.epoch}: loss {self.loss:.4f}, accuracy {self.accuracy:.1%}, "
                f"validation accuracy {self.validation_accuracy:.1%}, {self.images_per_second:,.0f} images/s")


def accuracy(graph: ShapedGraph, weights, examples: Examples) -> float:
    """The share of examples whose largest output is their class (inference code)."""
    outputs = compile_network(graph, weights, threads=1)(examples.x)
    return float(np.mean(outputs.reshape(len(outputs), -1).argmax(axis=1) == examples.y))


def train(graph: ShapedGraph, weights, dataset: Dataset, optimizer, epochs: int, batch: int,
          seed: int = 0) -> Iterator[tuple[EpochReport, dict[str, np.ndarray]]]:
    """After each epoch, its report and the weights reached (PyTorch's layouts)."""
    trainer = compile_training(graph, weights, seed)
    state, rng = OptimizerState(), np.random.default_rng(seed)
    examples = dataset.training
    for epoch in range(1, epochs + 1):
        order, losses = rng.permutation(len(examples.y)), []
        started = time.perf_counter()
        for first in range(0, len(order), batch):
            chosen = order[first:first + batch]
            loss, gradients = trainer.loss_and_gradients(examples.x[chosen], examples.y[chosen])
            trainer.weights, state = optimizer.step(trainer.weights, gradients, state)
            losses.append(loss)
        seconds = time.perf_counter() - started
        report = EpochReport(epoch, float(np.mean(losses)), accuracy(graph, trainer.weights, examples),
                             accuracy(graph, trainer.weights, dataset.validation), len(order) / seconds)
        yield report, dict(trainer.weights)
