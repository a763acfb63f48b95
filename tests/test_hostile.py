"""Whatever arrives - broken or hostile specs, weights and inputs - netspec answers with a
message and an exit code, never a traceback, a hang or wrong numbers."""
import glob
import json
import os
import random
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netspec
from conftest import check_text, extent
from netspec.codes import CODES
from netspec.weights import initial_weights

LONG = os.environ.get("NETSPEC_FUZZ") == "long"
EXAMPLES = sorted(glob.glob("examples/**/*.net", recursive=True))


def assert_answers(text: str, path: str = "fuzz.net"):
    """check_source returns a result with diagnostics or a valid network; it must not raise.
    Every diagnostic has a registered code, and every fix lies inside the text."""
    result = check_text(text, path)
    assert result.ok or any(d.is_error for d in result.diagnostics)
    for diagnostic in result.diagnostics:
        assert diagnostic.code in CODES and diagnostic.code[0] == ("E" if diagnostic.is_error else "W")
        for fix in diagnostic.fixes:
            start, end = extent(fix)
            assert 0 <= start <= end <= len(text)
    return result


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.randrange(5)
        where = rng.randrange(len(data) + 1)
        if choice == 0 and data:
            data[min(where, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            data[where:where] = bytes([rng.randrange(256)])
        elif choice == 2:
            del data[where:where + rng.randint(1, 8)]
        elif choice == 3:
            start = rng.randrange(len(data) + 1)
            data[where:where] = data[start:start + rng.randint(1, 40)]
        else:
            data[where:where] = rng.choice([b"x", b"=", b":", b"-", b"0", b"99999999999999999999", b"\n", b",", b"#"])
    return bytes(data)


@settings(max_examples=20000 if LONG else 1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(example=st.sampled_from(EXAMPLES), seed=st.integers(0, 2**32))
def test_byte_mutations_of_the_examples_never_raise(example, seed):
    with open(example, "rb") as handle:
        data = mutate(handle.read(), random.Random(seed))
    assert_answers(data.decode("utf-8", errors="replace"))


TOKENS = ["network", "input", "conv", "dense", "maxpool", "avgpool", "flatten", "relu", "sigmoid", "tanh", "softmax",
          "kernel=", "stride=", "padding=", "bias=", "same", "valid", "true", "false", "3", "0", "-1", "1x28x28",
          "2x3", "5x5", "1,2,0,1", "99999999999999999999", "9" * 5000, "c1:", "c1", "\n", "\n", "\n", " ", "#", "=",
          ":", ",", "x", "2147483647", "2147483648", "\t", "\x00", "\ufffd", "é", "block", "b(", "b(c)", "b", "c",
          "repeat", "{", "{\n", "}", "\n}\n", "(", ")", "in", "add", "concat", "input=", "input=in", "a:", "a",
          "batchnorm", "dropout", "0.5", "globalavgpool", "adaptiveavgpool", "3xHxW", "1xNxN", "HxW", "->", "-> 6xHxW",
          "6x28x28", "in_features=", "in_features=400", "dense 10 in_features=7", "preprocess", "resize=", "crop=",
          "invert=", "mean=", "std=", "bilinear", "center", "0.5,0.5,0.5", "preprocess invert=true mean=0.5 std=0.5"]


@settings(max_examples=20000 if LONG else 1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_grammar_aware_near_valid_specs_never_raise(tokens):
    assert_answers(" ".join(tokens))


@pytest.mark.parametrize("path", sorted(glob.glob("tests/corpus/*.net")))
def test_corpus_files_never_raise(path, cli):
    result = cli("check", path)
    assert result.exit_code in (0, 1)
    assert "Traceback" not in result.output
    checked = check_text(open(path, encoding="utf-8", errors="replace").read(), path)
    if checked.ok and checked.graph.params < 10**6 and len(checked.graph.layers) < 100:
        # valid corpus specs also run, bounds-checked, against the reference
        from reference import run as reference_run

        network = netspec.Network(checked.graph)
        model = network.compile(bounds_check=True, threads=1)
        x = np.random.default_rng(0).normal(size=(2, *network.input_shape)).astype(np.float32)
        got = model(x)
        assert model.out_of_bounds_accesses == 0
        np.testing.assert_allclose(got, reference_run(network.graph, initial_weights(network.graph), x),
                                   rtol=1e-5, atol=1e-6)


ONNX_CORPUS = sorted(glob.glob("tests/corpus/*.onnx"))


@pytest.mark.parametrize("path", ONNX_CORPUS)
@pytest.mark.parametrize("command", ["check", "run", "import"])
def test_onnx_corpus_files_never_raise(path, command, cli, tmp_path):
    result = cli(command, path, *(["-o", str(tmp_path / "imported.net")] if command == "import" else []))
    assert result.exit_code in (0, 1)
    assert "Traceback" not in result.output


@settings(max_examples=5000 if LONG else 300, deadline=None, suppress_health_check=list(HealthCheck))
@given(corpus_file=st.sampled_from(ONNX_CORPUS), seed=st.integers(0, 2**32))
def test_byte_mutations_of_onnx_models_never_raise(corpus_file, seed, tmp_path):
    pytest.importorskip("onnx")
    from netspec.network import check_onnx

    with open(corpus_file, "rb") as handle:
        (tmp_path / "mutated.onnx").write_bytes(mutate(handle.read(), random.Random(seed)))
    result = check_onnx(str(tmp_path / "mutated.onnx"))
    assert result.ok or any(d.is_error for d in result.diagnostics)


@pytest.mark.parametrize("name, text, code", [
    ("10 MB line", "network a\ninput 1x3x3\nconv 1 kernel=" + "9" * 10_000_000 + "\n", "E0402"),
    ("huge integer", "network a\ninput 1x3x3\nconv 1 kernel=99999999999999999999\n", "E0403"),
    ("100,000-digit integer", "network a\ninput " + "9" * 100_000 + "\nrelu\n", "E0403"),
    ("binary", bytes(range(256)).decode("utf-8", errors="replace") * 50, "E0101"),
    ("a million duplicate parameters", "network a\ninput 1x3x3\nconv 1 kernel=1 " + "bias=true " * 150_000,
     "E0407"),
])
def test_hostile_specs_end_in_a_diagnostic_quickly(name, text, code):
    started = time.perf_counter()
    result = assert_answers(text)
    assert time.perf_counter() - started < 30  # a hang guard, not a speed target
    assert code in [d.code for d in result.diagnostics], [(d.code, d.message) for d in result.diagnostics][:3]


def test_100k_layers_check_and_are_refused_for_compiling():
    network = netspec.loads("network deep\ninput 1x3x3\n" + "relu\n" * 100_000)
    assert len(network.graph.layers) == 100_000
    with pytest.raises(netspec.DataError, match="compiles at most 5000"):
        network.compile()


def test_shapes_whose_product_overflows_64_bits_are_refused_before_allocating(cli, tmp_path):
    spec = tmp_path / "huge.net"
    spec.write_text("network huge\ninput 2147483647x2147483647x2147483647\nconv 2147483647 kernel=1\nflatten\ndense 3\n")
    assert cli("check", str(spec)).exit_code == 0  # shapes are fine to reason about
    result = cli("run", str(spec))
    assert result.exit_code == 1
    assert "needs" in result.stderr and "more than the limit" in result.stderr
    with pytest.raises(netspec.DataError, match="more than the limit"):
        netspec.load(str(spec)).compile()


def test_max_memory_refuses_with_the_figure(cli):
    result = cli("run", "examples/lenet5.net", "--batch", "100000", "--max-memory", "64M")
    assert result.exit_code == 1
    assert "running lenet5 on a batch of 100000 needs" in result.stderr
    assert cli("run", "examples/lenet5.net", "--max-memory", "lots").exit_code == 2
    with pytest.raises(netspec.DataError, match="more than the limit of 0.1 MB"):
        netspec.load("examples/lenet5.net").compile(max_memory=100_000)  # the API takes the same limit


def test_nan_and_inf_propagate_as_ieee_says():
    model = netspec.load("examples/lenet5.net").compile(threads=1)
    x = np.zeros((3, 1, 28, 28), np.float32)
    x[0, 0, 0, 0] = np.nan
    x[1, 0, 14, 14] = np.inf
    y = model(x)
    assert np.isnan(y[0]).all()          # NaN reaches every output through the dense layers
    assert not np.isnan(y[2]).any()      # the other examples are untouched
    reference = netspec.loads("network m\ninput 1x2x2\nmaxpool kernel=2\n").compile()
    assert np.isnan(reference(np.array([[[1, np.nan], [2, 3]]], np.float32))).all()


def test_fortran_order_and_strided_inputs_give_the_same_result():
    model = netspec.load("examples/lenet5.net").compile(threads=1)
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    expected = model(x)
    np.testing.assert_array_equal(model(np.asfortranarray(x)), expected)
    wide = np.zeros((8, 1, 28, 56), np.float32)
    wide[::2, :, :, ::2] = x
    np.testing.assert_array_equal(model(wide[::2, :, :, ::2]), expected)
    np.testing.assert_allclose(model(x.astype(np.float64)), expected)
    read_only = x.copy()
    read_only.setflags(write=False)
    np.testing.assert_array_equal(model(read_only), expected)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.complex64, np.bool_, object])
def test_non_float_inputs_are_refused(dtype):
    model = netspec.load("examples/lenet5.net").compile()
    with pytest.raises(netspec.DataError, match="expected float32"):
        model(np.zeros((1, 1, 28, 28), dtype=dtype))


def test_model_releases_the_gil_while_running():
    model = netspec.load("examples/lenet5.net").compile(threads=1)
    x = np.random.default_rng(0).random((4096, 1, 28, 28), dtype=np.float32)
    ticks, done = 0, threading.Event()
    worker = threading.Thread(target=lambda: (model(x), model(x), done.set()))
    worker.start()
    while not done.is_set():
        ticks += 1
    worker.join()
    assert ticks > 1000  # Python kept running while native code did


def test_cache_is_trimmed_to_its_bound(tmp_path):
    from netspec.backends.llvm import jit

    for i in range(5):
        entry = tmp_path / f"{i}.o"
        entry.write_bytes(b"x" * 1000)
        os.utime(entry, (i, i))
    jit._trim(tmp_path, limit=2500)
    assert sorted(p.name for p in tmp_path.glob("*.o")) == ["3.o", "4.o"]  # the newest that fit


@pytest.mark.parametrize("args", [
    ["check", "examples/lenet5.net", "--json"],
    ["check", "examples/errors/syntax_error.net", "--json"],
    ["check", "no/such/file.net", "--json"],
    ["check", "examples/lenet5.net", "examples/errors/unknown_layer.net", "--json"],
    ["run", "examples/lecture_conv.net", "--json"],
    ["run", "examples/errors/kernel_too_large.net", "--json"],
    ["run", "examples/lenet5.net", "--json", "--max-memory", "1K"],
    ["run", "examples/lenet5.net", "--json", "--weights", "no/such/weights.npz"],
])
def test_json_output_is_valid_on_every_path(cli, args):
    result = cli(*args)
    document = json.loads(result.stdout)
    if result.exit_code == 1:
        records = document if isinstance(document, list) else [document]
        assert any(record.get("errors") for record in records)
    else:
        assert result.exit_code == 0


@st.composite
def block_programs(draw):
    """Programs with random blocks, calls, references and joins: some valid, many not."""
    names = ["in", "input", "a", "b", "x", "nope"]
    lines = ["network p", f"input {draw(st.integers(1, 3))}x{draw(st.integers(2, 8))}x{draw(st.integers(2, 8))}"]
    for number in range(draw(st.integers(0, 2))):
        lines.append(f"block blk{number}(c, k=1) {{")
        for _ in range(draw(st.integers(0, 4))):
            lines.append("  " + draw(st.sampled_from([
                "a: conv c kernel=k", "b: conv c kernel=1 input=in", "add a b", "concat a b", "relu",
                "x: maxpool kernel=2", "repeat 2 {\n    relu\n  }", f"blk{number}", "conv c kernel=k padding=same",
                "batchnorm", "dropout 0.1", "add in"])))
        lines.append("}")
    for _ in range(draw(st.integers(1, 4))):
        lines.append(draw(st.sampled_from([
            "blk0 2", "blk0 c=3 k=3", "blk1 4", "blk0", "blk0 1 2 3", "blk0 z=1", "conv 2 kernel=1",
            f"add {draw(st.sampled_from(names))}", f"concat {draw(st.sampled_from(names))} input",
            f"conv 3 kernel=1 input={draw(st.sampled_from(names))}", "globalavgpool", "flatten", "dense 3"])))
    return "\n".join(lines) + "\n"


@settings(max_examples=5000 if LONG else 400, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=block_programs(), seed=st.integers(0, 1000))
def test_random_block_programs_never_raise_and_valid_ones_run_in_bounds(program, seed):
    from reference import run as reference_run
    from specs import random_weights

    result = assert_answers(program)
    if not result.ok or len(result.graph.layers) > 40:
        return
    network = netspec.Network(result.graph)
    rng = np.random.default_rng(seed)
    weights = random_weights(network.graph, rng)
    x = rng.normal(size=(2, *network.input_shape)).astype(np.float32)
    model = network.compile(weights=weights, bounds_check=True, threads=1)
    got = model(x)
    assert model.out_of_bounds_accesses == 0
    expected = reference_run(network.graph, weights, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))
