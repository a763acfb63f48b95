"""netspec against PyTorch on the same weights (skipped when torch is not installed)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netspec
from specs import random_spec, random_weights

torch = pytest.importorskip("torch")
F = torch.nn.functional

from d2l_models import lenet5  # noqa: E402  (needs torch)
from torch_reference import torch_forward  # noqa: E402


def state_as_weights(module):
    names = {"0": "conv1", "3": "conv2", "7": "dense1", "9": "dense2", "11": "dense3"}
    return {f"{names[k.split('.')[0]]}.{k.split('.')[1]}": v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_lenet5_matches_pytorch(batch, tmp_path):
    torch.manual_seed(batch)
    reference = lenet5().eval()
    weights = state_as_weights(reference)
    np.savez(tmp_path / "w.npz", **weights)
    x = np.random.default_rng(batch).random((batch, 1, 28, 28), dtype=np.float32)
    model = netspec.load("examples/lenet5.net").compile(weights=str(tmp_path / "w.npz"))
    with torch.inference_mode():
        expected = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_spec(max_size=12), batch=st.integers(1, 4), seed=st.integers(0, 1000))
def test_random_specs_match_pytorch(spec, batch, seed):
    network = netspec.loads(spec)
    rng = np.random.default_rng(seed)
    weights = random_weights(network.graph, rng)
    x = rng.normal(size=(batch, *network.input_shape)).astype(np.float32)
    with torch.inference_mode():
        expected = torch_forward(network.graph, weights, x)
    got = network.compile(weights=weights)(x)
    assert np.isfinite(expected).all()  # a NaN on both sides would compare equal
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def test_same_padding_matches_pytorch_same():
    network = netspec.loads("network s\ninput 2x7x6\nconv 3 kernel=3 padding=same\n")
    rng = np.random.default_rng(0)
    weights = {"conv1.weight": rng.normal(size=(3, 2, 3, 3)).astype(np.float32),
               "conv1.bias": rng.normal(size=3).astype(np.float32)}
    x = rng.normal(size=(2, 2, 7, 6)).astype(np.float32)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(weights["conv1.weight"]),
                        torch.from_numpy(weights["conv1.bias"]), padding="same").numpy()
    np.testing.assert_allclose(network.compile(weights=weights)(x), expected, rtol=1e-5, atol=1e-5)


def test_pooling_with_padding_matches_pytorch_modules():
    x = np.random.default_rng(3).normal(size=(2, 3, 9, 8)).astype(np.float32)
    for kind, module in (("maxpool", torch.nn.MaxPool2d(3, 2, padding=1)), ("avgpool", torch.nn.AvgPool2d(3, 2, padding=1))):
        network = netspec.loads(f"network p\ninput 3x9x8\n{kind} kernel=3 stride=2 padding=1\n")
        expected = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(network.compile()(x), expected, rtol=1e-6, atol=1e-6)
