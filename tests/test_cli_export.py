"""`netspec export` from the command line, including every error path."""
import sys

import numpy as np
import pytest


def test_onnx_export_without_weights_says_they_are_untrained(cli, tmp_path):
    onnx = pytest.importorskip("onnx")
    result = cli("export", "examples/lenet5.net", "-o", str(tmp_path / "lenet5.onnx"))
    assert result.exit_code == 0, result.output
    assert "note: untrained weights (initialised from seed 0); the outputs are not predictions" in result.stdout
    assert "wrote" in result.stdout and "ONNX opset 28, 12 nodes, 10 initializers" in result.stdout
    model = onnx.load(str(tmp_path / "lenet5.onnx"))
    assert [node.name for node in model.graph.node][:2] == ["conv1", "sigmoid1"]


def test_onnx_export_with_weights_holds_them(cli, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    assert cli("init", "examples/lenet5.net", "-o", str(tmp_path / "w.npz"), "--seed", "4").exit_code == 0
    result = cli("export", "examples/lenet5.net", "-o", str(tmp_path / "lenet5.onnx"), "--weights", str(tmp_path / "w.npz"))
    assert result.exit_code == 0, result.output
    assert "untrained" not in result.stdout
    stored = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "lenet5.onnx")).graph.initializer}
    with np.load(tmp_path / "w.npz") as archive:
        for key in archive.files:
            np.testing.assert_array_equal(stored[key], archive[key])


def test_a_py_output_gets_pytorch_source(cli, tmp_path):
    result = cli("export", "examples/resnet18.net", "-o", str(tmp_path / "resnet18.py"))
    assert result.exit_code == 0, result.output
    assert "the nn.Module for resnet18" in result.stdout
    source = (tmp_path / "resnet18.py").read_text()
    assert "class Resnet18(nn.Module):" in source
    compile(source, "resnet18.py", "exec")
    explicit = cli("export", "examples/resnet18.net", "--to", "pytorch", "-o", str(tmp_path / "module.txt"))
    assert explicit.exit_code == 0 and (tmp_path / "module.txt").read_text() == source


def test_without_onnx_the_command_says_what_to_install(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "netspec.interop.onnx_export", raising=False)
    result = cli("export", "examples/lenet5.net", "-o", str(tmp_path / "lenet5.onnx"))
    assert result.exit_code == 1
    assert "exporting to ONNX needs the onnx package: pip install 'netspec[onnx]'" in result.stderr
    assert not (tmp_path / "lenet5.onnx").exists()


def test_weights_for_pytorch_source_are_a_usage_error(cli, tmp_path):
    result = cli("export", "examples/lenet5.net", "--to", "pytorch", "-o", str(tmp_path / "l.py"), "--seed", "3")
    assert result.exit_code == 2
    assert "load_state_dict" in result.stderr


def test_weights_that_do_not_fit_name_the_spec_and_the_problem(cli, tmp_path):
    pytest.importorskip("onnx")
    np.savez(tmp_path / "w.npz", **{"conv1.weight": np.zeros((6, 1, 5, 5), np.float32), "stray": np.zeros(3, np.float32)})
    result = cli("export", "examples/lenet5.net", "-o", str(tmp_path / "l.onnx"), "--weights", str(tmp_path / "w.npz"))
    assert result.exit_code == 1
    assert "error: cannot export examples/lenet5.net: weights from" in result.stderr
    assert "conv1.bias: missing" in result.stderr and "stray: not a weight of this network" in result.stderr


def test_unwritable_output_is_reported(cli, tmp_path):
    pytest.importorskip("onnx")
    for output in (tmp_path / "missing" / "l.onnx", tmp_path / "missing" / "l.py"):
        result = cli("export", "examples/lenet5.net", "-o", str(output))
        assert result.exit_code == 1
        assert f"cannot write {output}" in result.stderr


def test_invalid_spec_shows_its_diagnostics(cli, tmp_path):
    spec = tmp_path / "bad.net"
    spec.write_text("network bad\ninput 1x3x3\nconv 1 kernel=5\n")
    result = cli("export", str(spec), "-o", str(tmp_path / "bad.py"))
    assert result.exit_code == 1
    assert "kernel 5 is larger than the padded input" in result.stderr
    assert not (tmp_path / "bad.py").exists()


def test_a_layer_name_pytorch_cannot_use_names_the_spec_and_layer(cli, tmp_path):
    spec = tmp_path / "clash.net"
    spec.write_text("network clash\ninput 4\ntrain: dense 2\n")
    result = cli("export", str(spec), "-o", str(tmp_path / "clash.py"))
    assert result.exit_code == 1
    assert f"cannot export {spec}: `train` cannot be a PyTorch submodule" in result.stderr
