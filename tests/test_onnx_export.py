"""ONNX export, judged by ONNX itself: its full checker, its own shape inference against
netspec's checker (every layer), and ONNX Runtime's outputs against netspec's compiled
code on the examples and on random specs."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netspec
from netspec.errors import DataError
from netspec.ops import OPS
from netspec.weights import weight_shapes
from specs import EVERY_KIND, random_spec, random_weights

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402
from netspec.interop.onnx_export import BATCH, EXPORTERS, OPSET, export_onnx, save_onnx  # noqa: E402

ZOO = ["alexnet", "vgg11", "nin", "googlenet", "resnet18", "densenet"]


def ort_run(serialized: bytes, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the machine is shared; one core is plenty for these sizes
    session = ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def without_data(model):
    """The model with its initializers declared as graph inputs of the same type: ONNX
    infers the same shapes without copying hundreds of megabytes of weights twice."""
    graph = model.graph
    declared = [onnx.helper.make_tensor_value_info(t.name, t.data_type, t.dims) for t in graph.initializer]
    return onnx.helper.make_model(onnx.helper.make_graph(graph.node, graph.name, [*graph.input, *declared], graph.output),
                                  opset_imports=model.opset_import)


def assert_shapes_inferred_as_netspec(model, graph):
    inferred = onnx.shape_inference.infer_shapes(without_data(model), check_type=True, strict_mode=True)
    values = {v.name: v for v in (*inferred.graph.value_info, *inferred.graph.output)}
    for layer in graph.layers:
        dims = values[layer.node.name].type.tensor_type.shape.dim
        assert dims[0].dim_param == BATCH, layer.node.name
        assert tuple(d.dim_value for d in dims[1:]) == layer.output_shape, layer.node.name


def assert_exports_faithfully(network, weights, x):
    """The three promises: a valid model, netspec's shapes, netspec's outputs to 1e-5."""
    model = export_onnx(network.graph, weights)
    serialized = model.SerializeToString()
    onnx.checker.check_model(serialized, full_check=True)
    assert_shapes_inferred_as_netspec(model, network.graph)
    expected = network.compile(weights=weights)(x)
    got = ort_run(serialized, x)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_every_kind_has_an_exporter():
    assert sorted(set(OPS) - set(EXPORTERS)) == [], "kinds without an ONNX exporter"
    assert sorted(set(EXPORTERS) - set(OPS)) == [], "exporters for kinds that do not exist"


def test_the_every_kind_spec_uses_every_kind():
    assert {layer.node.kind for layer in netspec.loads(EVERY_KIND).graph.layers} == set(OPS)


@pytest.mark.parametrize("batch", [1, 3])
def test_every_kind_and_padding_form_matches_netspec(batch):
    network = netspec.loads(EVERY_KIND)
    rng = np.random.default_rng(batch)
    assert_exports_faithfully(network, random_weights(network.graph, rng),
                              rng.normal(size=(batch, *network.input_shape)).astype(np.float32))


@pytest.mark.parametrize("name", ["lenet5", "mlp", *ZOO])
def test_example_exports_are_valid_with_netspec_shapes_and_outputs(name):
    network = netspec.load(f"examples/{name}.net")
    rng = np.random.default_rng(0)
    x = rng.random((1 if network.graph.macs > 10**9 else 2, *network.input_shape), dtype=np.float32)
    assert_exports_faithfully(network, random_weights(network.graph, rng), x)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_spec(max_size=12), batch=st.integers(1, 3), seed=st.integers(0, 1000))
def test_random_specs_export_faithfully(spec, batch, seed):
    network = netspec.loads(spec)
    rng = np.random.default_rng(seed)
    assert_exports_faithfully(network, random_weights(network.graph, rng),
                              rng.normal(size=(batch, *network.input_shape)).astype(np.float32))


def test_names_follow_netspec():
    network = netspec.load("examples/resnet18.net")
    weights = random_weights(network.graph, np.random.default_rng(1))
    model = export_onnx(network.graph, weights)
    graph = model.graph
    assert [i.name for i in graph.input] == ["input"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == BATCH
    assert [o.name for o in graph.output] == ["dense1"]
    assert {n.name for n in graph.node} == {layer.node.name for layer in network.graph.layers}
    assert all(n.output == [n.name] for n in graph.node)
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    assert list(initializers) == list(weight_shapes(network.graph))
    for key, array in weights.items():
        np.testing.assert_array_equal(initializers[key], array)
    assert [o.version for o in model.opset_import] == [OPSET]


def test_batchnorm_stays_a_batchnorm_with_its_eps():
    model = export_onnx(netspec.loads("network b\ninput 2x3x3\nconv 2 kernel=1\nbatchnorm eps=0.01\n").graph)
    (batchnorm,) = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    assert batchnorm.name == "batchnorm1"
    assert list(batchnorm.input) == ["conv1", "batchnorm1.weight", "batchnorm1.bias",
                                     "batchnorm1.running_mean", "batchnorm1.running_var"]
    assert onnx.helper.get_attribute_value(batchnorm.attribute[0]) == pytest.approx(0.01)


def test_asymmetric_padding_becomes_onnx_pads():
    model = export_onnx(netspec.loads("network p\ninput 1x6x6\nconv 1 kernel=3 padding=0,1,2,0\n").graph)
    pads = next(a for a in model.graph.node[0].attribute if a.name == "pads")
    assert list(pads.ints) == [0, 2, 1, 0]  # top, left, bottom, right


def test_adaptive_pooling_with_a_divisible_size_is_an_average_pool():
    model = export_onnx(netspec.loads("network a\ninput 1x8x6\nadaptiveavgpool 4x3\n").graph)
    assert [n.op_type for n in model.graph.node] == ["AveragePool"]
    uneven = export_onnx(netspec.loads("network a\ninput 1x7x5\nadaptiveavgpool 3x2\n").graph)
    assert [n.op_type for n in uneven.graph.node] == ["MatMul", "MatMul"]


def test_seeded_export_holds_the_seeded_weights():
    from netspec.weights import initial_weights

    graph = netspec.load("examples/lenet5.net").graph
    model = export_onnx(graph, seed=7)
    for tensor, (key, array) in zip(model.graph.initializer, initial_weights(graph, 7).items()):
        assert tensor.name == key
        np.testing.assert_array_equal(numpy_helper.to_array(tensor), array)


def test_wrong_weights_are_refused_with_their_keys():
    graph = netspec.load("examples/lenet5.net").graph
    with pytest.raises(DataError, match="conv1.weight: missing"):
        export_onnx(graph, {})


def test_weights_beyond_two_gib_are_refused_before_being_made():
    graph = netspec.loads("network huge\ninput 65536\ndense 16384\n").graph
    with pytest.raises(DataError, match="the weights of huge take 4.0 GiB; an ONNX file holds at most 2 GiB"):
        export_onnx(graph)


def test_averaging_matrices_beyond_two_gib_are_refused_before_being_made():
    graph = netspec.loads("network wide\ninput 1x40000x40000\nadaptiveavgpool 39999x39999\n").graph
    with pytest.raises(DataError, match="adaptiveavgpool1: ONNX has no adaptive pooling, and its averaging matrices "
                                        "take 11.9 GiB"):
        export_onnx(graph)


def test_saved_file_loads_back_equal(tmp_path):
    model = export_onnx(netspec.load("examples/mlp.net").graph)
    save_onnx(model, tmp_path / "mlp.onnx")
    assert onnx.load(str(tmp_path / "mlp.onnx")) == model
    with pytest.raises(DataError, match="cannot write"):
        save_onnx(model, tmp_path / "missing" / "mlp.onnx")
