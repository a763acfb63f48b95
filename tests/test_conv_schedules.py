"""The convolution's two schedules (wide rows, channel lanes) against the reference executor
at every vector width netspec generates, the transposition the lanes schedule ends with,
and the blocked weight layout both read."""
import ctypes

import numpy as np
import pytest
from llvmlite import ir

import netspec
from netspec.backends.llvm import jit
from netspec.backends.llvm.builder import F32_PTR, Buffer, KernelBuilder
from netspec.backends.llvm.codegen import generate_module
from netspec.backends.llvm.kernels import conv, conv_lanes, conv_weights
from netspec.backends.llvm.kernels.conv_lanes import transpose
from netspec.backends.llvm.runtime import Model
from netspec.weights import initial_weights
from reference import run as reference_run

CALL = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)

# Output channels that fill vectors of 4, 8 and 16 (so both schedules apply), strides,
# asymmetric kernels and padding, maps smaller than a vector, 1x1, no bias, activations.
CONVS = [
    "input 3x9x11\nconv 16 kernel=3 padding=1\nrelu\n",
    "input 4x12x12\nconv 32 kernel=3 stride=2 padding=1 bias=false\n",
    "input 2x7x30\nconv 16 kernel=2x5 stride=1x3 padding=0,1,2,1\n",
    "input 8x3x3\nconv 48 kernel=3 padding=1\nrelu\n",
    "input 8x2x2\nconv 64 kernel=1\n",
    "input 64x6x6\nconv 64 kernel=1 stride=2\n",
    "input 16x5x7\nconv 96 kernel=3 stride=2x1 padding=0,2,1,0\nsigmoid\n",
    # several chunks of positions for threads to share, the last one longer
    "input 4x20x20\nconv 16 kernel=3 padding=1\nrelu\n",
    "input 6x13x17\nconv 32 kernel=3 stride=1x2 padding=1\n",
    "input 5x20x20\nconv 7 kernel=3\n",  # rows only: 7 channels are not whole vectors
]


def transposer(width: int):
    module = ir.Module(name="transpose")
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR, F32_PTR]), "transpose")
    source, target = function.args
    k = KernelBuilder(function, "transpose")
    rows = [k.vload(Buffer(source, width * width), i * width, width) for i in range(width)]
    for j, column in enumerate(transpose(k, rows)):
        k.vstore(column, Buffer(target, width * width), j * width)
    k.b.ret_void()
    return CALL(jit.compile_object(f"transpose {width}", lambda: str(module), "transpose").address)


@pytest.mark.parametrize("width", [4, 8, 16])
def test_the_transposition_of_a_square_of_vectors_equals_numpy(width):
    square = np.arange(width * width, dtype=np.float32).reshape(width, width)
    result = np.zeros_like(square)
    transposer(width)(square.ctypes.data, result.ctypes.data)
    np.testing.assert_array_equal(result, square.T)


@pytest.mark.parametrize("body", CONVS)
def test_every_schedule_and_tile_matches_the_reference_at_every_width(body, vector_width):
    width = vector_width
    net = netspec.loads(f"network t\n{body}")
    graph, name = net.graph, net.graph.layers[0].node.name
    weights = initial_weights(graph, seed=3)
    x = np.random.default_rng(1).normal(size=(3, *graph.input_shape)).astype(np.float32)
    expected = reference_run(graph, weights, x)
    candidates = conv.candidate_tiles(graph.layers[0], width)
    lanes = graph.layers[0].output_shape[0] % width == 0
    assert {tile[0] for tile in candidates} == ({"rows", "lanes"} if lanes else {"rows"})
    for tile in candidates:
        guarded = Model(graph, weights, threads=1, bounds_check=True, tiles={name: tile})
        np.testing.assert_allclose(guarded(x), expected, rtol=1e-5, atol=1e-5, err_msg=f"tile {tile}")
        assert guarded.out_of_bounds_accesses == 0, f"tile {tile}"


