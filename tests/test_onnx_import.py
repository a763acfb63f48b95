"""ONNX import, judged by its sources: what netspec's export wrote comes back as the same
layers and weights; what PyTorch's exporter wrote checks with PyTorch's parameter count
and runs as ONNX Runtime does; everything else is refused with every reason at once."""
import os
import sys

import numpy as np
import pytest
from functools import lru_cache

from hypothesis import HealthCheck, given, settings, strategies as st

import netspec
from netspec.errors import DataError
from netspec.network import check_onnx
from netspec.ops import OPS
from netspec.weights import validate, weight_shapes
from specs import EVERY_KIND, random_spec, random_weights

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from netspec.interop.onnx_export import export_onnx  # noqa: E402
from netspec.interop.onnx_import import IMPORTERS, import_model, import_onnx, valid_name  # noqa: E402

ZOO = ["alexnet", "vgg11", "nin", "googlenet", "resnet18", "densenet"]


def ort_run(model, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the machine is shared
    serialized = model if isinstance(model, (bytes, str)) else model.SerializeToString()
    session = ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def assert_close(got, expected, tolerance):
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * max(1.0, float(np.abs(expected).max())))


def imported_network(model, name="imported"):
    imported = import_model(model, name)
    return netspec.loads(imported.spec, f"{name}.net"), imported


# -- What netspec exported comes back unchanged ----------------------------------

def expected_layer(layer):
    """The kind and attributes an exported layer comes back as: adaptive pooling whose
    windows divide the input evenly was exported as the AveragePool it equals."""
    if layer.node.kind == "adaptiveavgpool":
        (_, n_h, n_w), (out_h, out_w) = layer.input_shape, layer.attrs.size
        if n_h % out_h == 0 and n_w % out_w == 0:
            return "avgpool", (n_h // out_h, n_w // out_w)
    return layer.node.kind, layer.attrs


def assert_round_trip(network, weights):
    back, imported = imported_network(export_onnx(network.graph, weights), network.name)
    assert len(back.graph.layers) == len(network.graph.layers)
    for original, layer in zip(network.graph.layers, back.graph.layers):
        assert layer.node.name == original.node.name.replace(".", "_")
        kind, attrs = expected_layer(original)
        assert layer.node.kind == kind, original.node.name
        assert (layer.attrs.kernel if kind != original.node.kind else layer.attrs) == attrs, original.node.name
        assert layer.output_shape == original.output_shape
        assert [shape for shape, _ in layer.node.expectations] == [original.output_shape]  # every line states its shape
    assert list(imported.weights) == [key.replace(".", "_", key.count(".") - 1) for key in weights]
    for key, array in weights.items():
        np.testing.assert_array_equal(imported.weights[key.replace(".", "_", key.count(".") - 1)], array, err_msg=key)
    return back


@pytest.mark.parametrize("name", ["lenet5", "mlp", *ZOO])
def test_exported_examples_import_as_the_same_layers_and_weights(name):
    network = netspec.load(f"examples/{name}.net")
    assert_round_trip(network, random_weights(network.graph, np.random.default_rng(0)))


def test_every_kind_comes_back_from_its_export():
    network = netspec.loads(EVERY_KIND)
    back = assert_round_trip(network, random_weights(network.graph, np.random.default_rng(1)))
    assert {layer.node.kind for layer in back.graph.layers} == set(OPS)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_spec(max_size=12))
def test_random_specs_come_back_from_their_export(spec):
    network = netspec.loads(spec)
    assert_round_trip(network, random_weights(network.graph, np.random.default_rng(2)))


def test_imported_spec_reads_as_a_spec():
    imported = import_model(export_onnx(netspec.load("examples/lenet5.net").graph), "lenet5", origin="lenet5.onnx")
    assert imported.spec.splitlines()[:6] == [
        f"# Imported by netspec {netspec.__version__} from lenet5.onnx (made by netspec {netspec.__version__}, "
        "ONNX opset 28).",
        "network lenet5",
        "input 1x28x28",
        "",
        "conv 6 kernel=5 padding=2 -> 6x28x28",
        "sigmoid                   -> 6x28x28",
    ]
    assert imported.spec.splitlines()[-1] == "dense 10                  -> 10"


# -- What PyTorch exported checks and runs as ONNX Runtime does -------------------

def lenet5():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


