"""The training loop, the data it reads and the trained LeNet-5 of the lecture."""
import numpy as np
import pytest

import netspec
from netspec.errors import DataError
from netspec.interop.weight_files import read_npz
from netspec.train.data import Dataset, Examples, Wanted, load_dataset, wanted
from netspec.train.loop import accuracy, train
from netspec.train.optimizers import Adam
from netspec.weights import initial_weights


def test_lenet5_learns_the_digits():
    pytest.importorskip("sklearn")
    graph = netspec.load("examples/lenet5.net").graph
    dataset = load_dataset("digits", Wanted(graph.input_shape, 10), seed=0)
    reports = [report for report, _ in train(graph, initial_weights(graph, 0), dataset, Adam(lr=0.002), 10, 16)]
    assert reports[-1].loss < reports[0].loss / 5
    assert reports[-1].validation_accuracy > 0.9


def test_the_committed_lenet5_weights_recognise_the_held_out_digits():
    pytest.importorskip("sklearn")
    # examples/lenet5.npz comes from the command in docs/training.md; seed 0 holds out the same fifth.
    graph = netspec.load("examples/lenet5.net").graph
    dataset = load_dataset("digits", Wanted(graph.input_shape, 10), seed=0)
    assert accuracy(graph, read_npz("examples/lenet5.npz"), dataset.validation) >= 0.97


def test_digits_are_centred_in_the_input_at_the_largest_whole_scale():
    pytest.importorskip("sklearn")
    dataset = load_dataset("digits", Wanted((1, 28, 28), 10))
    x = np.concatenate([dataset.training.x, dataset.validation.x])
    assert x.shape == (1797, 1, 28, 28)
    assert not x[:, :, :2].any() and not x[:, :, 26:].any() and x[:, :, 2:26, 2:26].any()
    assert x.max() == 1.0


@pytest.mark.parametrize("threads", [1, 2])
def test_the_same_seed_gives_bit_identical_weights_through_shuffles_and_dropout_masks(threads):
    """Two runs from the same weights, seed and threads end with the same bits in every
    weight (running statistics too) and optimizer buffer; another seed, with other
    shuffles and dropout masks, ends elsewhere (so equal runs are not a seed ignored)."""
    graph = netspec.loads("network d\ninput 1x8x8\nconv 4 kernel=3\nbatchnorm\nrelu\nflatten\ndropout 0.5\n"
                          "dense 3\n").graph
    rng = np.random.default_rng(0)
    examples = Examples(rng.random((48, 1, 8, 8), dtype=np.float32), rng.integers(0, 3, 48))

    def trained(seed):
        *_, (_, checkpoint) = train(graph, initial_weights(graph, 0), Dataset(examples, examples, 3), Adam(lr=0.01),
                                    epochs=2, batch=16, seed=seed, threads=threads)
        return checkpoint

    first, second, other = trained(1), trained(1), trained(2)
    assert first.weights.keys() == second.weights.keys() >= {"batchnorm1.running_var"}
    for key in first.weights:
        assert first.weights[key].tobytes() == second.weights[key].tobytes(), key
        assert all(a.tobytes() == b.tobytes() for a, b in zip(first.optimizer.buffers.get(key, ()),
                                                              second.optimizer.buffers.get(key, ()), strict=True)), key
    assert any(first.weights[key].tobytes() != other.weights[key].tobytes() for key in first.weights)


def test_held_out_examples_are_a_fifth_and_not_trained_on(tmp_path):
    x = np.arange(10 * 4, dtype=np.float32).reshape(10, 1, 2, 2)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 3)
    dataset = load_dataset(str(tmp_path / "d.npz"), Wanted((1, 2, 2), 3), seed=1)
    assert len(dataset.validation.y) == 2 and len(dataset.training.y) == 8
    seen = {float(example[0, 0, 0]) for example in dataset.training.x}
    assert not seen & {float(example[0, 0, 0]) for example in dataset.validation.x}