@pytest.mark.parametrize("block_bytes", [1, 3 * 4 * 16 * 9])  # blocks of 1 input channel; of 3 (16 = 5 x 3 + 1)
def test_lanes_sum_input_channels_in_blocks_as_they_sum_them_whole(block_bytes, tmp_path, monkeypatch):
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path))  # the block size is not in the cache key
    monkeypatch.setattr(conv_lanes, "WEIGHT_BLOCK_BYTES", block_bytes)
    net = netspec.loads("network t\ninput 16x7x5\nconv 32 kernel=3 stride=2x1 padding=1\nrelu\n")
    graph = net.graph
    weights = initial_weights(graph, seed=6)
    x = np.random.default_rng(3).normal(size=(2, *graph.input_shape)).astype(np.float32)
    expected = reference_run(graph, weights, x)
    for tile in (("lanes", 7, 1), ("lanes", 4, 2), ("lanes", 15, 1)):  # 15 positions: 2 tiles of 7, 4 of 4, 1
        guarded = Model(graph, weights, threads=1, bounds_check=True, tiles={"conv1": tile})
        np.testing.assert_allclose(guarded(x), expected, rtol=1e-5, atol=1e-5, err_msg=f"tile {tile}")
        assert guarded.out_of_bounds_accesses == 0


def test_lanes_layers_of_one_shape_share_their_sums_whatever_their_channel_counts(vector_width):
    net = netspec.loads("network t\ninput 16x6x6\nconv 32 kernel=3 padding=1\nrelu\n"
                        "conv 64 kernel=3 padding=1\nrelu\nconv 48 kernel=3 padding=1\n")
    graph = net.graph
    weights = initial_weights(graph, seed=4)
    x = np.random.default_rng(5).normal(size=(2, *graph.input_shape)).astype(np.float32)
    tiles = {layer.node.name: ("lanes", 6, 2) for layer in graph.layers if layer.node.kind == "conv"}
    module, _, _ = generate_module(graph, vector_width, guarded=True, tiles=tiles)
    assert sum(function.name.startswith("lanes.sums.") for function in module.functions if function.blocks) == 1
    guarded = Model(graph, weights, threads=1, bounds_check=True, tiles=tiles)
    np.testing.assert_allclose(guarded(x), reference_run(graph, weights, x), rtol=1e-5, atol=1e-5)
    assert guarded.out_of_bounds_accesses == 0


@pytest.mark.parametrize("channels", [5, 16, 40])
def test_weights_are_stored_in_blocks_of_sixteen_output_channels_and_unpacked_back(channels):
    net = netspec.loads(f"network t\ninput 3x8x8\nconv {channels} kernel=3x2\n")
    layer = net.graph.layers[0]
    weight = np.random.default_rng(0).normal(size=(channels, 3, 3, 2)).astype(np.float32)
    stored = np.zeros(conv_weights.stored_shape(layer.attrs, layer.input_shape, "weight", weight.shape), np.float32)
    assert stored.shape == (-(-channels // 16), 18, 16)
    conv_weights.pack(layer.attrs, layer.input_shape, "weight", weight, stored)
    for channel in range(channels):
        np.testing.assert_array_equal(stored[channel // 16, :, channel % 16], weight[channel].ravel())
    assert not stored.transpose(0, 2, 1).reshape(-1, 18)[channels:].any()  # padding channels are zero
    np.testing.assert_array_equal(conv_weights.unpack(layer.attrs, layer.input_shape, "weight", stored), weight)


def test_the_fixed_rule_puts_channels_in_lanes_on_small_maps_and_rows_when_channels_do_not_fill_vectors():
    resnet = netspec.load("examples/resnet18.net").graph
    small = [layer for layer in resnet.layers if layer.node.kind == "conv" and layer.output_shape[1] <= 6]
    assert small and all(conv.fixed_tile(layer, 16)[0] == "lanes" for layer in small)
    lenet = netspec.load("examples/lenet5.net").graph
    first = next(layer for layer in lenet.layers if layer.node.kind == "conv")
    assert first.output_shape[0] == 6 and conv.fixed_tile(first, 16)[0] == "rows"
