"""Generated code against the lecture's numbers and the numpy reference executor."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netspec
from reference import run as reference_run
from specs import random_spec, random_weights

LECTURE_INPUT = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
LECTURE_KERNEL = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)


def compile_example(path, weights):
    return netspec.load(path).compile(weights=weights)


def test_lecture_cross_correlation():
    model = compile_example("examples/lecture_conv.net", {"conv1.weight": LECTURE_KERNEL})
    assert model(LECTURE_INPUT)[0, 0].tolist() == [[19, 25], [37, 43]]


def test_lecture_padding():
    model = compile_example("examples/lecture_padding.net", {"conv1.weight": LECTURE_KERNEL})
    assert model(LECTURE_INPUT)[0, 0].tolist() == [[0, 3, 8, 4], [9, 19, 25, 10], [21, 37, 43, 16], [6, 7, 8, 0]]


def test_lecture_two_input_channels_sum_to_56():
    kernel = np.array([[[[0, 1], [2, 3]], [[1, 2], [3, 4]]]], dtype=np.float32)
    x = np.stack([np.arange(9), np.arange(1, 10)]).reshape(2, 3, 3).astype(np.float32)
    out = compile_example("examples/lecture_multi_in.net", {"conv1.weight": kernel})(x)
    assert out[0, 0].tolist() == [[56, 72], [104, 120]]


def test_lecture_multi_output_channels_stack_kernels():
    base = np.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]], dtype=np.float32)
    kernel = np.stack([base, base + 1, base + 2])  # as in the lecture: K, K + 1, K + 2
    x = np.stack([np.arange(9), np.arange(1, 10)]).reshape(2, 3, 3).astype(np.float32)
    out = compile_example("examples/lecture_multi_out.net", {"conv1.weight": kernel})(x)
    assert out[0].tolist() == [[[56, 72], [104, 120]], [[76, 100], [148, 172]], [[96, 128], [192, 224]]]


def test_lecture_1x1_convolution_is_a_matrix_product_per_pixel():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 3, 3)).astype(np.float32)
    kernel = rng.normal(size=(2, 3, 1, 1)).astype(np.float32)
    out = compile_example("examples/lecture_1x1.net", {"conv1.weight": kernel})(x)
    expected = (kernel.reshape(2, 3) @ x.reshape(3, 9)).reshape(2, 3, 3)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6, atol=1e-6)


def test_lecture_pooling():
    assert compile_example("examples/lecture_pooling.net", None)(LECTURE_INPUT)[0, 0].tolist() == [[4, 5], [7, 8]]
    avg = netspec.loads("network a\ninput 1x3x3\navgpool kernel=2 stride=1\n").compile()
    assert avg(LECTURE_INPUT)[0, 0].tolist() == [[2, 3], [5, 6]]


def test_lecture_pooling_with_padding_and_stride():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    model = netspec.loads("network a\ninput 1x4x4\nmaxpool kernel=3 padding=1 stride=2\n").compile()
    assert model(x)[0, 0].tolist() == [[5, 7], [13, 15]]


def assert_matches_reference(text, batch, seed=0):
    network = netspec.loads(text)
    rng = np.random.default_rng(seed)
    weights = random_weights(network.graph, rng)
    x = rng.normal(size=(batch, *network.input_shape)).astype(np.float32)
    got = network.compile(weights=weights)(x)
    expected = reference_run(network.graph, weights, x)
    assert np.isfinite(expected).all()  # a NaN on both sides would compare equal
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("layers, input_shape, batch", [
    ("conv 2 kernel=3", "1x3x3", 1),                          # kernel = padded input
    ("conv 2 kernel=5 padding=1", "1x3x3", 3),                # kernel = padded input, with padding
    ("conv 3 kernel=2 stride=3", "2x7x7", 5),                 # stride > kernel
    ("conv 4 kernel=1", "3x1x1", 7),                          # 1x1 input and kernel
    ("conv 2 kernel=3x1 stride=2x1 padding=1,0,0,2", "2x5x4", 2),  # asymmetric everything
    ("conv 3 kernel=3 padding=same stride=2", "2x6x5", 3),
    ("maxpool kernel=3 stride=2 padding=1", "3x5x5", 2),
    ("avgpool kernel=3 stride=2 padding=1", "3x5x5", 2),
    ("maxpool kernel=1 stride=3", "2x7x7", 1),
    ("avgpool kernel=2x3 padding=0,1,1,1", "1x4x4", 2),
    ("conv 2 kernel=2\nrelu\nflatten\ndense 3\nsoftmax", "1x4x4", 3),
    ("flatten", "2x2x2", 2),
    ("flatten\nflatten", "1x2x2", 2),          # views of the input all the way to the output: copied
    ("dropout 0.5\nflatten\ndropout 0.1", "1x2x2", 3),
    ("tanh\nsigmoid\nrelu", "2x3x3", 2),
    ("dense 5 bias=false\ntanh\ndense 1", "7", 4),
    ("conv 1 kernel=1 bias=false", "1x1x1", 1),
])
def test_edge_shapes_match_reference(layers, input_shape, batch):
    assert_matches_reference(f"network t\ninput {input_shape}\n{layers}\n", batch)


def test_identical_layers_share_one_function_and_each_reads_its_own_weights():
    from netspec.backends.llvm.codegen import llvm_ir

    text = ("network twins\ninput 3x9x9\nconv 3 kernel=3 padding=1\nrelu\nconv 3 kernel=3 padding=1\nrelu\n"
            "conv 3 kernel=3 padding=1\nrelu\nflatten\ndense 4\n")
    code = llvm_ir(netspec.loads(text).graph)
    assert code.count("define internal void @\"layer.conv") == 1  # three convolutions, one function
    assert_matches_reference(text, 3)


def test_poolings_differing_only_in_channels_share_one_function_and_stay_in_bounds():
    from netspec.backends.llvm.codegen import llvm_ir

    text = ("network pools\ninput 3x8x8\nmaxpool kernel=3 stride=1 padding=1\nconv 5 kernel=1\n"
            "maxpool kernel=3 stride=1 padding=1\nconv 2 kernel=1\n")
    network = netspec.loads(text)
    assert llvm_ir(network.graph).count('define internal void @"maxpool.') == 1  # two poolings, one function
    rng = np.random.default_rng(2)
    weights = random_weights(network.graph, rng)
    x = rng.normal(size=(2, *network.input_shape)).astype(np.float32)
    guarded = network.compile(weights=weights, bounds_check=True)
    np.testing.assert_allclose(guarded(x), reference_run(network.graph, weights, x), rtol=1e-5, atol=1e-5)
    assert guarded.out_of_bounds_accesses == 0


@pytest.mark.parametrize("layer, plane", [
    ("maxpool kernel=3 stride=1 padding=1", "3x3"),   # GoogLeNet's last maps: one vector or less
    ("maxpool kernel=3 stride=2 padding=1", "6x6"),   # three vectors at width 16, nine at 4
    ("avgpool kernel=3 stride=1 padding=1", "6x6"),
    ("maxpool kernel=2 stride=2", "8x8"),            # four vectors at width 16: the largest kept in registers
    ("avgpool kernel=3x2 stride=2x1 padding=1,0,1,0", "5x7"),  # asymmetric kernel, stride and padding
    ("maxpool kernel=3 stride=2", "9x9"),            # beyond four vectors at every width: the padded copy
])
def test_small_maps_pooled_in_registers_match_the_reference_at_every_width(layer, plane, vector_width):
    """Channels of up to four vectors are pooled from registers by shuffles (pool.py,
    `_small_planes`): every output, the padding and the masked last vector of a channel
    against the reference, a NaN spreading to exactly the windows holding it, and no
    access outside the buffers."""
    network = netspec.loads(f"network pools\ninput 5x{plane}\n{layer}\n")
    x = np.random.default_rng(6).normal(size=(3, *network.input_shape)).astype(np.float32)
    x[1, 2, 0, 1] = np.nan
    model = network.compile(bounds_check=True)
    got, expected = model(x), reference_run(network.graph, {}, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isnan(expected).any()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert model.out_of_bounds_accesses == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_spec(), batch=st.integers(1, 3), seed=st.integers(0, 100))
def test_random_specs_match_reference(spec, batch, seed):
    assert_matches_reference(spec, batch, seed)


def test_threads_and_tiles_give_the_same_results_as_one_thread():
    network = netspec.load("examples/lenet5.net")
    one, two = network.compile(threads=1), network.compile(threads=2)
    x = np.random.default_rng(7).random((77, 1, 28, 28), dtype=np.float32)  # odd: partial tiles and slices
    expected = np.concatenate([one(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(one(x), expected)
    np.testing.assert_array_equal(two(x), expected)


DIVIDED_SPECS = [
    "network residual\ninput 3x14x14\nstem: conv 8 kernel=3 padding=1\nconv 13 kernel=3 padding=1 stride=2\n"
    "batchnorm\nrelu\nconv 13 kernel=3 padding=1\nmain: batchnorm\nshortcut: conv 13 kernel=1 stride=2 input=stem\n"
    "add main shortcut\nrelu\nmaxpool kernel=2\nglobalavgpool\nflatten\ndense 5\n",
    "network inception\ninput 4x9x9\nstem: relu\nconv 7 kernel=1\npath1: relu\nconv 9 kernel=3 padding=1 input=stem\n"
    "path2: relu\nmaxpool kernel=3 stride=1 padding=1 input=stem\nconv 30 kernel=5 padding=2\npath3: relu\n"
    "concat path1 path2 path3\nconv 2 kernel=3\nflatten\ndense 3\nsoftmax\n",
    "network alexnetlike\ninput 1x40x40\nconv 40 kernel=11 stride=4 padding=1\nrelu\nmaxpool kernel=3 stride=2\n"
    "conv 60 kernel=3 padding=1\nrelu\nflatten\ndense 150\nrelu\ndense 4\n",  # dense: 2 blocks, 3 panels
    # batchnorms that cannot be folded (before their convolution, as in DenseNet), with relu fused
    "network prenorm\ninput 8x10x10\nbatchnorm\nrelu\nconv 20 kernel=3 padding=1\nstem: relu\nbatchnorm\nrelu\n"
    "conv 20 kernel=1\nadd stem\nrelu\navgpool kernel=2\nflatten\ndense 3\n",
    # output channels in whole vectors: convolutions with channels across the lanes, their
    # work cut into tiles of channels and chunks of positions
    "network lanes\ninput 8x20x20\nconv 48 kernel=3 padding=1\nrelu\nconv 96 kernel=3 stride=2\nrelu\n"
    "conv 64 kernel=1\nflatten\ndense 3\n",
]


@pytest.mark.parametrize("text", DIVIDED_SPECS, ids=lambda text: text.split()[1])
def test_one_example_divided_between_threads_equals_one_thread(text, monkeypatch):
    from netspec.backends.llvm import runtime

    # Every call counts as work enough to divide: one example is shared by the threads.
    monkeypatch.setattr(runtime, "MIN_WORK_PER_THREAD", 1)
    network = netspec.loads(text)
    rng = np.random.default_rng(11)
    weights = random_weights(network.graph, rng)
    x = rng.normal(size=(1, *network.input_shape)).astype(np.float32)
    expected = reference_run(network.graph, weights, x)
    one = network.compile(weights=weights, threads=1)(x)
    np.testing.assert_allclose(one, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    for threads in (2, 3):
        model = network.compile(weights=weights, threads=threads)
        for _ in range(20):  # the threads take tiles in a different order each time
            np.testing.assert_array_equal(model(x), one)


def test_division_is_chosen_by_measured_speed_and_the_slower_way_is_retried_now_and_then():
    from netspec.backends.llvm.runtime import DivisionChoice

    choice = DivisionChoice()
    for seconds in (0.5, 0.010):  # the first divided call (starting threads) is not counted
        assert choice.divide() is True
        choice.record(True, seconds)
    for seconds in (0.5, 0.004):
        assert choice.divide() is False
        choice.record(False, seconds)  # one thread alone was faster (a busy core)
    picks = [choice.divide() for _ in range(2 * DivisionChoice.EXPLORE)]
    assert picks.count(True) == 2 and picks.count(False) == 2 * DivisionChoice.EXPLORE - 2
    choice.record(True, 0.002)  # dividing has become faster: believed at once
    assert choice.divide() is True
    for _ in range(DivisionChoice.RECENT - 1):  # slow calls change nothing while a fast one is recent
        choice.record(True, 0.010)
    assert choice.seconds[True] == 0.002 and choice.divide() is True
    choice.record(True, 0.010)  # every recent divided call slow: the machine has changed
    assert choice.seconds[True] == 0.010 and choice.divide() is False


def test_concurrent_calls_from_many_threads_agree():
    from concurrent.futures import ThreadPoolExecutor

    model = netspec.load("examples/lenet5.net").compile(threads=1)
    rng = np.random.default_rng(8)
    inputs = [rng.random((n, 1, 28, 28), dtype=np.float32) for n in (1, 5, 16, 33) * 4]
    expected = [model(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(model, inputs))
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_fused_vector_activations_match_reference_on_extreme_values():
    # conv (1x1, weight 1) + activation is fused and runs the explicit vector code path
    network = netspec.loads("network v\ninput 1x5x40\nconv 1 kernel=1 bias=false\nsigmoid\n")
    # from -88: below it exp(-x) overflows float32 and sigmoid is 0, as in PyTorch
    x = np.linspace(-88, 95, 200, dtype=np.float32).reshape(1, 1, 5, 40)
    got = network.compile(weights={"conv1.weight": np.ones((1, 1, 1, 1), np.float32)})(x)
    expected = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    ulp = np.spacing(expected.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - expected) / ulp) <= 3.0


@pytest.mark.parametrize("options, message", [
    ({"weights": 42}, "weights must be a path to a weight file (.npz, .safetensors, .pt, .pth), a mapping of names"),
    ({"seed": -1}, "seed must be a non-negative integer, got -1"),
    ({"threads": 0}, "threads must be a whole number of at least 1, got 0"),
    ({"threads": "2"}, "threads must be a whole number of at least 1, got '2'"),
    ({"max_memory": -5}, "max_memory must be a positive number of bytes, got -5"),
    ({"weights": {"conv1.weight": [[1, 2], [3]], "conv1.bias": [0.0]}}, "conv1.weight: not an array"),
])
def test_bad_compile_arguments_raise_data_errors(options, message):
    network = netspec.loads("network t\ninput 1x4x4\nconv 1 kernel=3\n")
    with pytest.raises(netspec.DataError) as caught:
        network.compile(**options)
    assert message in str(caught.value)


def test_a_pickled_array_in_a_weights_file_is_named_with_its_file_and_key(tmp_path):
    network = netspec.loads("network t\ninput 1x4x4\nconv 1 kernel=3\n")
    path = tmp_path / "w.npz"
    np.savez(path, **{"conv1.weight": np.zeros((1, 1, 3, 3), np.float32),
                      "conv1.bias": np.array([{"not": "numbers"}], dtype=object)})
    with pytest.raises(netspec.DataError) as caught:
        network.compile(weights=path)
    assert f"weights file {path}, array conv1.bias: contains pickled Python objects" in str(caught.value)


def test_run_returns_outputs_and_notes_on_conversions():
    model = netspec.loads("network t\ninput 3\nrelu\n").compile()
    outputs, notes = model.run(np.array([[-1.0, 0.0, 2.0]]))
    assert outputs.tolist() == [[0.0, 0.0, 2.0]]
    assert notes == ["input converted from float64 to float32"]
    assert model.run(np.zeros((1, 3), np.float32))[1] == []


def test_a_model_called_from_two_threads_at_once_divides_one_call_at_a_time():
    """Two callers of one model whose single examples are divided between 3 threads: each
    divided call needs every pool thread at its barriers, so two at once could wait for
    each other forever; both must return, with the one-thread outputs."""
    import threading

    network = netspec.loads("network big\ninput 3x32x32\nconv 64 kernel=3 padding=1\nrelu\n"
                            "conv 64 kernel=3 padding=1\nrelu\nglobalavgpool\nflatten\ndense 10\n")
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    expected = network.compile(seed=0, threads=1)(x)
    for trial in range(6):
        model = network.compile(seed=0, threads=3)  # fresh: its first calls divide
        start, results = threading.Barrier(2), []

        def call(model=model, start=start, results=results):
            start.wait()
            results.append(model(x))

        callers = [threading.Thread(target=call, daemon=True) for _ in range(2)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=60)
        assert not any(caller.is_alive() for caller in callers), f"trial {trial}: the callers never returned"
        for result in results:
            np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("outputs", [10, 64, 100, 200])  # a partial panel, one, several with a partial one
def test_dense_panels_match_the_reference_at_every_width(outputs, vector_width):
    network = netspec.loads(f"network d\ninput 3x5x7\nflatten\ndense {outputs}\nrelu\ndense 7\n")
    rng = np.random.default_rng(outputs)
    weights = random_weights(network.graph, rng)
    x = rng.normal(size=(6, *network.input_shape)).astype(np.float32)  # a tile of 4 examples and 2 more
    model = network.compile(weights=weights, threads=1, bounds_check=True)
    np.testing.assert_allclose(model(x), reference_run(network.graph, weights, x), rtol=1e-5, atol=1e-5)
    assert model.out_of_bounds_accesses == 0


def test_the_memory_estimate_plans_the_graph_that_is_compiled():
    from netspec.backends.llvm.memory import memory_need
    from netspec.backends.llvm.plan import memory_plan
    from netspec.backends.llvm.rewrite import rewrite_for_inference

    # Without its batchnorm's output the network's weights outweigh its activations, and
    # the compiled plan takes a bigger tile of examples than the spec as written would.
    graph = netspec.loads("network t\ninput 3x72x72\nconv 64 kernel=3 padding=1\nbatchnorm\nrelu\nflatten\n"
                          "dense 7\n").graph
    compiled = memory_plan(rewrite_for_inference(graph).graph)
    assert compiled.tile > memory_plan(graph).tile
    assert memory_need(graph, 1, 2).workspace == 2 * 4 * (compiled.workspace_floats + compiled.scratch_floats)


def test_a_pickled_model_computes_the_same_from_aligned_packed_weights():
    import pickle

    network = netspec.load("examples/lenet5.net")
    model = network.compile(weights="examples/lenet5.npz", threads=1)
    x = np.random.default_rng(5).random((7, 1, 28, 28), dtype=np.float32)
    sent = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(sent(x), model(x))
    assert sent.digest == model.digest and sent.untrained is False
    assert sent._weights.ctypes.data % 64 == 0


def test_a_model_sent_by_another_netspec_or_with_damaged_weights_is_refused():
    from netspec.backends.llvm import runtime

    network = netspec.load("examples/lenet5.net")
    function, (producer, digest, graph, packed, *rest) = network.compile(threads=1).__reduce__()
    with pytest.raises(netspec.DataError, match="another netspec"):
        function("0" * 64, digest + "x", graph, packed, *rest)
    for damaged in (packed[:-1], packed.astype(np.float64)):
        with pytest.raises(netspec.DataError, match="packed weights"):
            function(producer, digest + "y", graph, damaged, *rest)
    assert not any(key[0].startswith(digest) and key[0] != digest for key in runtime._RECEIVED)


def test_a_model_sent_with_tiles_tuned_for_wider_vectors_gets_the_fixed_rule_where_they_do_not_fit(monkeypatch,
                                                                                                    tmp_path):
    from netspec.backends.llvm import jit, runtime

    network = netspec.loads("network t\ninput 8x12x12\nconv 32 kernel=3 padding=1\nrelu\nconv 16 kernel=3\n")
    weights = random_weights(network.graph, np.random.default_rng(2))
    x = np.random.default_rng(2).normal(size=(2, 8, 12, 12)).astype(np.float32)
    tiles = {"conv1": ("lanes", 6, 2), "conv2": ("rows", 6, 4)}  # 12 and 24 accumulators
    model = runtime.Model(network.graph, weights, threads=1, tiles=tiles)
    function, arguments = model.__reduce__()
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(jit, "host_vector_width", lambda: 8)  # a worker with 16 vector registers
    received = function(*arguments[:1], arguments[1] + "narrow", *arguments[2:])
    assert "('conv1', ('lanes', 6, 2))" in received._canonical and "conv2'" not in received._canonical
    np.testing.assert_allclose(received(x), reference_run(network.graph, weights, x), rtol=1e-5, atol=1e-5)


def test_shares_of_back_to_back_calls_are_handed_to_a_spinning_pool_thread_which_then_idles():
    import threading
    import time

    from netspec.backends.llvm import handoff

    network = netspec.load("examples/lenet5.net")
    one, two = network.compile(weights="examples/lenet5.npz", threads=1), network.compile(
        weights="examples/lenet5.npz", threads=2)
    x = np.random.default_rng(9).random((300, 1, 28, 28), dtype=np.float32)
    expected = one(x)
    for _ in range(30):
        np.testing.assert_array_equal(two(x), expected)
    block = two._blocks[:handoff.BLOCK_WORDS]
    assert block[handoff.JOB] == block[handoff.DONE] > 0  # shares went through the block, all finished
    # Two callers at once: each share is done once, by the server or by the caller itself.
    results = {}

    def call(number):
        for _ in range(20):
            results[number] = two(x[number * 50:number * 50 + 200])

    callers = [threading.Thread(target=call, args=(number,)) for number in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    for number in range(2):
        np.testing.assert_array_equal(results[number], expected[number * 50:number * 50 + 200])
    deadline = time.monotonic() + 5
    while block[handoff.AWAKE] != handoff.NO_SERVER and time.monotonic() < deadline:
        time.sleep(0.01)
    assert block[handoff.AWAKE] == handoff.NO_SERVER  # an idle server gives the block up
    np.testing.assert_array_equal(two(x), expected)  # and the next call wakes one again


@pytest.mark.parametrize("name, batch", [("mlp", 1), ("mlp", 16), ("lenet5", 1), ("lenet5", 16), ("lenet5", 7)])
def test_small_calls_wake_the_pool_and_the_calls_after_are_handed_out_natively(name, batch):
    """A call with too little work to wait for a Python wake-up runs alone and wakes the
    pool thread; the calls that follow are divided or sliced by `netspec.share_out`
    while it spins. Every way gives the one-thread outputs (a slice or a part is done
    by the same code on the same examples)."""
    import time

    from netspec.backends.llvm import handoff

    network = netspec.load(f"examples/{name}.net")
    one, two = (network.compile(seed=3, threads=threads) for threads in (1, 2))
    x = np.random.default_rng(5).random((batch, *network.input_shape), dtype=np.float32)
    expected = one(x)
    block = two._blocks[:handoff.BLOCK_WORDS]
    deadline = time.monotonic() + 60
    while block[handoff.JOB] == 0 and time.monotonic() < deadline:  # the first calls run alone, waking a server
        np.testing.assert_array_equal(two(x), expected)
    for _ in range(200):  # while it spins (a few hundred us after each share), shares are posted to it
        np.testing.assert_array_equal(two(x), expected)
    assert block[handoff.DONE] == block[handoff.JOB] > 0  # and all of them finished


def test_share_out_does_nothing_unless_every_server_is_awake_and_gives_back_what_it_claimed():
    from netspec.backends.llvm import handoff

    model = netspec.load("examples/mlp.net").compile(seed=0, threads=3)
    x = np.ones((3, 784), dtype=np.float32)
    output = np.full((3, 10), 7.0, dtype=np.float32)
    blocks = model._blocks.reshape(-1, handoff.BLOCK_WORDS)
    blocks[0, handoff.AWAKE] = handoff.SERVING  # as if a server spun on the first block only
    for share in (0, 1):  # divided between the three threads, or three slices of one example
        assert not model._shared_out(x.ctypes.data, output.ctypes.data, 3, share)
        assert blocks[0, handoff.AWAKE] == handoff.SERVING and blocks[1, handoff.AWAKE] == handoff.NO_SERVER
        assert blocks[0, handoff.JOB] == 0  # nothing was posted
        assert (output == 7.0).all()  # nor computed
    blocks[0, handoff.AWAKE] = handoff.NO_SERVER


def test_the_slower_way_is_tried_less_often_while_it_stays_slower_and_as_often_again_when_it_wins():
    from netspec.backends.llvm.runtime import DivisionChoice

    choice = DivisionChoice()
    for way in (True, True, False, False):
        choice.divide()
        choice.record(way, 0.002 if way else 0.001)  # alone is faster

    def tries(calls: int) -> list[int]:
        """The calls among the next `calls` that divide (alone still measured faster)."""
        found = []
        for call in range(calls):
            if choice.divide():
                found.append(call)
                choice.record(True, 0.002)
        return found

    gaps = [b - a for a, b in zip(*(lambda t: (t, t[1:]))(tries(6000)))]
    assert gaps[:5] == [64, 128, 256, 512, 1024] and set(gaps[5:]) == {DivisionChoice.EXPLORE_MOST}
    choice.seconds[True] = 0.0005  # dividing became the faster way: taken at once
    picks = [choice.divide() for _ in range(DivisionChoice.EXPLORE_MOST + 2 * DivisionChoice.EXPLORE)]
    tried = [call for call, divided in enumerate(picks) if not divided]
    assert picks[0] and tried[1] - tried[0] == DivisionChoice.EXPLORE  # alone, now slower, tried often again


def test_a_division_that_could_not_be_made_is_chosen_again_by_the_next_call():
    from netspec.backends.llvm.runtime import DivisionChoice

    choice = DivisionChoice()
    for way in (True, True, False, False):
        assert choice.divide() is way
        choice.record(way, 0.001 if way else 0.0005)  # alone is faster
    picks = []
    while True not in picks:
        picks.append(choice.divide())
    assert len(picks) <= DivisionChoice.EXPLORE  # dividing is retried now and then
    for _ in range(5):  # no server was awake: the call ran alone, and the retry stands
        choice.postpone()
        assert choice.divide() is True
    choice.record(True, 0.002)
    assert choice.divide() is False


def test_a_child_forked_while_a_pool_thread_serves_runs_the_model_with_threads_of_its_own():
    import os

    network = netspec.load("examples/lenet5.net")
    model = network.compile(weights="examples/lenet5.npz", threads=2)
    x = np.random.default_rng(4).random((300, 1, 28, 28), dtype=np.float32)
    expected = model(x)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the parent's pool thread may still be spinning on its block
        try:
            ok = all(np.array_equal(model(x), expected) for _ in range(3))
            os.write(writer, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    answer = os.read(reader, 1)
    os.waitpid(child, 0)
    assert answer == b"1"
