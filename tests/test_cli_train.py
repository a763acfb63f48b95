"""`netspec train`: a line (or JSON object) per epoch, the weights written, refusals."""
import json
import re

import numpy as np
import pytest

import netspec

SMALL = "network small\ninput 1x8x8\nconv 4 kernel=3\nrelu\nflatten\ndense 10\n"


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "small.net"
    path.write_text(SMALL)
    return str(path)


def test_training_on_the_digits_prints_each_epoch_and_writes_weights_run_can_read(cli, spec, tmp_path):
    pytest.importorskip("sklearn")
    weights = str(tmp_path / "w.npz")
    result = cli("train", spec, "--data", "digits", "-o", weights, "--epochs", "2", "--optimizer", "sgd",
                 "--lr", "0.1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    pattern = r"epoch \d: loss \d+\.\d{4}, accuracy \d+\.\d%, validation accuracy \d+\.\d%, [\d,]+ images/s"
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    trained = dict(np.load(weights))
    assert sorted(trained) == ["conv1.bias", "conv1.weight", "dense1.bias", "dense1.weight"]
    netspec.load(spec).compile(weights)  # the weights bind to the network


def test_json_gives_one_object_per_epoch(cli, spec, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((20, 1, 8, 8), dtype=np.float32), y=rng.integers(0, 10, 20))
    result = cli("train", spec, "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "w.npz"), "--json",
                 "--epochs", "3", "--optimizer", "adamw")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [record["epoch"] for record in records] == [1, 2, 3]
    assert set(records[0]) == {"epoch", "loss", "accuracy", "validation_accuracy", "images_per_second"}


def test_a_kind_without_a_backward_kernel_is_refused(cli, tmp_path):
    path = tmp_path / "bn.net"
    path.write_text("network bn\ninput 1x8x8\nconv 4 kernel=3\nbatchnorm\nflatten\ndense 10\n")
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 1, 8, 8), np.float32), y=np.zeros(4, int))
    result = cli("train", str(path), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "w.npz"))
    assert result.exit_code == 1
    assert "netspec cannot train `batchnorm` layers yet" in result.stderr