SIZES = {"lenet5": 28, "alexnet": 224, "vgg11": 224, "nin": 224, "googlenet": 96, "resnet18": 96, "densenet": 96}


@pytest.fixture(scope="module")
def torch_export(tmp_path_factory):
    """The ONNX file torch.onnx.export writes for a model (made once per model and mode).
    TrainingMode.PRESERVE keeps batchnorm a BatchNormalization (the default eval export
    folds it into the convolution before it, and its parameters with it)."""
    torch = pytest.importorskip("torch")
    import warnings

    from d2l_models import MODELS

    folder, made = tmp_path_factory.mktemp("torch"), {}

    def export(name, keep_batchnorm=True):
        path = folder / f"{name}{'' if keep_batchnorm else '-folded'}.onnx"
        if path not in made:
            torch.manual_seed(0)
            model = (lenet5 if name == "lenet5" else MODELS[name])().eval()
            mode = torch.onnx.TrainingMode.PRESERVE if keep_batchnorm else torch.onnx.TrainingMode.EVAL
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated, and says so
                torch.onnx.export(model, torch.rand(1, 1, SIZES[name], SIZES[name]), str(path), dynamo=False,
                                  input_names=["x"], output_names=["y"], training=mode,
                                  dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
            made[path] = sum(p.numel() for p in model.parameters())
        return path, made[path]

    return export


@pytest.mark.parametrize("name", ["lenet5", *ZOO])
def test_pytorch_exports_check_with_pytorchs_parameters_and_run_as_onnx_runtime(name, torch_export):
    path, parameters = torch_export(name)
    network = netspec.load_onnx(path)
    assert network.graph.params == parameters
    x = np.random.default_rng(0).random((1 if name == "vgg11" else 2, 1, SIZES[name], SIZES[name]), dtype=np.float32)
    assert_close(network.compile(threads=1)(x), ort_run(str(path), x), 1e-4)


def test_batchnorm_folded_by_pytorchs_exporter_still_runs_as_onnx_runtime(torch_export):
    path, parameters = torch_export("resnet18", keep_batchnorm=False)
    network = netspec.load_onnx(path)
    assert "batchnorm" not in {layer.node.kind for layer in network.graph.layers}
    assert network.graph.params == parameters - 2 * sum(layer.output_shape[0] for layer in
                                                        netspec.load("examples/resnet18.net").graph.layers
                                                        if layer.node.kind == "batchnorm")
    x = np.random.default_rng(1).random((2, 1, 96, 96), dtype=np.float32)
    assert_close(network.compile(threads=1)(x), ort_run(str(path), x), 1e-4)


def test_pytorch_names_become_valid_names(torch_export):
    path, _ = torch_export("resnet18")
    names = [layer.node.name for layer in netspec.load_onnx(path).graph.layers]
    assert names[:5] == ["layer0_Conv", "layer1_BatchNormalization", "layer2_Relu", "layer3_MaxPool", "layer4_conv1_Conv"]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("onnx_name, name", [
    ("/features/features.0/Conv", "features_features_0_Conv"), ("/0/Conv", "layer0_Conv"), ("conv1", "conv1"),
    ("residual1.conv1", "residual1_conv1"), ("+++", ""), ("x" * 100, "x" * 64), ("é/b", "b")])
def test_node_names_are_made_valid(onnx_name, name):
    assert valid_name(onnx_name) == name


# -- Models written with onnx.helper: each conversion, run against ONNX Runtime --

def model_of(nodes, input_shape, constants=None, opset=20):
    """A model reading `x` and returning the last node's first output."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(value), name) for name, value in (constants or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def weights(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


CONVERSIONS = {
    "Gemm transB=0 with alpha and beta: the weight is transposed and scaled": (
        model_of([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", alpha=0.5, beta=2.0)], ["N", 6],
                 {"w": weights(6, 4), "b": weights(1, 4)}), ["fc: dense 4"]),
    "MatMul then Add of a constant: one dense layer with a bias": (
        model_of([helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
                  helper.make_node("Add", ["m", "b"], ["y"], name="plus")], ["N", 6],
                 {"w": weights(6, 3), "b": weights(3)}), ["plus: dense 3"]),
    "MatMul alone: a dense layer without bias": (
        model_of([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], ["N", 6], {"w": weights(6, 3)}),
        ["mm: dense 3 bias=false"]),
    "a Reshape to (0, -1) and a Reshape to (batch, features) flatten": (
        model_of([helper.make_node("Reshape", ["x", "s"], ["r"], name="r1"), helper.make_node("Relu", ["r"], ["y"])],
                 ["N", 2, 3, 4], {"s": np.array([0, -1], np.int64)}), ["r1: flatten", "relu"]),
    "a Reshape to (1, 24) with the batch fixed at 1 flattens": (
        model_of([helper.make_node("Reshape", ["x", "s"], ["y"], name="r1")], [1, 2, 3, 4],
                 {"s": np.array([1, 24], np.int64)}), ["r1: flatten"]),
    "Identity and Dropout pass their input on; dropout keeps its ratio": (
        model_of([helper.make_node("Identity", ["x"], ["i"]), helper.make_node("Dropout", ["i", "p"], ["d"]),
                  helper.make_node("Tanh", ["d"], ["y"])], ["N", 3, 4, 4], {"p": np.array(0.25, np.float32)}),
        ["dropout 0.25", "tanh"]),
    "SAME_LOWER puts the odd padding row at the top": (
        model_of([helper.make_node("Conv", ["x", "w"], ["y"], name="c", auto_pad="SAME_LOWER", strides=[2, 2])],
                 ["N", 1, 6, 6], {"w": weights(2, 1, 2, 2)}), ["c: conv 2 kernel=2 stride=2 bias=false"]),
    "ceil_mode=1 where every window fits is floor pooling": (
        model_of([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], strides=[2, 2],
                                   ceil_mode=1)], ["N", 1, 6, 6]), ["p: maxpool kernel=2"]),
    "AveragePool without padding ignores count_include_pad": (
        model_of([helper.make_node("AveragePool", ["x"], ["y"], name="p", kernel_shape=[3, 3], strides=[1, 2])],
                 ["N", 2, 7, 7]), ["p: avgpool kernel=3 stride=1x2"]),
    "Softmax over the features, Sum of three tensors, Concat along channels": (
        model_of([helper.make_node("Sigmoid", ["x"], ["a"]), helper.make_node("Relu", ["x"], ["b"]),
                  helper.make_node("Sum", ["a", "b", "x"], ["s"], name="s"),
                  helper.make_node("Concat", ["s", "a"], ["c"], name="c", axis=1),
                  helper.make_node("Softmax", ["c"], ["y"], name="sm", axis=1)], ["N", 5]),
        ["sigmoid", "relu input=input", "s: add sigmoid1 relu1 input", "c: concat s sigmoid1", "sm: softmax"]),
    "BatchNormalization keeps its epsilon": (
        model_of([helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], name="bn", epsilon=1e-3)],
                 ["N", 3, 2, 2], {"g": weights(3), "b": weights(3, seed=1), "m": weights(3, seed=2),
                                  "v": np.array([0.5, 1.0, 2.0], np.float32)}), ["bn: batchnorm eps=0.001"]),
}


@pytest.mark.parametrize("case", CONVERSIONS)
def test_each_conversion_gives_its_statements_and_runs_as_onnx_runtime(case):
    model, statements = CONVERSIONS[case]
    network, imported = imported_network(model)
    assert [line.split(" ->")[0].rstrip() for line in imported.spec.splitlines()[4:]] == statements
    batch = 1 if model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1 else 3
    x = np.random.default_rng(3).normal(size=(batch, *network.input_shape)).astype(np.float32)
    assert_close(network.compile(weights=imported.weights, threads=1)(x), ort_run(model, x), 1e-5)


def test_every_importer_is_for_a_standard_operator():
    schemas = {schema.name for schema in onnx.defs.get_all_schemas()}
    assert sorted(set(IMPORTERS) - schemas) == []


# -- What netspec cannot express: every node, with its reason ---------------------

def refusal(model) -> list[str]:
    """The lines of the error that importing `model` raises."""
    with pytest.raises(DataError) as raised:
        import_model(model)
    return str(raised.value).splitlines()


def test_every_unsupported_node_is_listed_with_its_reason():
    model = model_of([
        helper.make_node("LRN", ["x"], ["n"], name="norm1", size=3),
        helper.make_node("Conv", ["n", "w"], ["c"], name="grouped", group=2),
        helper.make_node("MaxPool", ["c"], ["p"], name="ceiled", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        helper.make_node("AveragePool", ["p"], ["a"], name="excluding", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["a", "k"], ["y"], name="offset"),
    ], ["N", 4, 7, 7], {"w": weights(4, 2, 1, 1), "k": np.float32(1)})
    assert refusal(model) == [
        "netspec cannot express 5 of the model's 5 nodes:",
        "  LRN node `norm1`: netspec has no layer computing LRN",
        "  Conv node `grouped`: group=2: netspec's conv connects every input channel to every output channel (group=1)",
        "  MaxPool node `ceiled`: ceil_mode=1 adds a last window past the bottom or right edge here; netspec's pooling "
        "rounds down (PyTorch's ceil_mode=False); pad the input so that the windows fit",
        "  AveragePool node `excluding`: count_include_pad=0 divides a window at the border by the cells inside the "
        "input; netspec's avgpool counts the padded zeros (count_include_pad=1, PyTorch's default)",
        "  Add node `offset`: it adds a constant; netspec joins tensors the network computes (a bias belongs to a "
        "conv or dense layer)",
    ]


def test_a_node_whose_second_output_is_used_is_refused():
    model = model_of([helper.make_node("MaxPool", ["x"], ["p", "indices"], name="pool", kernel_shape=[2, 2]),
                      helper.make_node("Cast", ["indices"], ["f"], name="cast", to=TensorProto.FLOAT),
                      helper.make_node("Add", ["p", "f"], ["y"], name="sum")], ["N", 1, 4, 4])
    assert refusal(model) == [
        "netspec cannot express 2 of the model's 3 nodes:",
        "  MaxPool node `pool`: its output 2, `indices`, is used; a netspec layer has one output",
        "  Cast node `cast`: netspec has no layer computing Cast",
    ]


def test_unsupported_nodes_through_the_command_line_are_one_error(cli, tmp_path):
    model = model_of([helper.make_node("LRN", ["x"], ["n"], name="norm1", size=3),
                      helper.make_node("Elu", ["n"], ["y"], name="elu1")], ["N", 1, 4, 4])
    onnx.save(model, str(tmp_path / "model.onnx"))
    result = cli("check", str(tmp_path / "model.onnx"))
    assert result.exit_code == 1
    assert result.stderr.count("error[E0408]") == 1
    assert f"cannot import {tmp_path / 'model.onnx'}: netspec cannot express 2 of the model's 2 nodes" in result.stderr
    assert "LRN node `norm1`" in result.stderr and "Elu node `elu1`" in result.stderr


# -- The command line ------------------------------------------------------------

def test_import_writes_the_spec_and_its_weights_beside_it(cli, tmp_path, torch_export):
    path, parameters = torch_export("lenet5")
    result = cli("import", str(path), "-o", str(tmp_path / "lenet.net"))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"wrote {tmp_path / 'lenet.net'}: network lenet, 12 layers, 61,706 parameters",
                                          f"wrote {tmp_path / 'lenet.npz'}: 10 arrays, 244 KiB"]
    network = netspec.load(tmp_path / "lenet.net")
    assert network.graph.params == parameters
    x = np.random.default_rng(4).random((3, 1, 28, 28), dtype=np.float32)
    assert_close(network.compile(weights=tmp_path / "lenet.npz", threads=1)(x), ort_run(str(path), x), 1e-4)


def test_check_and_run_take_an_onnx_file(cli, tmp_path, torch_export):
    path, _ = torch_export("lenet5")
    checked = cli("check", str(path))
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.startswith("network lenet5\n") and "61,706" in checked.stdout
    x = np.random.default_rng(5).random((2, 1, 28, 28), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    ran = cli("run", str(path), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert ran.exit_code == 0, ran.output
    assert "untrained" not in ran.output
    assert_close(np.load(tmp_path / "y.npy"), ort_run(str(path), x), 1e-4)


def test_import_needs_a_net_file_name(cli, tmp_path):
    result = cli("import", "model.onnx", "-o", str(tmp_path / "model.npz"))
    assert result.exit_code == 2
    assert "must end in .net" in result.stderr


def test_fix_leaves_an_onnx_file_alone(cli, torch_export):
    path, _ = torch_export("lenet5")
    before = path.read_bytes()
    result = cli("fix", str(path))
    assert result.exit_code == 1 and "`netspec import` it to a spec" in result.stderr
    assert path.read_bytes() == before


def test_without_onnx_the_commands_say_what_to_install(cli, tmp_path, monkeypatch, torch_export):
    path, _ = torch_export("lenet5")
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails as if it were not installed
    for module in ("netspec.interop.onnx_import", "netspec.interop.onnx_read", "netspec.interop.onnx_export"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    for args in (["check", str(path)], ["run", str(path)], ["import", str(path), "-o", str(tmp_path / "m.net")]):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert "importing ONNX models needs the onnx package: pip install 'netspec[onnx]'" in result.stderr
    assert not (tmp_path / "m.net").exists()


# -- Hostile files: one clear error each, never a traceback -----------------------

def lenet_bytes():
    return export_onnx(netspec.load("examples/lenet5.net").graph).SerializeToString()


def hostile_models():
    """Each hostile file, and what its error says."""
    relu = helper.make_node("Relu", ["x"], ["y"], name="relu1")
    cycle = helper.make_graph([helper.make_node("Add", ["x", "b"], ["a"], name="first"),
                               helper.make_node("Relu", ["a"], ["b"], name="second")], "cycle",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 4])])
    missing = model_of([helper.make_node("Conv", ["x", "conv1.weight"], ["y"], name="conv1")], ["N", 1, 4, 4])
    huge_weight = numpy_helper.from_array(weights(2, 1, 1, 1), "w")
    huge_weight.dims[:] = [2**40, 1, 1, 1]
    absurd_weight = model_of([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")], ["N", 1, 4, 4])
    absurd_weight.graph.initializer.append(huge_weight)
    outside = model_of([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")], ["N", 1, 4, 4])
    external = numpy_helper.from_array(weights(2, 1, 1, 1), "w")
    onnx.external_data_helper.set_external_data(external, "../outside.bin", offset=0, length=8)
    external.ClearField("raw_data")
    outside.graph.initializer.append(external)
    return {
        "truncated.onnx": (lenet_bytes()[:5000], "is not an ONNX model (it does not parse as one"),
        "garbage.onnx": (bytes(range(256)) * 8, "is not an ONNX model"),
        "not_a_model.onnx": (helper.make_graph([relu], "g", [], []).SerializeToString(),
                             "holds no graph of nodes, so it is not an ONNX model"),
        "empty.onnx": (b"", "holds no graph of nodes"),
        "cycle.onnx": (helper.make_model(cycle).SerializeToString(),
                       "the graph has a cycle: these nodes read, directly or not, what they write themselves: "
                       "Add node `first`, Relu node `second`"),
        "missing_initializer.onnx": (missing.SerializeToString(), "Conv node `conv1` reads `conv1.weight`, which no "
                                                                  "initializer, input or node provides"),
        "absurd_input.onnx": (model_of([relu], ["N", 2**40]).SerializeToString(),
                              f"the input `x` has size {2**40}, outside 1 to 2147483647"),
        "absurd_weight.onnx": (absurd_weight.SerializeToString(),
                               "tensor `w` has dims [1099511627776, 1, 1, 1] (4,398,046,511,104 bytes of float32) "
                               "but holds 8 bytes"),
        "external_outside.onnx": (outside.SerializeToString(), "tensor `w` keeps its data in `../outside.bin`, "
                                                               "outside the model's folder"),
    }


@pytest.mark.parametrize("name", ["truncated.onnx", "garbage.onnx", "not_a_model.onnx", "empty.onnx", "cycle.onnx",
                                  "missing_initializer.onnx", "absurd_input.onnx", "absurd_weight.onnx",
                                  "external_outside.onnx"])
@pytest.mark.parametrize("command", ["check", "run", "import"])
def test_hostile_files_get_one_clear_error(cli, tmp_path, name, command):
    folder = tmp_path / "models"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(bytes(8))  # there, but outside the model's folder
    data, message = hostile_models()[name]
    (folder / name).write_bytes(data)
    args = [command, str(folder / name)] + (["-o", str(tmp_path / "out.net")] if command == "import" else [])
    result = cli(*args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.count("error") == 1 + (command != "import"), result.stderr  # and the explain hint
    assert f"cannot import {folder / name}: " in result.stderr and message in result.stderr, result.stderr
    assert not (tmp_path / "out.net").exists()


def test_models_with_more_nodes_than_a_spec_may_have_layers_are_refused_at_once():
    from netspec.frontend.build import MAX_NODES

    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(MAX_NODES + 1)]
    nodes[0].input[0] = "x"
    assert refusal(model_of(nodes, ["N", 4])) == [
        f"the model has {MAX_NODES + 1:,} nodes; a netspec network has at most {MAX_NODES:,} layers"]


def test_pipes_are_refused_before_they_are_opened(cli, tmp_path):
    os.mkfifo(tmp_path / "pipe.onnx")  # opening it would wait for a writer, reading it for ever
    result = cli("check", str(tmp_path / "pipe.onnx"))
    assert result.exit_code == 1 and "the file is not a regular file" in result.stderr
    os.mkfifo(tmp_path / "data.bin")
    model = model_of([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")], ["N", 1, 4, 4])
    tensor = numpy_helper.from_array(weights(2, 1, 1, 1), "w")
    onnx.external_data_helper.set_external_data(tensor, "data.bin", offset=0, length=8)
    tensor.ClearField("raw_data")
    model.graph.initializer.append(tensor)
    onnx.save(model, str(tmp_path / "model.onnx"))
    result = cli("check", str(tmp_path / "model.onnx"))
    assert result.exit_code == 1 and "its external file `data.bin` is not a regular file" in result.stderr


def test_external_data_beside_the_model_is_read(tmp_path):
    network = netspec.load("examples/lenet5.net")
    model = export_onnx(network.graph, seed=3)
    onnx.save(model, str(tmp_path / "lenet5.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="lenet5.data", size_threshold=0)
    imported = import_onnx(tmp_path / "lenet5.onnx")
    from netspec.weights import initial_weights

    for key, array in initial_weights(network.graph, 3).items():
        np.testing.assert_array_equal(imported.weights[key], array)
    (tmp_path / "lenet5.data").write_bytes((tmp_path / "lenet5.data").read_bytes()[:1000])
    with pytest.raises(DataError, match=r"tensor `conv2.weight`: its external file `lenet5.data` ends before byte"):
        import_onnx(tmp_path / "lenet5.onnx")
    with pytest.raises(DataError, match="read the model from its file"):
        import_model(onnx.load(str(tmp_path / "lenet5.onnx"), load_external_data=False))


# -- Models taken apart: whatever a mutation leaves is imported or refused ---------

@lru_cache(maxsize=1)
def seed_models():
    """Valid models with every kind and with the forms other exporters write."""
    every_kind = netspec.loads(EVERY_KIND)
    foreign = model_of([
        helper.make_node("Conv", ["x", "w", "wb"], ["c"], name="c", auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node("AveragePool", ["c"], ["a"], name="a", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         count_include_pad=1),
        helper.make_node("BatchNormalization", ["a", "g", "b", "m", "v"], ["n"], name="n"),
        helper.make_node("Identity", ["n"], ["i"]),
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([0, -1], np.int64))),
        helper.make_node("Reshape", ["i", "shape"], ["r"], name="r"),
        helper.make_node("Dropout", ["r", "p", "training"], ["d"], name="d"),
        helper.make_node("MatMul", ["d", "mw"], ["mm"], name="mm"),
        helper.make_node("Add", ["mm", "mb"], ["f"], name="f"),
        helper.make_node("Gemm", ["f", "gw"], ["y"], name="y"),
    ], ["N", 2, 5, 5], {"w": weights(3, 2, 3, 3), "wb": weights(3), "g": weights(3), "b": weights(3),
                        "m": weights(3), "v": np.ones(3, np.float32), "p": np.float32(0.5), "training": np.bool_(False),
                        "mw": weights(27, 4), "mb": weights(4), "gw": weights(4, 2)})
    return export_onnx(every_kind.graph, random_weights(every_kind.graph, np.random.default_rng(0))), foreign


NUMBERS = st.sampled_from([-2**63, -1, 0, 1, 2, 3, 5, 7, 2**31, 2**40, 2**62])


def _index(draw, items) -> int | None:
    return draw(st.integers(0, len(items) - 1)) if len(items) else None


def _tensor_names(model):
    graph = model.graph
    return sorted({*(t for n in graph.node for t in (*n.input, *n.output)), *(t.name for t in graph.initializer),
                   *(v.name for v in graph.input), "nowhere", ""})


def deleting(field: str):
    """A mutation deleting one of the graph's nodes or initializers."""
    def delete(model, draw):
        items = getattr(model.graph, field)
        index = _index(draw, items)
        if index is not None:
            del items[index]

    return delete


def add_output(model, draw):
    """A second output, which `rewire_input` may then connect to."""
    index = _index(draw, model.graph.node)
    if index is not None:
        model.graph.node[index].output.append(f"extra{index}")


def duplicate_node(model, draw):
    index = _index(draw, model.graph.node)
    if index is not None:
        model.graph.node.append(model.graph.node[index])


def rewire_input(model, draw):
    index = _index(draw, model.graph.node)
    if index is not None and model.graph.node[index].input:
        node = model.graph.node[index]
        node.input[draw(st.integers(0, len(node.input) - 1))] = draw(st.sampled_from(_tensor_names(model)))


def change_op_type(model, draw):
    index = _index(draw, model.graph.node)
    if index is not None:
        model.graph.node[index].op_type = draw(st.sampled_from([*IMPORTERS, "LRN", "Shape", "If", "Pad"]))


def set_attribute(model, draw):
    index = _index(draw, model.graph.node)
    if index is None:
        return
    node = model.graph.node[index]
    name = draw(st.sampled_from(["group", "dilations", "ceil_mode", "auto_pad", "axis", "transA", "transB", "alpha",
                                 "training_mode", "count_include_pad", "pads", "strides", "kernel_shape", "epsilon"]))
    value = draw(st.one_of(NUMBERS, st.lists(NUMBERS, min_size=1, max_size=5), st.floats(width=32),
                           st.sampled_from(["SAME_LOWER", "VALID", "NOTSET", "SAME"])))
    del node.attribute[:draw(st.integers(0, len(node.attribute)))]
    node.attribute.append(helper.make_attribute(name, value))


def change_initializer_dims(model, draw):
    index = _index(draw, model.graph.initializer)
    if index is not None:
        model.graph.initializer[index].dims[:] = draw(st.lists(NUMBERS, max_size=5))


def truncate_initializer(model, draw):
    index = _index(draw, model.graph.initializer)
    if index is not None:
        model.graph.initializer[index].raw_data = bytes(draw(st.integers(0, 40)))


def keep_data_outside(model, draw):
    index = _index(draw, model.graph.initializer)
    if index is None:
        return
    tensor = model.graph.initializer[index]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    values = ["data.bin", "../outside.bin", "/etc/hostname", "a/../../x", "missing.bin", "", "-1", "abc",
              "99999999999999999999", "8"]
    for key in ("location", "offset", "length"):
        if draw(st.booleans()):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, draw(st.sampled_from(values))


def change_input_size(model, draw):
    dims = model.graph.input[0].type.tensor_type.shape.dim
    index = _index(draw, dims)
    if index is not None:
        if draw(st.booleans()):
            dims[index].dim_value = draw(NUMBERS)
        else:
            dims[index].dim_param = "H"


def change_input_type(model, draw):
    model.graph.input[0].type.tensor_type.elem_type = draw(st.integers(0, 30))


def change_opset(model, draw):
    model.opset_import[0].version = draw(st.sampled_from([1, 6, 7, 11, 12, 13, 28, 99]))


def rename_output(model, draw):
    model.graph.output[0].name = draw(st.sampled_from(_tensor_names(model)))


def reverse_nodes(model, draw):
    model.graph.node.reverse()


MUTATIONS = (deleting("node"), duplicate_node, add_output, deleting("initializer"), rewire_input, change_op_type, set_attribute,
             change_initializer_dims, truncate_initializer, keep_data_outside, change_input_size, change_input_type,
             change_opset, rename_output, reverse_nodes)


@st.composite
def mutated_models(draw):
    model = onnx.ModelProto()
    model.CopyFrom(draw(st.sampled_from(seed_models())))
    for _ in range(draw(st.integers(1, 3))):
        draw(st.sampled_from(MUTATIONS))(model, draw)
    return model


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(model=mutated_models())
def test_mutated_models_are_imported_or_refused(model, tmp_path):
    (tmp_path / "data.bin").write_bytes(bytes(range(64)))
    (tmp_path / "model.onnx").write_bytes(model.SerializeToString())
    result = check_onnx(str(tmp_path / "model.onnx"))
    assert result.ok or any(d.is_error for d in result.diagnostics)
    if result.ok:
        validate(result.weights, weight_shapes(result.graph), "the import")  # a checked import brings its weights
