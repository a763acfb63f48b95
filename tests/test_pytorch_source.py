"""PyTorch source export: the generated module is readable, its state_dict keys are
netspec's weight keys, it computes what netspec computes, and weights trained in
PyTorch come back to netspec unchanged."""
import importlib.util
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netspec
from netspec.errors import DataError
from netspec.interop.pytorch_source import MODULE_ATTRIBUTES, PYTORCH, to_pytorch_source
from netspec.ops import OPS
from netspec.weights import weight_shapes
from specs import EVERY_KIND, random_spec, random_weights

torch = pytest.importorskip("torch")

ZOO = ["alexnet", "vgg11", "nin", "googlenet", "resnet18", "densenet"]


_FILES = itertools.count()


def module_class(source: str, directory):
    """The network's class from the generated file (the file's last class). Each file gets
    a new name: a rewritten file of the same size in the same second could otherwise be
    run from the bytecode Python cached for the previous one."""
    name = f"generated{next(_FILES)}"
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [value for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, torch.nn.Module) and value.__module__ == name]
    return classes[-1]


def as_tensors(weights):
    return {key: torch.from_numpy(np.asarray(array)) for key, array in weights.items()}


def assert_module_matches_netspec(network, weights, x, directory):
    model = module_class(to_pytorch_source(network.graph), directory)()
    assert list(model.state_dict()) == list(weight_shapes(network.graph))
    model.load_state_dict(as_tensors(weights))
    with torch.inference_mode():
        got = model.eval()(torch.from_numpy(x)).numpy()
    expected = network.compile(weights=weights)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_every_kind_has_a_pytorch_emitter():
    assert sorted(set(OPS) - set(PYTORCH)) == [], "kinds without a PyTorch emitter"
    assert sorted(set(PYTORCH) - set(OPS)) == [], "emitters for kinds that do not exist"


def test_reserved_attribute_names_cover_nn_module():
    public = {name for name in dir(torch.nn.Module()) if not name.startswith("_")}
    assert sorted(public - MODULE_ATTRIBUTES) == [], "nn.Module attributes missing from MODULE_ATTRIBUTES"


def test_every_kind_matches_netspec(tmp_path):
    network = netspec.loads(EVERY_KIND)
    assert {layer.node.kind for layer in network.graph.layers} == set(OPS)
    rng = np.random.default_rng(0)
    assert_module_matches_netspec(network, random_weights(network.graph, rng),
                                  rng.normal(size=(3, *network.input_shape)).astype(np.float32), tmp_path)


def test_calls_written_differently_get_their_own_class():
    source = to_pytorch_source(netspec.loads(EVERY_KIND).graph)
    assert "self.down1 = Down()\n" in source and "self.down2 = Down2()\n" in source
    assert "        self.conv1 = nn.Conv2d(3, 4, kernel_size=3, stride=2, padding=1)\n" in source
    assert "        self.conv1 = nn.Conv2d(4, 6, kernel_size=3, stride=2)\n" in source
    assert "        conv1 = self.conv1(nn.functional.pad(input, (0, 1, 0, 1)))\n" in source
    assert "        self.batchnorm1 = nn.BatchNorm2d(6, eps=0.001)\n" in source


def test_uneven_padding_pads_first_with_what_the_layer_pads_with():
    source = to_pytorch_source(netspec.loads(EVERY_KIND).graph)
    assert "conv2 = self.conv2(nn.functional.pad(down1, (1, 1, 1, 0)))" in source
    assert 'p = self.p(nn.functional.pad(s, (1, 1, 1, 0), value=float("-inf")))' in source
    assert "avgpool1 = self.avgpool1(nn.functional.pad(p, (1, 0, 0, 1)))" in source
    assert "self.conv1 = nn.Conv2d(4, 6, kernel_size=(3, 1), stride=2, padding=(1, 0), bias=False)" in source


@pytest.mark.parametrize("name", ["lenet5", "mlp", *ZOO])
def test_example_modules_match_netspec(name, tmp_path):
    network = netspec.load(f"examples/{name}.net")
    rng = np.random.default_rng(1)
    x = rng.random((1 if network.graph.macs > 10**9 else 2, *network.input_shape), dtype=np.float32)
    assert_module_matches_netspec(network, random_weights(network.graph, rng), x, tmp_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec=random_spec(max_size=12), batch=st.integers(1, 3), seed=st.integers(0, 1000))
