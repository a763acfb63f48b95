"""Learning-rate schedules: each epoch's rate equals torch.optim.lr_scheduler's."""
import numpy as np
import pytest

import netspec
from netspec.train.data import Dataset, Examples
from netspec.train.loop import train
from netspec.train.optimizers import SGD
from netspec.train.schedules import Constant, Cosine, Step, choose_schedule
from netspec.weights import initial_weights


@pytest.mark.parametrize("schedule, scheduler, settings", [
    (Step(3, 0.5), "StepLR", dict(step_size=3, gamma=0.5)),
    (Step(1, 0.9), "StepLR", dict(step_size=1, gamma=0.9)),
    (Cosine(10), "CosineAnnealingLR", dict(T_max=10)),
    (Cosine(7, 0.001), "CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
], ids=repr)
def test_each_epochs_rate_equals_torch_lr_scheduler(schedule, scheduler, settings):
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    reference = getattr(torch.optim.lr_scheduler, scheduler)(optimizer, **settings)
    for epoch in range(12 if isinstance(schedule, Step) else settings["T_max"] + 1):
        assert schedule.rate(0.1, epoch) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
        optimizer.step()
        reference.step()


def test_schedules_are_chosen_by_name_and_cosine_anneals_over_every_epoch():
    assert choose_schedule("constant", 5) == Constant()
    assert choose_schedule("step", 5, 2, 0.5) == Step(2, 0.5)
    assert choose_schedule("cosine", 5) == Cosine(5)
    assert Constant().rate(0.3, 9) == 0.3


def test_the_loop_trains_each_epoch_at_the_schedules_rate():
    # A rate of 0 from the second epoch on: plain SGD then leaves the weights as they were.
    graph = netspec.loads("network small\ninput 1x4x4\nflatten\ndense 3\n").graph
    rng = np.random.default_rng(0)
    examples = Examples(rng.random((12, 1, 4, 4), dtype=np.float32), rng.integers(0, 3, 12))
    epochs = [checkpoint.weights for _, checkpoint in train(
        graph, initial_weights(graph, 0), Dataset(examples, examples, 3), SGD(lr=0.5), 3, 4, schedule=Step(1, 0.0))]
    assert not np.array_equal(epochs[0]["dense1.weight"], initial_weights(graph, 0)["dense1.weight"])
    assert all(np.array_equal(epochs[0][key], epochs[2][key]) for key in epochs[0])
