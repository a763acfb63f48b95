"""`netspec run`, `init`, `compile` and `cache` from the command line, including every error path."""
import numpy as np
import pytest

import netspec


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))


def test_run_lenet5_with_no_files(cli):
    result = cli("run", "examples/lenet5.net")
    assert result.exit_code == 0, result.output
    assert "untrained weights" in result.stdout
    assert "output: 1x10" in result.stdout
    assert "example 0: top classes" in result.stdout


def test_run_writes_the_same_output_as_the_api(cli, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 28, 28), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    assert cli("init", "examples/lenet5.net", "-o", str(tmp_path / "w.npz"), "--seed", "5").exit_code == 0
    result = cli("run", "examples/lenet5.net", "--input", str(tmp_path / "x.npy"), "--weights", str(tmp_path / "w.npz"),
                 "--output", str(tmp_path / "y.npy"))
    assert result.exit_code == 0, result.output
    assert "untrained" not in result.stdout
    expected = netspec.load("examples/lenet5.net").compile(weights=str(tmp_path / "w.npz"))(x)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_init_lists_keys_and_matches_seeded_run(cli, tmp_path):
    result = cli("init", "examples/lenet5.net", "-o", str(tmp_path / "w.npz"))
    assert "conv1.weight             6x1x5x5" in result.stdout
    with np.load(tmp_path / "w.npz") as archive:
        assert sorted(archive.files) == sorted(f"{n}.{s}" for n in ("conv1", "conv2", "dense1", "dense2", "dense3")
                                               for s in ("weight", "bias"))
        bound = 1 / np.sqrt(400)  # dense1: fan-in 400
        assert np.abs(archive["dense1.weight"]).max() <= bound
    x = np.zeros((1, 1, 28, 28), np.float32)
    seeded = netspec.load("examples/lenet5.net").compile(seed=0)(x)
    from_file = netspec.load("examples/lenet5.net").compile(weights=str(tmp_path / "w.npz"))(x)
    np.testing.assert_array_equal(seeded, from_file)


def test_single_example_and_hxw_inputs_are_accepted(cli, tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((1, 28, 28), np.float32))
    np.save(tmp_path / "hw.npy", np.zeros((28, 28), np.float64))
    assert cli("run", "examples/lenet5.net", "--input", str(tmp_path / "one.npy")).exit_code == 0
    result = cli("run", "examples/lenet5.net", "--input", str(tmp_path / "hw.npy"))
    assert result.exit_code == 0
    assert "note: input converted from float64 to float32" in result.stderr


def bad_weights(tmp_path, **changes):
    from netspec.weights import initial_weights

    arrays = initial_weights(netspec.load("examples/lenet5.net").graph)
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    np.savez(tmp_path / "bad.npz", **arrays)
    return str(tmp_path / "bad.npz")


@pytest.mark.parametrize("changes, message", [
    ({"conv1.bias": None}, "conv1.bias: missing (expected shape 6)"),
    ({"conv9.weight": np.zeros(3, np.float32)}, "conv9.weight: not a weight of this network"),
    ({"dense1.weight": np.zeros((400, 120), np.float32)}, "dense1.weight: expected shape 120x400, found 400x120"),
    ({"conv1.weight": np.zeros((6, 1, 5, 5), np.int32)}, "conv1.weight: dtype int32 (integer) is not a float array"),
    ({"conv1.weight": np.zeros((6, 1, 5, 5), np.complex64)}, "(complex) is not a float array"),
])
def test_wrong_weights_get_one_clear_error(cli, tmp_path, changes, message):
    result = cli("run", "examples/lenet5.net", "--weights", bad_weights(tmp_path, **changes))
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_weight_files(cli, tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 this is not really a zip")
    result = cli("run", "examples/lenet5.net", "--weights", str(tmp_path / "junk.npz"))
    assert result.exit_code == 1 and "not a valid .npz archive" in result.stderr
    result = cli("run", "examples/lenet5.net", "--weights", str(tmp_path / "missing.npz"))
    assert result.exit_code == 1 and "does not exist" in result.stderr
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "objects.npz", **{"conv1.weight": np.array([{"a": 1}], dtype=object)})
    result = cli("run", "examples/lenet5.net", "--weights", str(tmp_path / "objects.npz"))
    assert result.exit_code == 1 and "pickled Python objects" in result.stderr


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 3, 28, 28), np.float32), "input has shape 2x3x28x28; network lenet5 expects Nx1x28x28 or 1x28x28 or 28x28"),
    (np.zeros((28, 27), np.float32), "input has shape 28x27"),
    (np.zeros((1, 1, 28, 28), np.int64), "input has dtype int64"),
    (np.zeros((0, 1, 28, 28), np.float32), "input batch is empty"),
])
def test_wrong_inputs_get_one_clear_error(cli, tmp_path, array, message):
    np.save(tmp_path / "x.npy", array)
    result = cli("run", "examples/lenet5.net", "--input", str(tmp_path / "x.npy"))
    assert result.exit_code == 1
    assert message in result.stderr


def test_unreadable_input_files(cli, tmp_path):
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY garbage")
    result = cli("run", "examples/lenet5.net", "--input", str(tmp_path / "x.npy"))
    assert result.exit_code == 1 and "input file" in result.stderr
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    result = cli("run", "examples/lenet5.net", "--input", str(tmp_path / "x.npz"))
    assert result.exit_code == 1 and "is a .npz archive" in result.stderr


def test_run_invalid_spec_exits_1_with_diagnostic(cli):
    result = cli("run", "examples/errors/kernel_too_large.net")
    assert result.exit_code == 1
    assert "kernel_too_large.net:4:15: error[E0301]:" in result.stderr


def test_run_usage_errors_exit_2(cli, tmp_path):
    assert cli("run", "examples/lenet5.net", "--batch", "0").exit_code == 2
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28), np.float32))
    assert cli("run", "examples/lenet5.net", "--batch", "2", "--input", str(tmp_path / "x.npy")).exit_code == 2


def test_unwritable_output_is_an_error(cli, tmp_path):
    result = cli("run", "examples/lenet5.net", "--output", str(tmp_path / "no" / "dir" / "y.npy"))
    assert result.exit_code == 1 and "cannot write" in result.stderr


def test_compile_emits_readable_llvm(cli):
    result = cli("compile", "examples/lenet5.net")
    assert result.exit_code == 0
    assert 'define internal void @"layer.conv1"' in result.stdout
    assert "conv1.oc" in result.stdout
    assert "x float>" in cli("compile", "examples/lenet5.net", "--optimized").stdout  # vectorized


def test_cache_command_reports_and_clears(cli, tmp_path):
    spec = tmp_path / "cached.net"
    spec.write_text("network cache_command_test\ninput 2x5x5\nconv 3 kernel=2\n")
    assert cli("run", str(spec)).exit_code == 0
    assert ": 1 entries" in cli("cache").stdout
    assert "removed 1 entries" in cli("cache", "--clear").stdout
    assert ": 0 entries" in cli("cache").stdout