@pytest.mark.parametrize("arrays, message", [
    (dict(x=np.zeros((4, 1, 3, 3)), y=np.zeros(4, int)), "the network needs x as N x 1x2x2"),
    (dict(x=np.zeros((4, 1, 2, 2)), y=np.full(4, 3)), "the network has 3 outputs, for classes 0 to 2"),
    (dict(x=np.zeros((4, 1, 2, 2)), y=np.zeros(4)), "classes are integers"),
    (dict(images=np.zeros(1)), "needs arrays `x` (examples) and `y` (their classes); it has images"),
    (dict(x=np.zeros((4, 1, 2, 2)), y=np.zeros(3, int)), "x is 4x1x2x2 and y 3; the network needs"),
    (dict(x=np.zeros((0, 1, 2, 2)), y=np.zeros(0, int)), "training needs at least 2 examples"),
    (dict(x=np.full((4, 1, 2, 2), np.nan), y=np.zeros(4, int)), "x holds NaN or infinite values"),
    (dict(x=np.array([None] * 4), y=np.zeros(4, int)), "cannot read its arrays (Object arrays cannot be loaded"),
])
def test_data_that_does_not_fit_the_network_is_refused(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(str(tmp_path / "d.npz"), Wanted((1, 2, 2), 3))


@pytest.mark.parametrize("content, message", [(None, "no such file"), (b"junk", "not an .npz archive")])
def test_a_missing_or_damaged_data_file_is_refused_by_name(tmp_path, content, message):
    path = tmp_path / "d.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=f"d.npz: {message}"):
        load_dataset(str(path), Wanted((1, 2, 2), 3))


def test_a_validation_share_or_file_chooses_the_held_out_examples(tmp_path):
    x = np.arange(10 * 4, dtype=np.float32).reshape(10, 1, 2, 2)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 3)
    np.savez(tmp_path / "v.npz", x=x[:3], y=np.arange(3))
    split = load_dataset(str(tmp_path / "d.npz"), Wanted((1, 2, 2), 3), share=0.5)
    assert (len(split.training.y), len(split.validation.y)) == (5, 5)
    assert len(load_dataset(str(tmp_path / "d.npz"), Wanted((1, 2, 2), 3), share=0.99).training.y) == 1
    given = load_dataset(str(tmp_path / "d.npz"), Wanted((1, 2, 2), 3), validation=str(tmp_path / "v.npz"))
    assert len(given.training.y) == 10 and np.array_equal(given.validation.x, x[:3])
    np.savez(tmp_path / "bad.npz", x=x[:3], y=np.full(3, 5))
    with pytest.raises(DataError, match="bad.npz: the classes run from 5 to 5"):
        load_dataset(str(tmp_path / "d.npz"), Wanted((1, 2, 2), 3), validation=str(tmp_path / "bad.npz"))


def test_digits_need_an_image_input_of_at_least_8x8():
    pytest.importorskip("sklearn")
    with pytest.raises(DataError, match="the digits are 1x8x8 images; the network's input is 3x32x32"):
        load_dataset("digits", Wanted((3, 32, 32), 10))


FLAT = "network flat\ninput 1x4x4\nflatten\ndense 3\n"


def _flat_outputs(weights, x) -> np.ndarray:
    """The flat network's outputs, computed by hand (x W^T + b) rather than by netspec."""
    return x.reshape(len(x), -1) @ weights["dense1.weight"].T + weights["dense1.bias"]


@pytest.mark.parametrize("float_targets", [False, True])
def test_the_mse_loss_of_one_step_is_pytorchs_of_the_outputs_and_targets(float_targets):
    # One batch of all training examples: the epoch's loss is that of the initial weights.
    torch = pytest.importorskip("torch")
    graph = netspec.loads(FLAT).graph
    rng = np.random.default_rng(0)
    x = rng.random((10, 1, 4, 4), dtype=np.float32)
    y = rng.random((10, 3), dtype=np.float32) if float_targets else rng.integers(0, 3, 10)
    dataset = load_dataset((x, y), Wanted((1, 4, 4), 3, targets=(3,)), validation=(x[:4], y[:4]))
    weights = initial_weights(graph, 0)
    (report, reached), = train(graph, weights, dataset, Adam(), 1, 10, loss="mse")
    target = torch.from_numpy(y) if float_targets else torch.nn.functional.one_hot(torch.from_numpy(y), 3).float()
    expected = torch.nn.functional.mse_loss(torch.from_numpy(_flat_outputs(weights, x)), target)
    assert report.loss == pytest.approx(expected.item(), rel=1e-5)
    if float_targets:  # no classes, so no accuracies: the validation loss instead, with the weights reached
        held = torch.nn.functional.mse_loss(torch.from_numpy(_flat_outputs(reached.weights, x[:4])), target[:4])
        assert (report.accuracy, report.validation_accuracy) == (None, None)
        assert report.validation_loss == pytest.approx(held.item(), rel=1e-5)
    else:
        assert report.validation_loss is None and 0 <= report.accuracy <= 1


