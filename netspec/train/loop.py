"""The training loop: epochs of shuffled mini-batches, each a training step (loss and
gradients from generated code) and an optimizer step, reported epoch by epoch."""
from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..backends.llvm.codegen import canonical_form
from ..backends.llvm.runtime import compile_network
from ..backends.llvm.training import compile_training
from ..check import ShapedGraph
from ..errors import TrainingError
from .checkpoint import Checkpoint
from .data import Dataset, Examples
from .optimizers import OptimizerState
from .schedules import Constant

CONSTANT = Constant()  # the learning rate the optimizer was given, every epoch


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


def run_identity(graph: ShapedGraph, dataset: Dataset, optimizer, batch: int, seed: int,
                 schedule=CONSTANT) -> dict:
    """What a checkpoint must share with a run that resumes it: the spec, the examples
    (both as digests) and the settings that shape the steps."""
    examples = hashlib.sha256()
    for array in (dataset.training.x, dataset.training.y, dataset.validation.x, dataset.validation.y):
        examples.update(np.ascontiguousarray(array).tobytes())
    return {"spec": hashlib.sha256(canonical_form(graph).encode()).hexdigest(), "examples": examples.hexdigest(),
            "optimizer": repr(optimizer), "schedule": repr(schedule), "batch": batch, "seed": seed}


def _first_non_finite(graph: ShapedGraph, loss: float, gradients) -> str | None:
    """The first layer (in the spec's order) whose gradients are NaN or infinite, else
    "the loss" when only it is, else None."""
    for layer in graph.layers:
        name = layer.node.name
        if any(not np.isfinite(array).all() for key, array in gradients.items() if key.rsplit(".", 1)[0] == name):
            return f"layer {name}"
    return None if math.isfinite(loss) else "the loss"


def train(graph: ShapedGraph, weights, dataset: Dataset, optimizer, epochs: int, batch: int,
          seed: int = 0, resume: Checkpoint | None = None,
          schedule=CONSTANT) -> Iterator[tuple[EpochReport, Checkpoint]]:
    """After each epoch, its report and the checkpoint reached (weights in PyTorch's
    layouts). From `resume`, the epochs after its own continue exactly as they would have
    without the interruption. Epoch e (from 1) trains at `schedule`'s rate after e - 1
    epochs. A NaN or infinite loss or gradient raises TrainingError."""
    run = run_identity(graph, dataset, optimizer, batch, seed, schedule)
    trainer = compile_training(graph, resume.weights if resume else weights, seed)
    state, rng = (resume.optimizer if resume else OptimizerState()), np.random.default_rng(seed)
    if resume:
        rng.bit_generator.state, trainer.random.bit_generator.state = resume.shuffle, resume.dropout
    examples = dataset.training
    for epoch in range((resume.epoch if resume else 0) + 1, epochs + 1):
        order, losses = rng.permutation(len(examples.y)), []
        stepping = dataclasses.replace(optimizer, lr=schedule.rate(optimizer.lr, epoch - 1))
        started = time.perf_counter()
        for first in range(0, len(order), batch):
            chosen = order[first:first + batch]
            loss, gradients = trainer.loss_and_gradients(examples.x[chosen], examples.y[chosen])
            broken = _first_non_finite(graph, loss, gradients)
            if broken:
                raise TrainingError(f"step {state.steps + 1} (epoch {epoch}): the loss is {loss} and {broken} has "
                                    "the first gradients that are not finite; lower the learning rate")
            trainer.weights, state = stepping.step(trainer.weights, gradients, state)
            losses.append(loss)
        seconds = time.perf_counter() - started
        report = EpochReport(epoch, float(np.mean(losses)), accuracy(graph, trainer.weights, examples),
                             accuracy(graph, trainer.weights, dataset.validation), len(order) / seconds)
        yield report, Checkpoint(epoch, run, dict(trainer.weights), state, rng.bit_generator.state,
                                 trainer.random.bit_generator.state, order)
