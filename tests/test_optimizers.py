"""Optimizers: steps equal torch.optim's from the same weights and gradients, and
training LeNet-5 with them follows PyTorch's loss curve."""
import numpy as np
import pytest

import netspec
from netspec.backends.llvm.training import compile_training
from netspec.train.optimizers import SGD, Adam, AdamW, OptimizerState
from netspec.weights import initial_weights

torch = pytest.importorskip("torch")
from test_training import torch_loss_and_gradients  # noqa: E402

CASES = [
    (SGD(lr=0.1), torch.optim.SGD, dict(lr=0.1)),
    (SGD(lr=0.1, momentum=0.9, weight_decay=0.01), torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    (SGD(lr=0.05, momentum=0.8, nesterov=True), torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True)),
    (Adam(lr=0.01), torch.optim.Adam, dict(lr=0.01)),
    (Adam(lr=0.01, weight_decay=0.1), torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    (AdamW(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99)), torch.optim.AdamW,
     dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99))),
]


@pytest.mark.parametrize("optimizer, torch_optimizer, settings", CASES, ids=lambda case: repr(case)[:40])
def test_three_steps_equal_torch_optim(optimizer, torch_optimizer, settings):
    rng = np.random.default_rng(0)
    weights = {"a.weight": rng.standard_normal((3, 4)).astype(np.float32),
               "a.bias": rng.standard_normal(3).astype(np.float32)}
    parameters = {key: torch.tensor(array, requires_grad=True) for key, array in weights.items()}
    reference = torch_optimizer(list(parameters.values()), **settings)
    state = OptimizerState()
    for _ in range(3):
        gradients = {key: rng.standard_normal(array.shape).astype(np.float32) for key, array in weights.items()}
        for key, parameter in parameters.items():
            parameter.grad = torch.from_numpy(gradients[key])
        reference.step()
        weights, state = optimizer.step(weights, gradients, state)
        for key, parameter in parameters.items():
            np.testing.assert_allclose(weights[key], parameter.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
            assert weights[key].dtype == np.float32, key  # as PyTorch's parameters stay


@pytest.mark.parametrize("optimizer", [case[0] for case in CASES], ids=lambda optimizer: repr(optimizer)[:40])
def test_running_statistics_have_no_gradient_and_stay_as_they_are(optimizer):
    weights = {"a.weight": np.ones(3, np.float32), "a.running_var": np.full(3, 2.0, np.float32)}
    updated, state = optimizer.step(weights, {"a.weight": np.ones(3, np.float32)}, OptimizerState())
    np.testing.assert_array_equal(updated["a.running_var"], weights["a.running_var"])
    assert not np.array_equal(updated["a.weight"], weights["a.weight"])
    assert set(state.buffers) <= {"a.weight"}


@pytest.mark.parametrize("optimizer, torch_optimizer, settings", [
    (Adam(lr=0.01), torch.optim.Adam, dict(lr=0.01)),
    (SGD(lr=0.1, momentum=0.9), torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
], ids=["adam", "sgd-momentum"])
def test_ten_steps_of_training_lenet5_follow_pytorchs_loss_curve(optimizer, torch_optimizer, settings):
    """Each step's loss, from netspec's gradients and optimizer, within relative 1e-4 of
    PyTorch's (autograd's gradients, torch.optim's step) on the same batches, from the
    same weights; the curve falls, so both sides have moved the weights."""
    graph = netspec.load("examples/lenet5.net").graph
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, *graph.input_shape)).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    trainer = compile_training(graph, initial_weights(graph, seed=0))
    parameters = {key: torch.tensor(array, requires_grad=True) for key, array in trainer.weights.items()}
    reference = torch_optimizer(list(parameters.values()), **settings)
    state, losses, expected_losses = OptimizerState(), [], []
    for _ in range(10):
        loss, gradients = trainer.loss_and_gradients(x, labels)
        trainer.weights, state = optimizer.step(trainer.weights, gradients, state)
        expected_loss, expected, _ = torch_loss_and_gradients(
            graph, {key: parameter.detach().numpy() for key, parameter in parameters.items()}, x, labels)
        for key, parameter in parameters.items():
            parameter.grad = torch.from_numpy(expected[key])
        reference.step()
        losses.append(loss)
        expected_losses.append(expected_loss)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4)
    assert expected_losses[-1] < expected_losses[0] - 0.1