def test_float_targets_need_the_mse_loss_and_the_outputs_shape(tmp_path):
    x = np.zeros((4, 1, 2, 2), np.float32)
    with pytest.raises(DataError, match=r"y holds float32 values; classes are integers \(float targets, one per "
                                        r"output, need the mse loss\)"):
        load_dataset((x, np.zeros((4, 3), np.float32)), Wanted((1, 2, 2), 3))
    with pytest.raises(DataError, match="y is 4x2; float targets are N x the output 3"):
        load_dataset((x, np.zeros((4, 2), np.float32)), Wanted((1, 2, 2), 3, targets=(3,)))
    with pytest.raises(DataError, match="y holds NaN or infinite values"):
        load_dataset((x, np.full((4, 3), np.inf, np.float32)), Wanted((1, 2, 2), 3, targets=(3,)))


def test_the_same_seed_and_threads_give_bit_identical_weights():
    graph = netspec.load("examples/lenet5.net").graph
    dataset = load_dataset("digits", Wanted(graph.input_shape, 10), seed=0, share=0.9)
    runs = [list(train(graph, initial_weights(graph, 0), dataset, Adam(), 1, 32, threads=2))[-1][1].weights
            for _ in range(2)]
    assert all(np.array_equal(runs[0][key], runs[1][key]) for key in runs[0])


def test_the_confusion_matrix_in_the_docs_is_the_committed_weights_on_the_held_out_digits():
    from pathlib import Path

    text = Path(__file__).resolve().parents[1].joinpath("docs", "training.md").read_text()
    rows = [line.split("|")[2:-1] for line in text.splitlines() if line.startswith("| **")]
    documented = np.array([[int(cell) if cell.strip() != "·" else 0 for cell in row] for row in rows])
    graph = netspec.load("examples/lenet5.net").graph
    held = load_dataset("digits", Wanted(graph.input_shape, 10), seed=0).validation
    outputs = netspec.load("examples/lenet5.net").compile("examples/lenet5.npz", threads=1)(held.x)
    counted = np.zeros((10, 10), int)
    for truth, said in zip(held.y, outputs.argmax(axis=1)):
        counted[truth, said] += 1
    np.testing.assert_array_equal(documented, counted)


def test_the_losses_named_are_the_backends():
    from netspec.backends.llvm.losses import LOSSES as BACKEND_LOSSES
    from netspec.train.data import LOSSES

    assert set(LOSSES) == set(BACKEND_LOSSES)


def test_an_npz_of_uint8_pixels_without_a_channel_axis_is_read_as_images_are(tmp_path):
    """N x H x W uint8 (as MNIST ships) for a 1 x H x W input: pixels scaled to [0, 1] and
    normalised by the spec's `preprocess` line, as `run --input` reads a PNG."""
    pixels = np.random.default_rng(0).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=pixels, y=np.arange(6))
    graph = netspec.loads("network t\ninput 1x5x4\npreprocess mean=0.5 std=0.25\nflatten\ndense 6\n").graph
    dataset = load_dataset(str(tmp_path / "d.npz"), wanted(graph), seed=0, share=0.5)
    expected = (pixels[:, None].astype(np.float64) / 255 - 0.5) / 0.25
    for part in (dataset.training, dataset.validation):
        assert part.x.dtype == np.float32 and part.x.shape[1:] == (1, 5, 4)
        np.testing.assert_allclose(part.x, expected[part.y], atol=1e-6)
    assert sorted(np.concatenate([dataset.training.y, dataset.validation.y])) == list(range(6))


def test_uint8_examples_of_a_flat_input_are_scaled_only():
    pixels = np.random.default_rng(1).integers(0, 256, (6, 16), dtype=np.uint8)
    dataset = load_dataset((pixels, np.arange(6) % 3), Wanted((16,), 3), share=0.5)
    for part in (dataset.training, dataset.validation):
        assert part.x.shape[1:] == (16,)
    assert len(dataset.training.y) + len(dataset.validation.y) == 6
    np.testing.assert_allclose(np.sort(np.concatenate([dataset.training.x, dataset.validation.x]).ravel()),
                               np.sort(pixels.ravel() / 255), atol=1e-7)


def test_a_last_batch_of_one_example_joins_the_one_before_where_batchnorm_needs_two():
    from netspec.train.loop import batches

    order = np.arange(11)
    assert [len(b) for b in batches(order, 5, no_single=True)] == [5, 6]
    assert [len(b) for b in batches(order, 5, no_single=False)] == [5, 5, 1]
    assert [len(b) for b in batches(order, 11, no_single=True)] == [11]
    graph = netspec.loads("network b\ninput 1x2x2\nflatten\ndense 4\nbatchnorm\ndense 3\n").graph
    rng = np.random.default_rng(0)
    examples = Examples(rng.random((11, 1, 2, 2), dtype=np.float32), rng.integers(0, 3, 11))
    (report, _), = train(graph, initial_weights(graph, 0), Dataset(examples, examples, 3), Adam(), 1, 5)
    assert np.isfinite(report.loss)
