"""Optimizers: steps equal torch.optim's from the same weights and gradients."""
import numpy as np
import pytest

from netspec.train.optimizers import SGD, Adam, AdamW, OptimizerState

torch = pytest.importorskip("torch")

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
