"""Conv register tiles chosen per host (every candidate against the reference executor is in
test_conv_schedules.py):
tuned builds against fixed ones, and the stored choices' file."""
import json

import numpy as np
import pytest

import netspec
from netspec.backends.llvm import jit, tuning
from netspec.backends.llvm.codegen import canonical_form
from netspec.backends.llvm.kernels import conv
from netspec.backends.llvm.rewrite import rewrite_for_inference
from netspec.backends.llvm.runtime import Model, single_threaded
from netspec.weights import initial_weights
from reference import run as reference_run

# Few and many channels, strides, asymmetric kernels and padding, 1x1, no bias, a fused activation.
CONVS = [
    "input 3x9x11\nconv 5 kernel=3 padding=1\n",
    "input 4x12x12\nconv 32 kernel=3 stride=2 padding=1 bias=false\n",
    "input 2x7x30\nconv 7 kernel=2x5 stride=1x3 padding=0,1,2,1\n",
    "input 8x6x6\nconv 40 kernel=1\n",
    "input 3x17x17\nconv 24 kernel=5 stride=2 padding=2\nrelu\n",
    "input 8x3x3\nconv 48 kernel=3 padding=1\nrelu\n",  # whole vectors of channels: lanes too
]


def network(body: str):
    return netspec.loads(f"network t\n{body}")


def inputs(graph, count: int = 3):
    return np.random.default_rng(1).normal(size=(count, *graph.input_shape)).astype(np.float32)


def test_candidates_stay_within_the_accumulator_budget_and_include_the_fixed_tile():
    width = jit.host_vector_width()
    for body in CONVS:
        layer = network(body).graph.layers[0]
        candidates = conv.candidate_tiles(layer, width)
        assert conv.fixed_tile(layer, width) in candidates and len(candidates) >= 2
        for schedule, first, vectors in candidates:
            assert schedule in ("rows", "lanes") and first >= 1 and vectors >= 1
            # rows: output channels per tile; lanes: positions per tile, vectors of output channels
            assert first <= (layer.output_shape[0] if schedule == "rows" else layer.output_shape[1] * layer.output_shape[2])
            if schedule == "lanes":
                assert layer.output_shape[0] % width == 0 and vectors * width <= layer.output_shape[0]
            assert first * vectors <= (24 if width >= 16 else 12)


def test_a_tile_that_does_not_fit_is_refused():
    width = jit.host_vector_width()
    graph = network(CONVS[0]).graph
    layer = graph.layers[0]
    for tile in [("rows", 0, 1), ("rows", 1, 0), ("rows", 6, 1), ("rows", 1, 99), ("rows", 12, 12),
                 ("rows", True, 1), (1, 1), ("other", 1, 1), ("lanes", 1, 1)]:  # 5 channels: not whole vectors
        assert not conv.valid_tile(layer, width, tile)
        with pytest.raises(ValueError, match="does not fit"):
            Model(graph, threads=1, tiles={layer.node.name: tile})


def slowest_first(layer, width, compile_model):
    """Timings that make the last candidate (never the fixed rule's tile) the fastest."""
    candidates = conv.candidate_tiles(layer, width)
    tiles = [t for t in candidates if t != conv.fixed_tile(layer, width)] + [conv.fixed_tile(layer, width)]
    return {tile: 1.0 if tile == conv.fixed_tile(layer, width) else 0.5 - 0.1 * i
            for i, tile in enumerate(tiles)}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path))
    return tmp_path


NETWORK = """network tuned
input 3x16x16
conv 12 kernel=3 padding=1
batchnorm
relu
conv 20 kernel=3 stride=2
relu
conv 12 kernel=3 padding=1
flatten
dense 4
"""


