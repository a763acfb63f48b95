"""`netspec run --verify`: every layer of netspec's compiled code against ONNX Runtime,
stopping at the first that diverges; a wrong ONNX emitter is caught at its own layer."""
import json
import sys

import numpy as np
import pytest

import netspec
from specs import EVERY_KIND, random_weights

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from netspec.interop import onnx_export  # noqa: E402  (needs onnx)
from netspec.verify import verify  # noqa: E402

# Padded average pooling: whether padded zeros count is a classic porting mistake.
POOLED = """network pooled
input 2x8x8
conv 3 kernel=3 padding=1
relu
avgpool kernel=3 stride=2 padding=1
flatten
dense 4
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def wrong_average_pooling(monkeypatch):
    """An exporter that leaves padded zeros out of the average, where netspec counts them."""
    monkeypatch.setitem(onnx_export.EXPORTERS, "avgpool", onnx_export._pool("AveragePool", count_include_pad=0))


def batch_for(network, examples=3):
    return np.random.default_rng(0).random((examples, *network.input_shape), dtype=np.float32)


def test_a_correct_network_agrees_at_every_layer():
    network = netspec.load("examples/lenet5.net")
    verification = verify(network.graph, batch_for(network, 2), seed=4)
    assert verification.diverged is None
    assert [c.layer for c in verification.compared] == [layer.node.name for layer in network.graph.layers]
    assert max(c.relative for c in verification.compared) < 1e-5


def test_every_kind_agrees_through_branches_joins_and_folded_batchnorm():
    network = netspec.loads(EVERY_KIND, "every_kind.net")
    weights = random_weights(network.graph, np.random.default_rng(1))
    verification = verify(network.graph, batch_for(network), weights)
    assert verification.diverged is None
    assert len(verification.compared) == verification.layer_count == len(network.graph.layers)


def test_a_wrong_layer_is_caught_at_that_layer_with_its_line(wrong_average_pooling):
    network = netspec.loads(POOLED, "pooled.net")
    verification = verify(network.graph, batch_for(network))
    assert [c.layer for c in verification.compared] == ["conv1", "relu1", "avgpool1"]
    diverged = verification.diverged
    assert (diverged.layer, diverged.path, diverged.line) == ("avgpool1", "pooled.net", 5)
    assert diverged.relative > 0.1


def test_the_tolerance_decides(wrong_average_pooling):
    network = netspec.loads(POOLED, "pooled.net")
    assert verify(network.graph, batch_for(network), tolerance=10.0).diverged is None


def test_cli_verify_prints_every_layer_and_exits_0(cli):
    result = cli("run", "examples/lenet5.net", "--verify")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    table = lines[lines.index("layer     line  max |diff|  relative"):]
    assert [row.split()[:2] for row in table[1:-1]] == [
        ["conv1", "7"], ["sigmoid1", "8"], ["avgpool1", "9"], ["conv2", "10"], ["sigmoid2", "11"], ["avgpool2", "12"],
        ["flatten1", "13"], ["dense1", "14"], ["sigmoid3", "15"], ["dense2", "16"], ["sigmoid4", "17"], ["dense3", "18"]]
    assert table[-1] == "all 12 layers agree with ONNX Runtime within 0.0001"


def test_cli_verify_stops_at_the_diverging_layer_and_exits_1(cli, tmp_path, wrong_average_pooling):
    (tmp_path / "pooled.net").write_text(POOLED)
    result = cli("run", str(tmp_path / "pooled.net"), "--verify", "--batch", "2")
    assert result.exit_code == 1
    rows = result.stdout.splitlines()[-3:]
    assert [row.split()[0] for row in rows] == ["conv1", "relu1", "avgpool1"]
    assert rows[-1].endswith("  <- diverges")
    assert result.stderr.startswith(f"error: layer avgpool1 ({tmp_path / 'pooled.net'}, line 5) diverges from ONNX "
                                    "Runtime: its outputs differ by up to ")
    assert result.stderr.rstrip().endswith("(tolerance 0.0001); the 2 layers before it agree")


def test_cli_verify_as_json(cli, tmp_path, wrong_average_pooling):
    (tmp_path / "pooled.net").write_text(POOLED)
    result = cli("run", str(tmp_path / "pooled.net"), "--verify", "--tolerance", "1e-3", "--json")
    assert result.exit_code == 1
    record = json.loads(result.stdout)["verify"]
    assert record["tolerance"] == 1e-3 and record["diverged"] == "avgpool1"
    assert [(c["layer"], c["line"]) for c in record["layers"]] == [("conv1", 3), ("relu1", 4), ("avgpool1", 5)]
    assert record["layers"][0]["max_abs_diff"] < 1e-5 < record["layers"][-1]["relative"]


def test_tolerance_without_verify_is_a_usage_error(cli):
    result = cli("run", "examples/lenet5.net", "--tolerance", "1e-3")
    assert result.exit_code == 2 and "--tolerance is the tolerance of --verify" in result.stderr


def test_without_onnxruntime_verify_says_what_to_install(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.delitem(sys.modules, "netspec.verify")
    result = cli("run", "examples/lenet5.net", "--verify")
    assert result.exit_code == 1
    assert result.stderr == "error: verifying against ONNX Runtime needs onnxruntime: pip install 'netspec[onnx]'\n"
