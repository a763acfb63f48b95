"""`netspec train`: a line (or JSON object) per epoch, the weights written, refusals."""
import json
import re

import numpy as np
import pytest

import netspec
from netspec.train.checkpoint import load_checkpoint

SMALL = "network small\ninput 1x8x8\nconv 4 kernel=3\nrelu\nflatten\ndense 10\n"


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "small.net"
    path.write_text(SMALL)
    return str(path)


def test_training_on_the_digits_prints_each_epoch_and_writes_weights_run_can_read(cli, spec, tmp_path):
    pytest.importorskip("sklearn")
    weights = str(tmp_path / "w.npz")
    result = cli("train", spec, "--data", "digits", "-o", weights, "--epochs", "2", "--optimizer", "sgd",
                 "--lr", "0.1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    pattern = (r"epoch \d: loss \d+\.\d{4}, accuracy \d+\.\d%, validation accuracy \d+\.\d%, [\d,]+ images/s, "
               r"\d+\.\d s")
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    trained = dict(np.load(weights))
    assert sorted(trained) == ["conv1.bias", "conv1.weight", "dense1.bias", "dense1.weight"]
    netspec.load(spec).compile(weights)  # the weights bind to the network


def test_json_gives_one_object_per_epoch(cli, spec, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((20, 1, 8, 8), dtype=np.float32), y=rng.integers(0, 10, 20))
    result = cli("train", spec, "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "w.npz"), "--json",
                 "--epochs", "3", "--optimizer", "adamw")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["epoch"] for record in records] == [1, 2, 3]
    assert set(records[0]) == {"epoch", "loss", "accuracy", "validation_accuracy", "validation_loss",
                               "images_per_second", "seconds"}
    assert all(0 <= record["accuracy"] <= 1 and 0 <= record["validation_accuracy"] <= 1 for record in records)
    assert all(record["validation_loss"] is None and record["images_per_second"] > 0 and record["seconds"] > 0
               for record in records)


def test_batchnorm_trains_and_writes_its_running_statistics(cli, tmp_path):
    path = tmp_path / "bn.net"
    path.write_text("network bn\ninput 1x8x8\nconv 4 kernel=3\nbatchnorm\nrelu\nflatten\ndense 10\n")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((20, 1, 8, 8), dtype=np.float32), y=rng.integers(0, 10, 20))
    weights = str(tmp_path / "w.npz")
    result = cli("train", str(path), "--data", str(tmp_path / "d.npz"), "-o", weights, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("epoch 1: loss ")
    trained = _weights(weights)
    assert not np.array_equal(trained["batchnorm1.running_mean"], np.zeros(4, np.float32))
    assert not np.array_equal(trained["batchnorm1.running_var"], np.ones(4, np.float32))
    netspec.load(str(path)).compile(weights)  # inference reads them


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((20, 1, 8, 8), dtype=np.float32), y=rng.integers(0, 10, 20))
    return str(tmp_path / "d.npz")


def _weights(path) -> dict:
    with np.load(path) as archive:
        return dict(archive)


def test_resuming_after_two_epochs_gives_the_weights_of_four_straight(cli, tmp_path, data):
    # Dropout too: its masks' generator is part of the checkpoint; batchnorm too: its
    # running statistics are.
    path = tmp_path / "drop.net"
    path.write_text("network drop\ninput 1x8x8\nconv 4 kernel=3\nbatchnorm\nrelu\nflatten\ndropout 0.3\n"
                    "dense 10\n")
    common = ["train", str(path), "--data", data, "--batch", "8"]
    assert cli(*common, "-o", str(tmp_path / "straight.npz"), "--epochs", "4").exit_code == 0
    assert cli(*common, "-o", str(tmp_path / "w.npz"), "--epochs", "2").exit_code == 0
    result = cli(*common, "-o", str(tmp_path / "w.npz"), "--epochs", "4", "--resume")
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["epoch 3", "epoch 4"]
    straight, resumed = _weights(tmp_path / "straight.npz"), _weights(tmp_path / "w.npz")
    assert "batchnorm1.running_var" in straight
    assert all(np.array_equal(straight[key], resumed[key]) for key in straight)


def test_the_same_seed_gives_bit_identical_weights(cli, spec, tmp_path, data):
    for name in ("a.npz", "b.npz"):
        assert cli("train", spec, "--data", data, "-o", str(tmp_path / name), "--epochs", "2").exit_code == 0
    first, second = _weights(tmp_path / "a.npz"), _weights(tmp_path / "b.npz")
    assert all(np.array_equal(first[key], second[key]) for key in first)


def test_a_checkpoint_of_another_run_is_refused_naming_what_differs(cli, spec, tmp_path, data):
    output = str(tmp_path / "w.npz")
    assert cli("train", spec, "--data", data, "-o", output, "--epochs", "1").exit_code == 0
    result = cli("train", spec, "--data", data, "-o", output, "--epochs", "2", "--batch", "4", "--resume")
    assert result.exit_code == 1
    assert "w.checkpoint.npz was written by another training run (batch was 16, now 4)" in result.stderr
    other = tmp_path / "other.net"
    other.write_text(SMALL.replace("conv 4", "conv 5"))
    result = cli("train", str(other), "--data", data, "-o", output, "--epochs", "2", "--resume")
    assert result.exit_code == 1 and "spec was '" in result.stderr


@pytest.mark.parametrize("content, message", [
    (None, "no checkpoint to resume from"),
    (b"junk", "is not a readable netspec checkpoint (not an .npz archive)"),
])
def test_a_missing_or_damaged_checkpoint_is_refused(cli, spec, tmp_path, data, content, message):
    if content is not None:
        (tmp_path / "w.checkpoint.npz").write_bytes(content)
    result = cli("train", spec, "--data", data, "-o", str(tmp_path / "w.npz"), "--resume")
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_ctrl_c_keeps_the_last_epochs_checkpoint_and_says_how_to_resume(cli, spec, tmp_path, data, monkeypatch):
    from netspec.train.optimizers import Adam

    steps = []
    original = Adam.step

    def interrupted(self, weights, gradients, state):
        steps.append(state.steps)
        if len(steps) == 3:  # the first step of epoch 2 (16 training examples, batches of 8)
            raise KeyboardInterrupt
        return original(self, weights, gradients, state)

    monkeypatch.setattr(Adam, "step", interrupted)
    result = cli("train", spec, "--data", data, "-o", str(tmp_path / "w.npz"), "--epochs", "3", "--batch", "8")
    assert result.exit_code == 130
    assert (f"interrupted in epoch 2: the checkpoint after epoch 1 is in {tmp_path / 'w.checkpoint.npz'}; "
            "--resume continues from it") in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["d.npz", "small.net", "w.checkpoint.npz", "w.npz"]


def test_a_loss_that_is_no_longer_finite_stops_training_naming_step_and_layer(cli, spec, tmp_path, data):
    result = cli("train", spec, "--data", data, "-o", str(tmp_path / "w.npz"), "--epochs", "3", "--batch", "8",
                 "--optimizer", "sgd", "--lr", "1e30")
    assert result.exit_code == 1
    assert re.search(r"error: step \d+ \(epoch \d\): the loss is \S+ and layer \w+ has the first gradients that "
                     r"are not finite; lower the learning rate", result.stderr), result.stderr


def test_momentum_weight_decay_and_a_schedule_are_the_optimizers_and_checked_on_resume(cli, spec, tmp_path, data):
    common = ["train", spec, "--data", data, "-o", str(tmp_path / "w.npz"), "--optimizer", "sgd", "--momentum", "0.9",
              "--weight-decay", "0.0001", "--schedule", "step", "--step-size", "1", "--gamma", "0.5"]
    assert cli(*common, "--epochs", "1").exit_code == 0
    header = json.loads(str(np.load(tmp_path / "w.checkpoint.npz")["header"]))
    assert header["run"]["optimizer"] == "SGD(lr=0.01, momentum=0.9, nesterov=False, weight_decay=0.0001)"
    assert header["run"]["schedule"] == "Step(step_size=1, gamma=0.5)"
    result = cli(*common[:-1], "0.1", "--epochs", "2", "--resume")
    assert result.exit_code == 1 and "schedule was 'Step(step_size=1, gamma=0.5)'" in result.stderr
    result = cli(*common, "--epochs", "2", "--resume", "--threads", "2")
    assert result.exit_code == 1 and "threads was 1" in result.stderr


def test_momentum_is_refused_for_adam(cli, spec, tmp_path, data):
    result = cli("train", spec, "--data", data, "-o", str(tmp_path / "w.npz"), "--momentum", "0.9")
    assert result.exit_code == 1
    assert "momentum is SGD's; adam keeps moment estimates of its own" in result.stderr


def test_val_split_and_val_are_one_choice(cli, spec, tmp_path, data):
    result = cli("train", spec, "--data", data, "-o", str(tmp_path / "w.npz"), "--val-split", "0.5", "--val", data)
    assert result.exit_code == 1
    assert "--val-split and --val both choose the validation examples; give one" in result.stderr


