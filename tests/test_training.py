"""Training on the LLVM backend: the loss and every weight gradient of the generated
training step equal PyTorch's autograd (central differences, which need no PyTorch, are
in test_training_differences.py)."""
import re
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.backends.llvm.gradients import GRADIENTS
from netspec.backends.llvm.training import compile_training, running_statistics
from netspec.ops import OPS
from netspec.errors import DataError
from netspec.weights import initial_weights

torch = pytest.importorskip("torch")
from torch_reference import TORCH  # noqa: E402


def torch_loss_and_gradients(graph, weights, x, labels, masks=None, loss="cross-entropy"):
    """Cross-entropy on the logits (before a final softmax), or the mean squared error of
    the outputs (after it) from `labels` (float targets, or class labels as one-hot
    vectors); autograd's gradients of the parameters and the running statistics after
    the step; dropout layers multiply by their mask in `masks`, batchnorm layers
    normalise in training mode (PyTorch's momentum 0.1). Computed in the precision of
    the arrays given (float64 ones give a near-exact reference)."""
    statistics = {key: torch.tensor(weights[key]) for key in running_statistics(graph)}
    parameters = {key: torch.tensor(array, requires_grad=True)
                  for key, array in weights.items() if key not in statistics}
    values = {"input": torch.from_numpy(x)}
    logits = graph.layers[-1].node.kind == "softmax" and loss == "cross-entropy"
    layers = graph.layers[:-1] if logits else graph.layers
    for layer in layers:
        operands, name = [values[n] for n in layer.node.inputs], layer.node.name
        if layer.node.kind == "dropout":
            values[name] = operands[0] * torch.from_numpy(masks[name])
        elif layer.node.kind == "batchnorm":
            values[name] = torch.nn.functional.batch_norm(
                operands[0], statistics[f"{name}.running_mean"], statistics[f"{name}.running_var"],
                parameters[f"{name}.weight"], parameters[f"{name}.bias"], training=True, momentum=0.1,
                eps=layer.attrs.eps)
        else:
            values[name] = TORCH[layer.node.kind](layer, operands, parameters)
    outputs = values[layers[-1].node.name].flatten(1)
    if loss == "cross-entropy":
        value = torch.nn.functional.cross_entropy(outputs, torch.from_numpy(labels))
    else:
        targets = torch.from_numpy(labels).float() if labels.dtype.kind == "f" else \
            torch.nn.functional.one_hot(torch.from_numpy(labels), outputs.shape[1]).float()
        value = torch.nn.functional.mse_loss(outputs, targets.reshape(outputs.shape))
    value.backward()
    return (value.item(), {key: parameter.grad.numpy() for key, parameter in parameters.items()},
            {key: statistic.numpy() for key, statistic in statistics.items()})


def training_batch(graph, seed: int, batch: int, float_targets: bool = False):
    """Seeded initial weights with random running statistics, a batch of normal inputs and
    random labels (or normal float targets), all float32."""
    rng = np.random.default_rng(seed)
    weights = initial_weights(graph, seed=seed)
    for key in running_statistics(graph):
        weights[key] = rng.uniform(0.5, 1.5, weights[key].shape).astype(np.float32)
    x = rng.standard_normal((batch, *graph.input_shape)).astype(np.float32)
    classes = int(np.prod(graph.layers[-1].output_shape))
    labels = rng.standard_normal((batch, classes)).astype(np.float32) if float_targets else \
        rng.integers(0, classes, batch)
    return weights, x, labels


def assert_gradients_match(graph, seed=0, batch=3, threads=1, loss="cross-entropy", float_targets=False):
    """Loss and gradients as PyTorch's, and running statistics (from random ones) as
    PyTorch's after the step."""
    weights, x, labels = training_batch(graph, seed, batch, float_targets)
    trainer = compile_training(graph, weights, seed, threads, loss)
    masks = trainer.draw_masks(batch)
    value, gradients = trainer.loss_and_gradients(x, labels, masks)
    expected_loss, expected, statistics = torch_loss_and_gradients(graph, weights, x, labels, masks, loss)
    assert value == pytest.approx(expected_loss, rel=1e-5)
    assert gradients.keys() == expected.keys()
    for key in expected:
        scale = np.abs(expected[key]).max() or 1.0
        np.testing.assert_allclose(gradients[key], expected[key], rtol=0, atol=1e-4 * scale, err_msg=key)
    for key in statistics:
        np.testing.assert_allclose(trainer.weights[key], statistics[key], rtol=0, atol=1e-5, err_msg=key)


def spec(body: str, input_shape="2x9x8") -> str:
    return f"network t\ninput {input_shape}\n{body}"


def test_lenet5_gradients_equal_pytorch_autograd():
    assert_gradients_match(netspec.load("examples/lenet5.net").graph, batch=4)


# Every pooling layer here follows a layer with weights: the first layer's backward pass
# reaches only the input, whose gradient no test sees.
@pytest.mark.parametrize("body", [
    "conv 3 kernel=3 stride=2 padding=1\nrelu\nflatten\ndense 4\n",
    "conv 3 kernel=2x3 stride=2x1 padding=0,1,2,0 bias=false\ntanh\navgpool kernel=2 padding=1\nflatten\ndense 5\n",
    "conv 2 kernel=1\navgpool kernel=3 stride=2 padding=0,1,1,0\nconv 4 kernel=3 padding=1x0\nsigmoid\nflatten\n"
    "dense 3 bias=false\n",
    "conv 2 kernel=1\nrelu\nconv 3 kernel=3 stride=3 padding=same\nflatten\ndense 6\ntanh\ndense 3\nsoftmax\n",
])
def test_gradients_equal_pytorch_autograd_over_kinds_and_padding_forms(body):
    assert_gradients_match(netspec.loads(spec(body)).graph)


@pytest.mark.parametrize("body", [
    "conv 2 kernel=1\nmaxpool kernel=2 stride=1 padding=1\nconv 2 kernel=2\nmaxpool kernel=3 stride=2 padding=0,1,1,0\n"
    "flatten\ndense 3\n",
    "a: conv 3 kernel=3 padding=1\nb: conv 3 kernel=1 input=input\ns: add a b a\nconcat s b\nrelu\n"
    "globalavgpool\nflatten\nsoftmax\ndense 4\n",
    "conv 2 kernel=1\nadaptiveavgpool 4x3\nconv 2 kernel=2\nadaptiveavgpool 2x2\nflatten\ndense 3\n",
    # `same` on pooling, with kernels that are not square and a stride larger than the kernel
    "conv 2 kernel=1\nmaxpool kernel=2x3 stride=2 padding=same\nconv 2 kernel=1\navgpool kernel=1x2 stride=3 padding=same\n"
    "flatten\ndense 3\n",
])
def test_gradients_of_pooling_joins_and_inner_softmax_equal_pytorch_autograd(body):
    assert_gradients_match(netspec.loads(spec(body)).graph)


# A bias feeding a batchnorm has gradient 0 exactly (the batch mean removes it), so both
# sides would compare float32 rounding noise: those layers have none, as is usual.
@pytest.mark.parametrize("body", [
    "conv 3 kernel=3 bias=false\nbatchnorm\nrelu\nflatten\ndense 4\n",
    "flatten\ndense 6 bias=false\nbatchnorm eps=0.01\ntanh\ndense 3\n",
    "conv 2 kernel=3 bias=false\nbatchnorm\nrelu\nconv 3 kernel=2 bias=false\nbatchnorm\ntanh\nflatten\n"
    "dense 5 bias=false\nbatchnorm\nsigmoid\ndense 3\n",
])
def test_batchnorm_in_training_mode_has_pytorch_gradients_and_running_statistics(body):
    assert_gradients_match(netspec.loads(spec(body)).graph, batch=4)


@pytest.mark.parametrize("batch, threads", [(4, 1), (35, 2)])
def test_lenet5_with_batchnorm_has_pytorch_gradients_and_running_statistics(batch, threads):
    lines = Path("examples/lenet5.net").read_text().splitlines()
    body = "\n".join(line.split("->")[0].rstrip() + (" bias=false\nbatchnorm" if line.startswith(("conv", "dense 1",
                                                                                                "dense 8")) else "")
                     for line in lines)
    assert_gradients_match(netspec.loads(body).graph, batch=batch, threads=threads)


DROPOUT_AND_JOINS = ("a: conv 3 kernel=3 padding=1\nb: conv 3 kernel=1 input=input\ns: add a b\nconcat s b\n"
                     "dropout 0.3\nrelu\nmaxpool kernel=2\nflatten\ndense 4\n")


@pytest.mark.parametrize("threads", [2, 3])
def test_a_batch_split_among_threads_has_pytorch_gradients(threads):
    assert_gradients_match(netspec.load("examples/lenet5.net").graph, batch=37, threads=threads)
    assert_gradients_match(netspec.loads(spec(DROPOUT_AND_JOINS)).graph, batch=29, threads=threads)


def test_the_same_seed_and_threads_give_the_same_bits():
    graph = netspec.loads(spec(DROPOUT_AND_JOINS)).graph
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((40, 2, 9, 8)).astype(np.float32), rng.integers(0, 4, 40)
    runs = [compile_training(graph, initial_weights(graph), seed=4, threads=2).loss_and_gradients(x, labels)
            for _ in range(2)]
    assert runs[0][0] == runs[1][0]
    for key, array in runs[0][1].items():
        np.testing.assert_array_equal(array, runs[1][1][key], err_msg=key)


@pytest.mark.parametrize("body, float_targets", [
    ("conv 3 kernel=3 padding=1\nsigmoid\navgpool kernel=2\nflatten\ndense 4\n", False),
    ("conv 3 kernel=3 stride=2\ntanh\nflatten\ndense 5\n", True),
    ("flatten\ndense 6\nrelu\ndense 3\nsoftmax\n", False),  # the error of the probabilities
])
def test_mean_squared_error_has_pytorch_loss_and_gradients(body, float_targets):
    graph = netspec.loads(spec(body)).graph
    assert_gradients_match(graph, batch=5, loss="mse", float_targets=float_targets)
    assert_gradients_match(graph, batch=21, threads=2, loss="mse", float_targets=float_targets)


def test_mean_squared_error_refuses_targets_of_the_wrong_size():
    graph = netspec.loads(spec("flatten\ndense 3\n")).graph
    trainer = compile_training(graph, initial_weights(graph), loss="mse")
    with pytest.raises(DataError, match="targets of 3 values per example"):
        trainer.loss_and_gradients(np.zeros((2, 2, 9, 8), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(DataError, match="unknown loss 'hinge'"):
        compile_training(graph, initial_weights(graph), loss="hinge")


def test_batchnorm_refuses_a_batch_with_one_value_per_feature():
    graph = netspec.loads(spec("flatten\ndense 4\nbatchnorm\ndense 3\n")).graph
    trainer = compile_training(graph, initial_weights(graph))
    with pytest.raises(DataError, match="batchnorm1 normalises each feature over the batch"):
        trainer.loss_and_gradients(np.zeros((1, 2, 9, 8), np.float32), np.array([0]))


def test_dropout_gradients_equal_pytorch_autograd_with_the_same_masks():
    assert_gradients_match(netspec.loads(spec("conv 3 kernel=3\ndropout 0.5\nrelu\nflatten\ndense 6\n"
                                              "dropout 0.25\ndense 3\n")).graph, batch=4)


def test_dropout_masks_drop_a_share_p_and_scale_the_rest_as_pytorch():
    graph = netspec.loads(spec("flatten\ndropout 0.25\ndense 3\ndropout 0\n")).graph
    masks = compile_training(graph, initial_weights(graph)).draw_masks(50)
    kept = masks["dropout1"][masks["dropout1"] != 0]
    assert masks["dropout1"].shape == (50, 144)
    assert np.mean(masks["dropout1"] == 0) == pytest.approx(0.25, abs=0.02)
    np.testing.assert_array_equal(kept, np.float32(1 / 0.75))
    assert (masks["dropout2"] == 1).all()


def test_max_pooling_sends_a_tie_to_the_first_maximum_as_pytorch_does():
    graph = netspec.loads(spec("conv 1 kernel=2\nmaxpool kernel=3 stride=2 padding=1\nflatten\ndense 3\n",
                               "1x7x7")).graph
    weights = initial_weights(graph, seed=2)
    # Equal taps on 0/1 inputs: different patches give equal sums, so windows hold ties
    # and the convolution's weight gradient depends on which input each tie went to.
    weights["conv1.weight"][:] = 0.5
    x = np.random.default_rng(2).integers(0, 2, (2, 1, 7, 7)).astype(np.float32)
    labels = np.array([0, 2])
    _, gradients = compile_training(graph, weights).loss_and_gradients(x, labels)
    _, expected, _ = torch_loss_and_gradients(graph, weights, x, labels)
    np.testing.assert_allclose(gradients["conv1.weight"], expected["conv1.weight"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_random_small_specs_have_pytorch_gradients(seed):
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(rng.integers(1, 3)):
        kernel, stride, pad = rng.integers(1, 4), rng.integers(1, 3), rng.integers(0, 2)
        layers.append(f"conv {rng.integers(1, 4)} kernel={kernel} stride={stride} padding={pad}")
        layers.append(str(rng.choice(["relu", "sigmoid", "tanh"])))
    if rng.random() < 0.5:
        layers.append("avgpool kernel=2 stride=1")
    layers += ["flatten", f"dense {rng.integers(2, 6)}"]
    assert_gradients_match(netspec.loads(spec("\n".join(layers) + "\n")).graph, seed=seed)


def test_kinds_without_a_backward_kernel_are_refused_by_name(monkeypatch):
    monkeypatch.delitem(GRADIENTS, "dropout")
    graph = netspec.loads(spec("batchnorm\nflatten\ndropout 0.5\ndense 3\n")).graph
    with pytest.raises(DataError, match=r"netspec cannot train `dropout` layers yet"):
        compile_training(graph, initial_weights(graph))


def test_labels_outside_the_classes_are_refused():
    graph = netspec.loads(spec("flatten\ndense 3\n")).graph
    trainer = compile_training(graph, initial_weights(graph))
    with pytest.raises(DataError, match="labels must be classes 0 to 2"):
        trainer.loss_and_gradients(np.zeros((1, 2, 9, 8), np.float32), np.array([3]))


def test_every_kind_has_a_gradient_rule_or_is_named_as_not_yet_trainable():
    text = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    not_yet = set(re.findall(r"`(\w+)`", text.split("\nNot yet: ")[1].split("\n\n")[0]))
    assert not GRADIENTS.keys() - OPS.keys(), "a gradient rule for a kind netspec does not have"
    assert not not_yet & GRADIENTS.keys(), "docs/training.md calls a trainable kind not yet trainable"
    assert OPS.keys() - GRADIENTS.keys() == not_yet


def test_a_network_gives_its_trainer_seeded_weights_as_compile_does():
    network = netspec.load("examples/lenet5.net")
    trainer = network.trainer(seed=3)
    for key, array in initial_weights(network.graph, seed=3).items():
        np.testing.assert_array_equal(trainer.weights[key], array, err_msg=key)


def test_weights_that_do_not_fit_and_named_sizes_are_refused():
    graph = netspec.loads(spec("flatten\ndense 3\n")).graph
    with pytest.raises(DataError, match=r"dense1.bias: missing \(expected shape 3\)"):
        compile_training(graph, {"dense1.weight": np.zeros((3, 144), np.float32)})
    sized = netspec.loads(spec("conv 2 kernel=3\nglobalavgpool\n", "1xHxW")).graph
    with pytest.raises(DataError, match="input sizes that are names"):
        compile_training(sized, {})


def test_a_batch_too_large_for_memory_is_refused_before_it_is_allocated(monkeypatch):
    import netspec.backends.llvm.training as training

    graph = netspec.load("examples/lenet5.net").graph
    trainer = compile_training(graph, initial_weights(graph))
    monkeypatch.setattr(training, "default_limit", lambda: 2**20)
    with pytest.raises(DataError, match=r"on batches of 64 needs [\d,]+ MiB .* more than the limit of 1 MiB; use a "
                                        r"smaller --batch"):
        trainer.loss_and_gradients(np.zeros((64, 1, 28, 28), np.float32), np.zeros(64, np.int64))


@pytest.mark.parametrize("x, targets, masks, message", [
    (np.zeros((2, 2, 9, 8), np.complex64), [0, 1], None, "training examples must be real numbers"),
    (np.zeros((2, 2, 9, 8)), 1, None, "no array of targets for 2 examples"),
    (np.zeros((2, 2, 9, 8)), ["a", "b"], None, "one integer class label per example"),
    (np.zeros((2, 2, 9, 8)), [0.5, 1], None, "one integer class label per example"),
    (np.zeros((2, 2, 9, 8)), [0, 1], {"flatten1": np.ones((2, 144))}, r"masks are for the dropout layers \(dropout1\)"),
    (np.zeros((2, 2, 9, 8)), [0, 1], {}, "got none"),
])
def test_malformed_batches_from_python_are_data_errors(x, targets, masks, message):
    graph = netspec.loads(spec("flatten\ndropout 0.5\ndense 3\n")).graph
    trainer = compile_training(graph, initial_weights(graph))
    with pytest.raises(DataError, match=message):
        trainer.loss_and_gradients(x, targets, masks)
