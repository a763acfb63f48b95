"""Binding a file's tensors to a network's keys: by name, by order and shape (PyTorch's
LeNet-5 and the D2L ResNet-18 against PyTorch's outputs), by a map file; and the exact
messages when a binding is ambiguous, misshaped or the map is wrong."""
import numpy as np
import pytest

import netspec
from netspec.interop.binding import BY_MAP, BY_NAME, BY_ORDER, bind, bind_file, binding_table, read_map
from netspec.weights import initial_weights, weight_shapes

torch = pytest.importorskip("torch")

from d2l_models import lenet5, resnet18  # noqa: E402  (needs torch)

HELP = "help: give the binding with a map file (--map FILE), one `FILE_KEY NETSPEC_KEY` per line"


@pytest.fixture(scope="module")
def lenet():
    return netspec.load("examples/lenet5.net")


@pytest.fixture(scope="module")
def pytorch_lenet():
    torch.manual_seed(0)
    return lenet5().eval()


@pytest.fixture
def state(pytorch_lenet):
    """LeNet-5's state_dict as numpy arrays under PyTorch's keys (0.weight, 0.bias, 3.weight, ...)."""
    return {key: value.numpy() for key, value in pytorch_lenet.state_dict().items()}


def with_inserted(state, after: str, key: str, array):
    items = list(state.items())
    at = [k for k, _ in items].index(after) + 1
    return dict(items[:at] + [(key, array)] + items[at:])


def refusal(graph, tensors) -> str:
    """The message of the DataError binding `tensors` (from "lenet5.pt") raises."""
    with pytest.raises(netspec.DataError) as caught:
        bind(graph, tensors, "lenet5.pt")
    return str(caught.value)


def test_netspec_keys_bind_by_name(lenet):
    binding = bind(lenet.graph, initial_weights(lenet.graph), "w.npz")
    assert {row.by for row in binding.rows} == {BY_NAME} and not binding.renamed
    assert list(binding.arrays) == list(weight_shapes(lenet.graph))


def test_pytorch_keys_bind_by_order_and_shape_into_a_table(lenet, state):
    binding = bind(lenet.graph, state, "lenet5.pt")
    assert [(row.file_key, row.key, row.by) for row in binding.rows[:3]] == [
        ("0.weight", "conv1.weight", BY_ORDER), ("0.bias", "conv1.bias", BY_ORDER), ("3.weight", "conv2.weight", BY_ORDER)]
    assert binding.renamed and binding.unused == () and binding.skipped == ()
    assert binding_table(binding).splitlines()[:4] == [
        "bound 10 tensors of lenet5.pt to lenet5's weights by order and shape:",
        "  file key   netspec key    shape",
        "  0.weight   conv1.weight   6x1x5x5",
        "  0.bias     conv1.bias     6",
    ]


def test_a_state_dict_given_from_python_runs_as_pytorch_does(lenet, pytorch_lenet):
    x = np.random.default_rng(1).random((5, 1, 28, 28), dtype=np.float32)
    got = lenet.compile(weights=pytorch_lenet.state_dict())(x)
    with torch.inference_mode():
        expected = pytorch_lenet(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def trained_statistics(model):
    """A few training-mode forwards, so the running statistics are far from PyTorch's 0 and 1."""
    torch.manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(4, 1, 96, 96) * 3 - 1)
    return model.eval()


@pytest.fixture(scope="module")
def pytorch_resnet():
    torch.manual_seed(0)
    return trained_statistics(resnet18())