def test_random_specs_match_netspec(spec, batch, seed, tmp_path):
    network = netspec.loads(spec)
    rng = np.random.default_rng(seed)
    assert_module_matches_netspec(network, random_weights(network.graph, rng),
                                  rng.normal(size=(batch, *network.input_shape)).astype(np.float32), tmp_path)


def test_resnet_reads_like_its_spec():
    source = to_pytorch_source(netspec.load("examples/resnet18.net").graph)
    assert "class Residual(nn.Module):" in source
    assert "    def __init__(self, in_channels, channels):" in source
    assert "        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, stride=2, padding=1)" in source
    assert "        self.shortcut = nn.Conv2d(in_channels, channels, kernel_size=1, stride=2)" in source
    assert "        add1 = main + shortcut" in source
    assert "        self.residual1 = Residual(in_channels=64, channels=128)" in source
    assert "        self.same_residual1 = SameResidual(channels=64)" in source
    assert "        same_residual2 = self.same_residual2(same_residual1)" in source
    assert "        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)" in source
    assert "        return dense1" in source
    compile(source, "resnet18.py", "exec")


def test_nested_blocks_become_nested_modules(tmp_path):
    network = netspec.loads("network nested\ninput 2x5x5\n"
                            "block unit(c) {\n conv c kernel=1\n relu\n}\n"
                            "block stage(c) {\n unit c\n last: unit c\n add in\n}\n"
                            "stage 2\nstage 2\nflatten\ndense 3\n")
    source = to_pytorch_source(network.graph)
    assert "self.unit1 = Unit(in_channels=2, c=2)" not in source  # every call of unit is alike
    assert "self.last = Unit()" in source and "self.stage2 = Stage()" in source
    assert "stage1.last.conv1.weight" in weight_shapes(network.graph)
    rng = np.random.default_rng(2)
    assert_module_matches_netspec(network, random_weights(network.graph, rng),
                                  rng.normal(size=(2, 2, 5, 5)).astype(np.float32), tmp_path)


def test_weights_trained_in_pytorch_come_back_unchanged(tmp_path):
    network = netspec.load("examples/resnet18.net")
    model = module_class(to_pytorch_source(network.graph), tmp_path)()
    model.load_state_dict(as_tensors(netspec.weights.initial_weights(network.graph, 3)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.rand(4, 1, 96, 96)
    loss = torch.nn.functional.cross_entropy(model.train()(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    trained = {key: value.numpy() for key, value in model.state_dict().items()}
    assert not np.array_equal(trained["batchnorm1.running_mean"], np.zeros(64))  # statistics were updated
    with torch.inference_mode():
        expected = model.eval()(x).numpy()
    np.testing.assert_allclose(network.compile(weights=trained)(x.numpy()), expected, rtol=1e-4,
                               atol=1e-5 * float(np.abs(expected).max()))


def test_python_keywords_and_reserved_names_become_other_variables(tmp_path):
    network = netspec.loads("network names\ninput 4\nclass: relu\ntorch: sigmoid\nself: tanh\ndense 2\n")
    source = to_pytorch_source(network.graph)
    assert "class_ = torch.relu(input)" in source and "torch_ = torch.sigmoid(class_)" in source
    rng = np.random.default_rng(3)
    assert_module_matches_netspec(network, random_weights(network.graph, rng),
                                  rng.normal(size=(2, 4)).astype(np.float32), tmp_path)


@pytest.mark.parametrize("name, why", [("train", "is an attribute of nn.Module"), ("def", "is a Python keyword"),
                                       ("_modules", "names PyTorch's internals")])
def test_names_that_cannot_be_submodules_are_refused(name, why):
    network = netspec.loads(f"network clash\ninput 4\n{name}: dense 2\n")
    with pytest.raises(DataError, match=f"`{name}` cannot be a PyTorch submodule: `{name}` {why}; rename it"):
        to_pytorch_source(network.graph)