def test_a_tuned_build_computes_what_the_fixed_build_does(cache, monkeypatch):
    monkeypatch.setattr(tuning, "time_tiles", slowest_first)
    net = netspec.loads(NETWORK)
    weights = initial_weights(net.graph, seed=5)
    weights = {**weights, "batchnorm1.running_var": np.full(12, 0.5, np.float32)}
    x = inputs(net.graph, 4)
    fixed, tuned = net.compile(weights, threads=1), net.compile(weights, threads=1, tuned=True)
    code_graph = rewrite_for_inference(net.graph).graph
    width = jit.host_vector_width()
    chosen = tuning.tuned_tiles(code_graph, single_threaded)
    assert set(chosen) == {"conv1", "conv2", "conv3"}
    assert all(tile != conv.fixed_tile(layer, width)
               for layer in tuning.tuned_layers(code_graph) for tile in [chosen[layer.node.name]])
    np.testing.assert_allclose(tuned(x), fixed(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tuned(x), reference_run(net.graph, weights, x), rtol=1e-4, atol=1e-4)


def test_the_canonical_form_includes_the_chosen_tiles():
    graph = network(CONVS[1]).graph
    fixed = canonical_form(graph)
    assert canonical_form(graph, tiles={"conv1": ("rows", 2, 1)}) != fixed
    assert canonical_form(graph, tiles={"conv1": ("rows", 2, 1)}) != canonical_form(graph, tiles={"conv1": ("rows", 1, 2)})
    assert canonical_form(graph, tiles={"conv1": ("rows", 2, 1)}) != canonical_form(graph, tiles={"conv1": ("lanes", 2, 1)})
    assert canonical_form(graph, tiles={}) == fixed


def test_choices_are_stored_and_reused_without_timing_again(cache, monkeypatch):
    monkeypatch.setattr(tuning, "time_tiles", slowest_first)
    graph = rewrite_for_inference(netspec.loads(NETWORK).graph).graph
    first = tuning.tune(graph, single_threaded)
    stored = json.loads((cache / tuning.FILE_NAME).read_text())
    assert len(stored["hosts"][jit._host_key()]) == 3  # one per distinct layer shape

    def fail(layer, width, compile_model):
        raise AssertionError("timed a layer shape that was stored")

    monkeypatch.setattr(tuning, "time_tiles", fail)
    assert tuning.tune(graph, single_threaded) == first
    assert set(tuning.load_choices().values()) == set(first.values())


def test_the_choices_file_round_trips_and_keeps_other_hosts(cache):
    (cache / tuning.FILE_NAME).write_text(json.dumps(
        {"format": tuning.FORMAT, "hosts": {"another cpu": {"x": {"tile": ["rows", 1, 1], "seconds": 1, "fixed_seconds": 2}}}}))
    choices = {"a": tuning.Choice(("rows", 4, 6), 1.5e-6, 2e-6), "b": tuning.Choice(("lanes", 24, 1), 3e-3, 3e-3)}
    tuning.store_choices(choices)
    assert tuning.load_choices() == choices
    assert "another cpu" in json.loads((cache / tuning.FILE_NAME).read_text())["hosts"]
    assert [p.name for p in cache.iterdir()] == [tuning.FILE_NAME]  # no temporary file left


@pytest.mark.parametrize("content", [
    b"\x00\xffnot json", b"[1, 2]", b'{"format": 99, "hosts": {}}', b'{"format": 1, "hosts": []}', b"",
])
def test_a_corrupt_or_foreign_choices_file_is_ignored(cache, monkeypatch, content):
    (cache / tuning.FILE_NAME).write_bytes(content)
    assert tuning.load_choices() == {}
    monkeypatch.setattr(tuning, "time_tiles", slowest_first)
    net = network(CONVS[0])
    x = inputs(net.graph)
    np.testing.assert_allclose(net.compile(threads=1, tuned=True)(x), net.compile(threads=1)(x), rtol=1e-5, atol=1e-5)
    assert len(tuning.load_choices()) == 1  # tuned again and written over


def test_stored_entries_that_are_not_choices_or_do_not_fit_are_tuned_again(cache, monkeypatch):
    graph = network(CONVS[0]).graph
    key = tuning.signature(graph.layers[0], jit.host_vector_width())
    entries = {key: {"tile": ["rows", 99, 99], "seconds": 1, "fixed_seconds": 1}, "other": {"tile": "4x6"},
               "third": {"tile": [4, 6], "seconds": 1, "fixed_seconds": 1},
               "fourth": {"tile": [7, 4, 6], "seconds": 1, "fixed_seconds": 1}}
    (cache / tuning.FILE_NAME).write_text(json.dumps({"format": tuning.FORMAT, "hosts": {jit._host_key(): entries}}))
    assert set(tuning.load_choices()) == {key}
    monkeypatch.setattr(tuning, "time_tiles", slowest_first)
    tile = tuning.tuned_tiles(graph, single_threaded)["conv1"]
    assert conv.valid_tile(graph.layers[0], jit.host_vector_width(), tile)


def test_tuning_times_each_candidate_and_keeps_the_fixed_tile_unless_clearly_faster(cache, monkeypatch):
    monkeypatch.setattr(tuning, "SECONDS_PER_REPEAT", 0.001)
    layer = network(CONVS[0]).graph.layers[0]
    width = jit.host_vector_width()
    times = tuning.time_tiles(layer, width, single_threaded)
    assert set(times) == set(conv.candidate_tiles(layer, width)) and all(t > 0 for t in times.values())
    fixed = conv.fixed_tile(layer, width)
    close = {tile: 1.0 if tile == fixed else 0.99 for tile in times}
    monkeypatch.setattr(tuning, "time_tiles", lambda layer, width, compile_model: close)
    assert tuning.choose(layer, width, single_threaded) == tuning.Choice(fixed, 1.0, 1.0)


def test_the_tune_command_shows_each_conv_layer_and_run_tuned_uses_the_choices(cache, monkeypatch, cli, tmp_path):
    monkeypatch.setattr(tuning, "time_tiles", slowest_first)
    spec = tmp_path / "tuned.net"
    spec.write_text(NETWORK)
    shown = cli("tune", str(spec))
    assert shown.exit_code == 0, shown.output
    rows = {line.split()[0]: line.split() for line in shown.output.splitlines() if line.startswith("conv")}
    assert set(rows) == {"conv1", "conv2", "conv3"}
    stored = tuning.load_choices()
    assert {row[3] for row in rows.values()} == {conv.describe_tile(c.tile) for c in stored.values()}
    for name, extra in (("fixed", ()), ("tuned", ("--tuned",))):
        result = cli("run", str(spec), "--threads", "1", "--batch", "3", "--output", str(tmp_path / f"{name}.npy"), *extra)
        assert result.exit_code == 0, result.output
    fixed, tuned = np.load(tmp_path / "fixed.npy"), np.load(tmp_path / "tuned.npy")
    assert fixed.shape == (3, 4)
    np.testing.assert_allclose(tuned, fixed, rtol=1e-5, atol=1e-5)


def test_the_tune_command_reports_a_missing_file_without_a_traceback(cli, cache):
    result = cli("tune", str(cache / "missing.net"))
    assert result.exit_code == 1 and "cannot read" in result.output and "Traceback" not in result.output
