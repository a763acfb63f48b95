"""The generated training step never leaves its buffers: random valid specs (and the
spec with every kind) train under the bounds-checked build, where every load and store
of the forward pass, the loss and the backward pass is tested against its buffer, and
must count zero violations while giving the unchecked build's loss and gradients."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netspec
from netspec.backends.llvm.training import compile_training
from specs import EVERY_KIND, random_spec, random_weights

LONG = os.environ.get("NETSPEC_FUZZ") == "long"


def assert_in_bounds_and_unchanged(graph, weights, x, targets, threads, loss):
    checked = compile_training(graph, weights, seed=1, threads=threads, loss=loss, bounds_check=True)
    plain = compile_training(graph, weights, seed=1, threads=threads, loss=loss)
    got, expected = checked.loss_and_gradients(x, targets), plain.loss_and_gradients(x, targets)
    assert checked.out_of_bounds_accesses == 0
    assert got[0] == pytest.approx(expected[0], rel=1e-5)
    # The same computation summed in another order (checked accesses do not vectorise),
    # which batchnorm magnifies where its gradients are rounding noise (a batchnorm
    # feeding a batchnorm is nearly scale-invariant: float64 gives its weight 6e-6 where
    # the largest gradient is 1, the two float32 builds 5.1e-6 and 5.6e-6). Accuracy
    # against PyTorch is tested elsewhere; here the builds must agree to 1e-3 of the scale.
    scale = max([1e-3, *(float(np.abs(array).max()) for array in expected[1].values())])
    for key, array in expected[1].items():
        np.testing.assert_allclose(got[1][key], array, rtol=0, atol=1e-3 * scale, err_msg=key)


@settings(max_examples=2000 if LONG else 40, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=random_spec(max_size=12), batch=st.integers(2, 21), threads=st.sampled_from([1, 2]),
       loss=st.sampled_from(["cross-entropy", "mse"]), seed=st.integers(0, 10**6))
def test_random_specs_train_in_bounds(spec, batch, threads, loss, seed):
    graph = netspec.loads(spec).graph
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, *graph.input_shape)).astype(np.float32)
    classes = int(np.prod(graph.output_shape))
    assert_in_bounds_and_unchanged(graph, random_weights(graph, rng), x, rng.integers(0, classes, batch), threads,
                                   loss)


def test_the_spec_with_every_kind_trains_in_bounds():
    graph = netspec.loads(EVERY_KIND).graph
    rng = np.random.default_rng(3)
    x = rng.normal(size=(19, *graph.input_shape)).astype(np.float32)
    assert_in_bounds_and_unchanged(graph, random_weights(graph, rng), x, rng.integers(0, 4, 19), 2, "cross-entropy")
