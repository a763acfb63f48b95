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
from ..backends.llvm.training import compile_training, single_value_batchnorm
from ..check import ShapedGraph
from ..errors import DataError, TrainingError
from ..progress import progress_bar
from .checkpoint import Checkpoint
from .data import LOSSES, VALIDATION_SHARE, Dataset, Examples, load_dataset, wanted
from .optimizers import OptimizerState
from .schedules import Constant

CONSTANT = Constant()  # the learning rate the optimizer was given, every epoch


@dataclass(frozen=True)
class EpochReport:
    """One epoch's figures. Accuracies need classes: with float targets they are None
    and the validation loss (mean squared error) is given instead, else it is None."""

    epoch: int  # from 1
    loss: float  # mean over the epoch's batches
    accuracy: float | None  # on the training examples, with the weights at the end of the epoch
    validation_accuracy: float | None
    validation_loss: float | None
    images_per_second: float  # training steps only, evaluation not counted
    seconds: float  # the whole epoch: training steps and evaluation

    def line(self) -> str:
        measured = (f"validation loss {self.validation_loss:.4f}" if self.accuracy is None else
                    f"accuracy {self.accuracy:.1%}, validation accuracy {self.validation_accuracy:.1%}")
        return (f"epoch {self.epoch}: loss {self.loss:.4f}, {measured}, {self.images_per_second:,.0f} images/s, "
                f"{self.seconds:.1f} s")


@dataclass(frozen=True)
class History:
    """A finished training run: each epoch's report, the trained weights (keyed as
    `compile(weights=...)` takes them) and, for an image folder, its class names
    (class i is `classes[i]`)."""

    epochs: tuple[EpochReport, ...]
    weights: dict[str, np.ndarray]
    classes: tuple[str, ...] = ()


def _outputs(model, examples: Examples) -> np.ndarray:
    return model(examples.x).reshape(len(examples.x), -1)


def accuracy(graph: ShapedGraph, weights, examples: Examples, threads: int = 1) -> float:
    """The share of examples whose largest output is their class (inference code)."""
    return _accuracy(compile_network(graph, weights, threads=threads), examples)


def _accuracy(model, examples: Examples) -> float:
    return float(np.mean(_outputs(model, examples).argmax(axis=1) == examples.y))


def _mean_squared_error(model, examples: Examples) -> float:
    """Of the outputs (inference code) and float targets, over every element, as
    torch.nn.functional.mse_loss's mean reduction."""
    return float(np.mean(np.square(_outputs(model, examples) - examples.y.reshape(len(examples.y), -1))))


def run_identity(graph: ShapedGraph, dataset: Dataset, optimizer, batch: int, seed: int,
                 schedule=CONSTANT, loss: str = LOSSES[0], threads: int = 1) -> dict:
    """What a checkpoint must share with a run that resumes it: the spec, the examples
    (both as digests) and the settings that shape the steps (the threads too: they set
    the order in which gradients are summed, so another count changes the last bits)."""
    examples = hashlib.sha256()
    for array in (dataset.training.x, dataset.training.y, dataset.validation.x, dataset.validation.y):
        examples.update(np.ascontiguousarray(array).tobytes())
    return {"spec": hashlib.sha256(canonical_form(graph).encode()).hexdigest(), "examples": examples.hexdigest(),
            "loss": loss, "optimizer": repr(optimizer), "schedule": repr(schedule), "batch": batch, "seed": seed,
            "threads": threads}


def _first_non_finite(graph: ShapedGraph, loss: float, gradients) -> str | None:
    """The first layer (in the spec's order) whose gradients are NaN or infinite, else
    "the loss" when only it is, else None."""
    for layer in graph.layers:
        name = layer.node.name
        if any(not np.isfinite(array).all() for key, array in gradients.items() if key.rsplit(".", 1)[0] == name):
            return f"layer {name}"
    return None if math.isfinite(loss) else "the loss"


def _evaluated(graph: ShapedGraph, weights, dataset: Dataset, threads: int) -> dict:
    """The report's figures of the weights: accuracies for classes, else the validation loss."""
    model = compile_network(graph, weights, threads=threads)
    if not dataset.training.labelled:
        return {"accuracy": None, "validation_accuracy": None,
                "validation_loss": _mean_squared_error(model, dataset.validation)}
    return {"accuracy": _accuracy(model, dataset.training),
            "validation_accuracy": _accuracy(model, dataset.validation), "validation_loss": None}


