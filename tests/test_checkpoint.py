"""Checkpoints: written atomically, read back whole, damaged or foreign files refused by name."""
import json

import numpy as np
import pytest

from netspec.errors import DataError
from netspec.train.checkpoint import Checkpoint, load_checkpoint, refuse_other_run, save_checkpoint
from netspec.train.optimizers import OptimizerState


def _checkpoint() -> Checkpoint:
    rng = np.random.default_rng(3)
    weights = {"conv1.weight": rng.standard_normal((2, 1, 3, 3)).astype(np.float32),
               "conv1.bias": np.zeros(2, np.float32)}
    buffers = {key: (array * 0.5, array * array) for key, array in weights.items()}
    return Checkpoint(2, {"spec": "abc", "batch": 8}, weights, OptimizerState(6, buffers),
                      rng.bit_generator.state, np.random.default_rng(4).bit_generator.state, rng.permutation(5))


def test_a_checkpoint_reads_back_as_written_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(str(path), _checkpoint())
    read, written = load_checkpoint(str(path)), _checkpoint()
    assert (read.epoch, read.run, read.optimizer.steps) == (2, {"spec": "abc", "batch": 8}, 6)
    assert all(np.array_equal(read.weights[key], written.weights[key]) for key in written.weights)
    assert all(np.array_equal(a, b) for key in written.weights
               for a, b in zip(read.optimizer.buffers[key], written.optimizer.buffers[key], strict=True))
    assert read.shuffle == written.shuffle and read.dropout == written.dropout
    assert np.array_equal(read.order, written.order)
    assert [entry.name for entry in tmp_path.iterdir()] == ["c.npz"]


def test_a_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, header=np.array(json.dumps({"format": "something else"})))
    with pytest.raises(DataError, match="c.npz is not a readable netspec checkpoint \\(its format is"):
        load_checkpoint(str(path))


def test_weights_alone_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, **{"conv1.weight": np.zeros(3)})
    with pytest.raises(DataError, match="w.npz is not a readable netspec checkpoint"):
        load_checkpoint(str(path))


def test_another_run_is_named_by_what_differs():
    with pytest.raises(DataError, match="batch was 8, now 16; spec was 'abc', now 'xyz'"):
        refuse_other_run("c.npz", _checkpoint(), {"spec": "xyz", "batch": 16})
