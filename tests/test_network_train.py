"""`Network.train`: the Python face of `netspec train`, returning a History whose
weights compile and give the accuracies it reports."""
import dataclasses

import numpy as np
import pytest

import netspec
from netspec.errors import DataError

SMALL = "network small\ninput 1x8x8\nconv 4 kernel=3\nrelu\nflatten\ndense 3\n"


def _separable(count: int, seed: int):
    """Examples of three classes a small network can tell apart: the class is which
    third of the image is bright."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, count)
    x = rng.random((count, 1, 8, 8), dtype=np.float32) * 0.3
    for index, label in enumerate(y):
        x[index, 0, :, 3 * label:3 * label + 2] += 1
    return x, y


def test_the_history_weights_compile_and_give_the_accuracies_reported():
    net = netspec.loads(SMALL)
    training, validation = _separable(48, 0), _separable(24, 1)
    history = net.train(training, epochs=5, batch=8, lr=0.01, validation=validation, progress=False)
    assert [report.epoch for report in history.epochs] == [1, 2, 3, 4, 5]
    model = net.compile(weights=history.weights, threads=1)
    for (x, y), reported in ((training, history.epochs[-1].accuracy),
                             (validation, history.epochs[-1].validation_accuracy)):
        assert np.mean(model(x).argmax(axis=1) == y) == reported
    assert history.epochs[-1].validation_accuracy == 1.0
    assert history.epochs[-1].loss < history.epochs[0].loss
    with pytest.raises(dataclasses.FrozenInstanceError):
        history.weights = {}


def test_training_from_python_repeats_the_command_line(cli, tmp_path):
    x, y = _separable(20, 0)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    (tmp_path / "small.net").write_text(SMALL)
    options = ["--epochs", "2", "--batch", "4", "--optimizer", "sgd", "--momentum", "0.9", "--seed", "3"]
    assert cli("train", str(tmp_path / "small.net"), "--data", str(tmp_path / "d.npz"), "-o",
               str(tmp_path / "w.npz"), *options).exit_code == 0
    history = netspec.loads(SMALL).train(str(tmp_path / "d.npz"), epochs=2, batch=4, optimizer="sgd", momentum=0.9,
                                         seed=3, progress=False)
    with np.load(tmp_path / "w.npz") as written:
        assert all(np.array_equal(written[key], history.weights[key]) for key in written.files)
    assert history.classes == ()


@pytest.mark.parametrize("settings, message", [
    (dict(optimizer="rmsprop"), "the optimizer must be one of adam, adamw, sgd, not 'rmsprop'"),
    (dict(momentum=0.9), "momentum is SGD's; adam keeps moment estimates of its own"),
    (dict(loss="hinge"), "the loss must be cross-entropy or mse, not 'hinge'"),
    (dict(schedule="linear"), "the schedule must be one of constant, step, cosine, not 'linear'"),
    (dict(epochs=0), "epochs and batch must be at least 1, not 0 and 16"),
])
def test_settings_that_do_not_exist_are_refused(settings, message):
    with pytest.raises(DataError, match=message):
        netspec.loads(SMALL).train(_separable(8, 0), progress=False, **settings)
