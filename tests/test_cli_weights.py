"""`netspec weights convert`, and `run` and `export` with weight files whose keys are
PyTorch's: the binding table, --map, and the usage errors."""
import numpy as np
import pytest

import netspec

torch = pytest.importorskip("torch")

from d2l_models import lenet5  # noqa: E402  (needs torch)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    torch.save(lenet5().state_dict(), tmp_path / "lenet5.pt")
    return str(tmp_path / "lenet5.pt")


def test_run_shows_the_binding_on_stderr_and_uses_it(cli, tmp_path, checkpoint):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32))
    result = cli("run", "examples/lenet5.net", "--weights", checkpoint, "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy"))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[:3] == [
        f"bound 10 tensors of {checkpoint} to lenet5's weights by order and shape:",
        "  file key   netspec key    shape",
        "  0.weight   conv1.weight   6x1x5x5",
    ]
    assert "bound" not in result.stdout and "untrained" not in result.stdout
    expected = netspec.load("examples/lenet5.net").compile(weights=checkpoint)(np.load(tmp_path / "x.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_weights_convert_writes_netspec_keys_that_run_takes_as_they_are(cli, tmp_path, checkpoint):
    result = cli("weights", "convert", checkpoint, "-o", str(tmp_path / "lenet5.npz"), "--spec", "examples/lenet5.net")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"wrote {tmp_path / 'lenet5.npz'} (10 arrays under netspec's keys)"
    assert "  11.bias    dense3.bias    10" in result.stdout
    with np.load(tmp_path / "lenet5.npz") as archive:
        assert archive.files[:3] == ["conv1.weight", "conv1.bias", "conv2.weight"]
        np.testing.assert_array_equal(archive["dense3.bias"], torch.load(checkpoint)["11.bias"].numpy())
    run = cli("run", "examples/lenet5.net", "--weights", str(tmp_path / "lenet5.npz"))
    assert run.exit_code == 0 and "bound" not in run.stderr


def test_run_and_convert_take_a_map(cli, tmp_path, checkpoint):
    (tmp_path / "keys.map").write_text("11.bias dense3.bias\n11.weight dense3.weight\n")
    result = cli("weights", "convert", checkpoint, "-o", str(tmp_path / "w.npz"), "--spec", "examples/lenet5.net",
                 "--map", str(tmp_path / "keys.map"))
    assert result.exit_code == 0, result.output
    assert "by the map, the rest by order and shape" in result.stdout
    (tmp_path / "wrong.map").write_text("11.bias dense4.bias\n")
    result = cli("run", "examples/lenet5.net", "--map", str(tmp_path / "wrong.map"), "--weights", checkpoint)
    assert result.exit_code == 1
    assert result.stderr == (f"error: map file {tmp_path / 'wrong.map'}, line 1: dense4.bias is not a weight of lenet5 "
                             "(did you mean dense3.bias?)\n")


def test_export_binds_a_checkpoint(cli, tmp_path, checkpoint):
    pytest.importorskip("onnx")
    result = cli("export", "examples/lenet5.net", "-o", str(tmp_path / "l.onnx"), "--weights", checkpoint)
    assert result.exit_code == 0, result.output
    assert "by order and shape" in result.stderr and "untrained" not in result.stdout


def test_a_binding_that_fails_exits_1_with_the_message(cli, tmp_path):
    torch.save({"0.weight": torch.zeros(6, 1, 3, 3)}, tmp_path / "small.pt")
    result = cli("run", "examples/lenet5.net", "--weights", str(tmp_path / "small.pt"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: weights from {tmp_path / 'small.pt'}: the keys are not lenet5's")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "examples/lenet5.net", "--map", "m.txt"], "--map binds the keys of a --weights file; give --weights too"),
    (["export", "examples/lenet5.net", "-o", "l.py", "--weights", "w.pt"], "--weights, --map and --seed are for ONNX"),
    (["weights", "convert", "w.pt", "-o", "w.bin", "--spec", "examples/lenet5.net"], "'w.bin' must end in .npz"),
    (["weights", "convert", "w.pt", "-o", "w.npz"], "Missing option '--spec'"),
])
def test_usage_errors(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr
