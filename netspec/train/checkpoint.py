"""Checkpoints: everything training needs to continue exactly where an epoch ended,
written atomically as an .npz of arrays with a JSON header (no pickled objects)."""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .optimizers import OptimizerState

FORMAT = "netspec checkpoint 1"


@dataclass(frozen=True)
class Checkpoint:
    """The state after `epoch` epochs. `run` identifies what was trained: the spec's
    digest, the examples' digest and the settings; resuming under another `run` would
    not continue the same training, so it is refused."""

    epoch: int
    run: dict  # JSON values only
    weights: dict[str, np.ndarray]
    optimizer: OptimizerState
    shuffle: dict  # the state of the generator the epochs' orders come from (numpy's bit_generator.state)
    dropout: dict  # the same for the dropout masks
    order: np.ndarray  # the last epoch's order of the training examples


def save_checkpoint(path: str, checkpoint: Checkpoint) -> None:
    """Write to a temporary file beside `path`, then rename it: a crash or Ctrl-C while
    writing leaves the previous checkpoint whole."""
    header = {"format": FORMAT, "epoch": checkpoint.epoch, "run": checkpoint.run, "steps": checkpoint.optimizer.steps,
              "shuffle": checkpoint.shuffle, "dropout": checkpoint.dropout,
              "buffers": {key: len(buffers) for key, buffers in checkpoint.optimizer.buffers.items()}}
    arrays = {f"weight/{key}": array for key, array in checkpoint.weights.items()}
    for key, buffers in checkpoint.optimizer.buffers.items():
        arrays.update({f"optimizer/{key}/{index}": buffer for index, buffer in enumerate(buffers)})
    directory = os.path.dirname(os.path.abspath(path))
    try:
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as handle:
            np.savez(handle, header=np.array(json.dumps(header)), order=checkpoint.order, **arrays)
        os.replace(handle.name, path)
    except OSError as exc:
        raise DataError(f"cannot write the checkpoint {path}: {exc.strerror or exc}") from None


def load_checkpoint(path: str) -> Checkpoint:
    """The checkpoint in `path`; a DataError naming the file if it is missing or damaged."""
    if not os.path.exists(path):
        raise DataError(f"{path}: no checkpoint to resume from (train without --resume to start one)")
    try:
        if not zipfile.is_zipfile(path):
            raise ValueError("not an .npz archive")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        header = json.loads(str(arrays.pop("header")))
        if header.get("format") != FORMAT:
            raise ValueError(f"its format is {header.get('format')!r}, not {FORMAT!r}")
        weights = {name.split("/", 1)[1]: array for name, array in arrays.items() if name.startswith("weight/")}
        buffers = {key: tuple(arrays[f"optimizer/{key}/{index}"] for index in range(count))
                   for key, count in header["buffers"].items()}
        return Checkpoint(header["epoch"], header["run"], weights, OptimizerState(header["steps"], buffers),
                          header["shuffle"], header["dropout"], arrays["order"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not a readable netspec checkpoint ({exc})") from None


def refuse_other_run(path: str, checkpoint: Checkpoint, run: dict) -> None:
    """A DataError naming what differs when `checkpoint` was written by another training run."""
    differing = [key for key in sorted(set(run) | set(checkpoint.run)) if run.get(key) != checkpoint.run.get(key)]
    if differing:
        shown = "; ".join(f"{key} was {checkpoint.run.get(key)!r}, now {run.get(key)!r}" for key in differing)
        raise DataError(f"{path} was written by another training run ({shown}); resume with the same spec, "
                        "data and settings, or train without --resume")