def test_the_d2l_resnet18_state_dict_runs_as_pytorch_does(tmp_path, pytorch_resnet):
    network = netspec.load("examples/resnet18.net")
    state = pytorch_resnet.state_dict()
    assert state["1.running_var"].min() < 0.9 or state["1.running_var"].max() > 1.1  # not PyTorch's initial 1
    torch.save(state, tmp_path / "resnet18.pt")
    binding = bind_file(network.graph, tmp_path / "resnet18.pt")
    batchnorms = [layer for layer in network.graph.layers if layer.node.kind == "batchnorm"]
    assert binding.skipped == tuple(key for key in state if key.endswith("num_batches_tracked"))
    assert len(binding.skipped) == len(batchnorms) == 17
    assert ("4.bn1.running_var", "same_residual1.batchnorm1.running_var") in [(r.file_key, r.key) for r in binding.rows]
    x = np.random.default_rng(2).random((2, 1, 96, 96), dtype=np.float32)
    got = network.compile(weights=binding.arrays)(x)
    with torch.inference_mode():
        expected = pytorch_resnet(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


def test_safetensors_sorted_children_are_refused_not_misbound_and_a_map_binds_them(tmp_path, pytorch_resnet):
    """safetensors keeps names sorted: the D2L block's bn1 comes before its conv1, so the
    order no longer follows the spec; a map written from the model's own order fixes it."""
    from safetensors.numpy import save_file

    network = netspec.load("examples/resnet18.net")
    state = {key: value.numpy() for key, value in pytorch_resnet.state_dict().items()}
    save_file(state, str(tmp_path / "resnet18.safetensors"))
    with pytest.raises(netspec.DataError) as caught:
        bind_file(network.graph, tmp_path / "resnet18.safetensors")
    assert str(caught.value) == (
        f"weights from {tmp_path / 'resnet18.safetensors'}: the keys are not resnet18's, so they are bound by order "
        "and shape, and they differ at weight 7 of 110: same_residual1.conv1.weight (layer same_residual1.conv1, "
        "line 21) needs 64x64x3x3, but tensor 7, 4.bn1.weight, is 64\n" + HELP)
    weights = [key for key in state if not key.endswith("num_batches_tracked")]
    (tmp_path / "resnet18.map").write_text("".join(f"{theirs} {ours}\n" for theirs, ours in
                                                   zip(weights, weight_shapes(network.graph))))
    binding = bind_file(network.graph, tmp_path / "resnet18.safetensors", tmp_path / "resnet18.map")
    assert {row.by for row in binding.rows} == {BY_MAP}
    np.testing.assert_array_equal(binding.arrays["residual1.shortcut.weight"], state["6.conv3.weight"])


def test_a_shape_that_differs_names_the_layer_its_line_and_both_shapes(lenet, state):
    state["3.weight"] = np.zeros((16, 6, 3, 3), np.float32)
    assert refusal(lenet.graph, state) == (
        "weights from lenet5.pt: the keys are not lenet5's, so they are bound by order and shape, and they differ "
        "at weight 3 of 10: conv2.weight (layer conv2, line 10) needs 16x6x5x5, but tensor 3, 3.weight, "
        "is 16x6x3x3\n" + HELP)


def test_an_extra_tensor_that_fits_two_weights_in_order_is_ambiguous(lenet, state):
    assert refusal(lenet.graph, with_inserted(state, "0.bias", "0.scale", np.ones(6, np.float32))) == (
        "weights from lenet5.pt: the keys are not lenet5's, and binding them by order and shape is ambiguous "
        "(11 tensors for 10 weights): conv1.bias (layer conv1, line 7) needs 6, and both 0.bias and 0.scale "
        "could be it\n" + HELP)


def test_an_extra_tensor_that_fits_no_weight_is_left_unused_and_reported(lenet, state):
    binding = bind(lenet.graph, with_inserted(state, "0.bias", "0.extra", np.ones(7, np.float32)), "lenet5.pt")
    assert binding.unused == ("0.extra",)
    assert binding_table(binding).splitlines()[-1] == "note: 1 tensor bound to no weight: 0.extra"


def test_too_few_tensors_name_the_first_weight_without_one(lenet, state):
    del state["11.bias"]
    assert refusal(lenet.graph, state) == (
        "weights from lenet5.pt: the keys are not lenet5's, so they are bound by order and shape; there are "
        "9 tensors for 10 weights, and dense3.bias (layer dense3, line 18) needs 10, but no tensors follow "
        "11.weight\n" + HELP)


def test_a_tensor_missing_in_the_middle_names_the_weight_and_what_follows(lenet, state):
    del state["3.weight"]
    assert ("there are 9 tensors for 10 weights, and conv2.weight (layer conv2, line 10) needs 16x6x5x5, but no "
            "tensor of that shape follows 0.bias (the next is 3.bias, 16)") in refusal(lenet.graph, state)


def test_names_that_are_partly_netspec_keys_are_checked_by_name(lenet):
    weights = initial_weights(lenet.graph)
    weights["conv9.weight"] = weights.pop("conv1.weight")
    with pytest.raises(netspec.DataError, match="conv1.weight: missing .*\n  conv9.weight: not a weight of this network"):
        bind(lenet.graph, weights, "w.npz")


def write_map(tmp_path, text):
    path = tmp_path / "keys.map"
    path.write_text(text)
    return path


def test_a_map_settles_what_order_and_shape_cannot(tmp_path, lenet, state):
    path = write_map(tmp_path, "# file key   netspec key\n0.bias conv1.bias   # the real bias\n0.scale unused.bias\n")
    ambiguous = with_inserted(state, "0.bias", "0.scale", np.ones(6, np.float32))
    with pytest.raises(netspec.DataError, match=f"^map file {path}, line 3: unused.bias is not a weight of lenet5 "
                       r"\(did you mean dense3.bias\?\)$"):
        bind(lenet.graph, ambiguous, "lenet5.pt", read_map(path))
    path = write_map(tmp_path, "0.bias conv1.bias\n")
    binding = bind(lenet.graph, ambiguous, "lenet5.pt", read_map(path))
    assert [(row.file_key, row.by) for row in binding.rows[:3]] == [("0.weight", BY_ORDER), ("0.bias", BY_MAP),
                                                                    ("3.weight", BY_ORDER)]
    assert binding.unused == ("0.scale",)
    assert binding_table(binding).splitlines()[0] == (
        "bound 10 tensors of lenet5.pt to lenet5's weights by the map, the rest by order and shape:")


@pytest.mark.parametrize("text, message", [
    ("0.weigth conv1.weight\n", "line 1: lenet5.pt has no tensor 0.weigth (did you mean 0.weight?)"),
    ("\n0.weight conv1.weigth\n", "line 2: conv1.weigth is not a weight of lenet5 (did you mean conv1.weight?)"),
    ("0.weight conv1.bias\n", "line 1: 0.weight is 6x1x5x5, but conv1.bias (layer conv1, line 7) needs 6"),
    ("0.weight\n", "line 1: expected `FILE_KEY NETSPEC_KEY`, found '0.weight'"),
    ("0.weight conv1.weight extra\n", "line 1: expected `FILE_KEY NETSPEC_KEY`, found '0.weight conv1.weight extra'"),
    ("0.weight conv1.weight\n0.weight conv2.weight\n", "line 2: the file key 0.weight is already mapped on line 1"),
    ("0.weight conv1.weight\n3.weight conv1.weight\n", "line 2: the netspec key conv1.weight is already mapped on line 1"),
])
def test_a_wrong_map_line_is_named(tmp_path, lenet, state, text, message):
    path = write_map(tmp_path, text)
    with pytest.raises(netspec.DataError) as caught:
        bind(lenet.graph, state, "lenet5.pt", read_map(path))  # a line of the map may be wrong in itself
    assert str(caught.value) == f"map file {path}, {message}"


def test_an_unreadable_map_file_is_named(tmp_path):
    with pytest.raises(netspec.DataError, match="^map file .*missing.map: cannot read it"):
        read_map(tmp_path / "missing.map")
    (tmp_path / "latin1.map").write_bytes(b"caf\xe9 conv1.weight\n")
    with pytest.raises(netspec.DataError, match="latin1.map is not UTF-8 text"):
        read_map(tmp_path / "latin1.map")