def batches(order: np.ndarray, batch: int, no_single: bool) -> list[np.ndarray]:
    """`order` cut into batches of `batch` examples; with `no_single`, a last batch of one
    example joins the one before (batchnorm cannot normalise over one example, and how
    many examples the validation split leaves is not the user's to foresee)."""
    cut = [order[first:first + batch] for first in range(0, len(order), batch)]
    if no_single and len(cut) > 1 and len(cut[-1]) == 1:
        cut[-2:] = [np.concatenate(cut[-2:])]
    return cut


def train(graph: ShapedGraph, weights, dataset: Dataset, optimizer, epochs: int, batch: int,
          seed: int = 0, resume: Checkpoint | None = None, schedule=CONSTANT, *, loss: str = LOSSES[0],
          threads: int = 1, progress: bool = False) -> Iterator[tuple[EpochReport, Checkpoint]]:
    """After each epoch, its report and the checkpoint reached (weights in PyTorch's
    layouts). From `resume`, the epochs after its own continue exactly as they would have
    without the interruption. Epoch e (from 1) trains at `schedule`'s rate after e - 1
    epochs, on `threads` threads; with `progress`, a bar shows each epoch's steps (on
    standard error). A NaN or infinite loss or gradient raises TrainingError."""
    run = run_identity(graph, dataset, optimizer, batch, seed, schedule, loss, threads)
    trainer = compile_training(graph, resume.weights if resume else weights, seed, threads=threads, loss=loss)
    state, rng = (resume.optimizer if resume else OptimizerState()), np.random.default_rng(seed)
    if resume:
        rng.bit_generator.state, trainer.random.bit_generator.state = resume.shuffle, resume.dropout
    examples = dataset.training
    for epoch in range((resume.epoch if resume else 0) + 1, epochs + 1):
        order, losses = rng.permutation(len(examples.y)), []
        stepping = dataclasses.replace(optimizer, lr=schedule.rate(optimizer.lr, epoch - 1))
        started = time.perf_counter()
        with progress_bar(len(order), f"epoch {epoch}", enabled=progress) as bar:
            for chosen in batches(order, batch, single_value_batchnorm(graph) is not None):
                batch_loss, gradients = trainer.loss_and_gradients(examples.x[chosen], examples.y[chosen])
                broken = _first_non_finite(graph, batch_loss, gradients)
                if broken:
                    raise TrainingError(f"step {state.steps + 1} (epoch {epoch}): the loss is {batch_loss} and "
                                        f"{broken} has the first gradients that are not finite; lower the learning rate")
                trainer.weights, state = stepping.step(trainer.weights, gradients, state)
                losses.append(batch_loss)
                bar.set_postfix_str(f"loss {batch_loss:.4f}", refresh=False)  # drawn by the update
                bar.update(len(chosen))
        stepped = time.perf_counter()
        figures = _evaluated(graph, trainer.weights, dataset, threads)
        report = EpochReport(epoch, float(np.mean(losses)), images_per_second=len(order) / (stepped - started),
                             seconds=time.perf_counter() - started, **figures)
        yield report, Checkpoint(epoch, run, dict(trainer.weights), state, rng.bit_generator.state,
                                 trainer.random.bit_generator.state, order)


def fit(graph: ShapedGraph, weights, data, optimizer, epochs: int, batch: int, seed: int = 0, schedule=CONSTANT, *,
        loss: str = LOSSES[0], validation=None, share: float = VALIDATION_SHARE, threads: int = 1,
        progress: bool = False) -> History:
    """Train on `data` (a source as `load_dataset` takes) for `epochs` and return the history."""
    if loss not in LOSSES:
        raise DataError(f"the loss must be {' or '.join(LOSSES)}, not {loss!r}")
    if epochs < 1 or batch < 1:
        raise DataError(f"epochs and batch must be at least 1, not {epochs} and {batch}")
    dataset = load_dataset(data, wanted(graph, loss), seed, share, validation)
    epochs_run = list(train(graph, weights, dataset, optimizer, epochs, batch, seed, None, schedule, loss=loss,
                            threads=threads, progress=progress))
    return History(tuple(report for report, _ in epochs_run), epochs_run[-1][1].weights, dataset.class_names)