def test_a_loss_lost_in_a_later_epoch_keeps_the_last_good_checkpoint(cli, spec, tmp_path, data):
    # The rate jumps to 1e33 in epoch 2.
    result = cli("train", spec, "--data", data, "-o", str(tmp_path / "w.npz"), "--epochs", "3", "--batch", "8",
                 "--optimizer", "sgd", "--schedule", "step", "--step-size", "1", "--gamma", "1e35")
    assert result.exit_code == 1
    assert "(epoch 2)" in result.stderr
    assert f"(the checkpoint after epoch 1 is in {tmp_path / 'w.checkpoint.npz'})" in result.stderr
    checkpoint = load_checkpoint(str(tmp_path / "w.checkpoint.npz"))
    assert checkpoint.epoch == 1 and all(np.isfinite(array).all() for array in checkpoint.weights.values())


def test_a_checkpoint_of_another_loss_is_refused(cli, spec, tmp_path, data):
    output = str(tmp_path / "w.npz")
    assert cli("train", spec, "--data", data, "-o", output, "--epochs", "1").exit_code == 0
    assert json.loads(str(np.load(tmp_path / "w.checkpoint.npz")["header"]))["run"]["loss"] == "cross-entropy"
    result = cli("train", spec, "--data", data, "-o", output, "--epochs", "2", "--loss", "mse", "--resume")
    assert result.exit_code == 1
    assert "another training run (loss was 'cross-entropy', now 'mse')" in result.stderr


def test_float_targets_train_with_mse_and_report_the_validation_loss(cli, spec, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", x=rng.random((20, 1, 8, 8), dtype=np.float32), y=rng.random((20, 10), np.float32))
    common = ["train", spec, "--data", str(tmp_path / "t.npz"), "-o", str(tmp_path / "w.npz"), "--epochs", "2"]
    result = cli(*common, "--loss", "mse")
    assert result.exit_code == 0, result.output
    pattern = r"epoch \d: loss \d+\.\d{4}, validation loss \d+\.\d{4}, [\d,]+ images/s, \d+\.\d s"
    assert all(re.fullmatch(pattern, line) for line in result.stdout.splitlines()), result.stdout
    refused = cli(*common)
    assert refused.exit_code == 1 and "classes are integers (float targets, one per output, need the mse loss)" \
        in refused.stderr


def test_threads_train_on_as_many_threads_and_the_same_threads_repeat_the_weights(cli, spec, tmp_path, data):
    for name in ("a.npz", "b.npz"):
        result = cli("train", spec, "--data", data, "-o", str(tmp_path / name), "--epochs", "2", "--threads", "2")
        assert result.exit_code == 0, result.output
    first, second = _weights(tmp_path / "a.npz"), _weights(tmp_path / "b.npz")
    assert all(np.array_equal(first[key], second[key]) for key in first)


def test_threads_and_the_loss_reach_the_training_step(cli, spec, tmp_path, data, monkeypatch):
    import netspec.train.loop as loop

    compiled, original = [], loop.compile_training

    def recorded(graph, weights, seed=0, **options):
        compiled.append(options)
        return original(graph, weights, seed, **options)

    monkeypatch.setattr(loop, "compile_training", recorded)
    result = cli("train", spec, "--data", data, "-o", str(tmp_path / "w.npz"), "--epochs", "1", "--threads", "2",
                 "--loss", "mse")
    assert result.exit_code == 0, result.output
    assert compiled == [{"threads": 2, "loss": "mse"}]


def test_each_epoch_has_a_progress_bar_counting_its_training_examples(spec, data, monkeypatch):
    import netspec.train.loop as loop
    from netspec.train.data import load_dataset, wanted
    from netspec.train.optimizers import SGD
    from netspec.weights import initial_weights

    bars = []

    class Bar:
        def __init__(self, total, description, enabled):
            self.total, self.description, self.enabled, self.counted = total, description, enabled, 0
            bars.append(self)

        def update(self, count):
            self.counted += count

        def set_postfix_str(self, text, refresh=True):
            assert text.startswith("loss ")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(loop, "progress_bar", lambda total, description, enabled: Bar(total, description, enabled))
    graph = netspec.load(spec).graph
    dataset = load_dataset(data, wanted(graph), seed=0)  # 16 training examples
    list(loop.train(graph, initial_weights(graph, 0), dataset, SGD(), 2, 3, progress=True))
    assert [(bar.description, bar.total, bar.counted, bar.enabled) for bar in bars] == [
        ("epoch 1", 16, 16, True), ("epoch 2", 16, 16, True)]
