"""Image folders ROOT/CLASS/*.png as training data: labels from the sorted class
folders, images read as `run --input` reads them, and refusals that name the file."""
import json

import numpy as np
import pytest

import netspec
from netspec.errors import DataError
from netspec.train.data import Wanted, load_dataset

Image = pytest.importorskip("PIL.Image")

TINY = "network tiny\ninput 1x8x8\nflatten\ndense 3\n"
CLASSES = ("blank", "horizontal", "vertical")


def _pattern(name: str, rng) -> np.ndarray:
    """An 8x8 grey image of its class: a bar across or down at a random place, or none."""
    pixels = rng.integers(0, 40, (8, 8))
    where = rng.integers(1, 7)
    if name == "horizontal":
        pixels[where] = 255
    elif name == "vertical":
        pixels[:, where] = 255
    return pixels.astype(np.uint8)


def _folder(root, classes=CLASSES, per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            Image.fromarray(_pattern(name, rng)).save(root / name / f"{index}.png")
    return root


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.net"
    path.write_text(TINY)
    return str(path)


def test_labels_are_the_sorted_class_folders_and_pixels_are_scaled_to_one(tmp_path):
    root = _folder(tmp_path / "shapes", classes=("b", "a"), per_class=2)
    (root / "a" / "notes.txt").write_text("not an image")  # passed over
    dataset = load_dataset(str(root), Wanted((1, 8, 8), 3), validation=str(root))
    assert dataset.class_names == ("a", "b")
    expected = [np.asarray(Image.open(root / name / f"{index}.png"), np.float32)[None] / 255
                for name in ("a", "b") for index in range(2)]
    np.testing.assert_array_equal(dataset.training.x, np.stack(expected))
    np.testing.assert_array_equal(dataset.training.y, [0, 0, 1, 1])


def test_images_are_resized_and_converted_to_the_input(tmp_path):
    (tmp_path / "a").mkdir()
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a" / "big.png")
    dataset = load_dataset(str(tmp_path), Wanted((1, 8, 8), 2), validation=str(tmp_path))
    # PIL's own grayscale conversion and bilinear resize, as the preprocessing defaults say
    expected = np.asarray(Image.fromarray(rgb).convert("L").resize((8, 8), Image.Resampling.BILINEAR), np.float32)
    np.testing.assert_array_equal(dataset.training.x[0, 0], expected / 255)


def test_a_validation_folder_keeps_the_training_folders_labels(tmp_path):
    _folder(tmp_path / "train", per_class=2)
    _folder(tmp_path / "val", classes=("vertical",), per_class=2)
    dataset = load_dataset(str(tmp_path / "train"), Wanted((1, 8, 8), 3), validation=str(tmp_path / "val"))
    np.testing.assert_array_equal(dataset.validation.y, [2, 2])
    _folder(tmp_path / "other", classes=("diagonal",), per_class=1)
    with pytest.raises(DataError, match="other/diagonal: the training examples have no class 'diagonal'"):
        load_dataset(str(tmp_path / "train"), Wanted((1, 8, 8), 3), validation=str(tmp_path / "other"))


def _broken(root, case):
    """A folder with one thing wrong, and where the message must point."""
    if case == "empty":
        root.mkdir()
        return root, ": no class folders"
    _folder(root, classes=CLASSES[:2], per_class=2)
    if case == "class without images":
        (root / "diagonal").mkdir()
        return root / "diagonal", ": a class folder without images (.png"
    if case == "unreadable image":
        (root / "horizontal" / "1.png").write_bytes(b"not a png")
        return root / "horizontal" / "1.png", ": is not a PNG, JPEG, BMP or GIF image"
    if case == "image outside the class folders":
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "loose.png")
        return root / "loose.png", ": not in a class folder"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["empty", "class without images", "unreadable image",
                                  "image outside the class folders"])
def test_a_folder_that_cannot_be_trained_on_is_refused_naming_the_file(cli, spec, tmp_path, case):
    where, message = _broken(tmp_path / "data", case)
    result = cli("train", spec, "--data", str(tmp_path / "data"), "-o", str(tmp_path / "w.npz"))
    assert result.exit_code == 1
    assert f"error: {where}{message}" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "w.npz").exists()


def test_more_class_folders_than_outputs_are_refused(cli, spec, tmp_path):
    _folder(tmp_path / "data", classes=("a", "b", "c", "d"), per_class=1)
    result = cli("train", spec, "--data", str(tmp_path / "data"), "-o", str(tmp_path / "w.npz"))
    assert result.exit_code == 1
    assert f"{tmp_path / 'data'} has 4 class folders (a, b, c, d); the network has 3 outputs" in result.stderr


def test_an_input_no_image_can_become_is_refused_naming_the_image(cli, tmp_path):
    path = tmp_path / "flat.net"
    path.write_text("network flat\ninput 64\ndense 3\n")
    _folder(tmp_path / "data", per_class=1)
    result = cli("train", str(path), "--data", str(tmp_path / "data"), "-o", str(tmp_path / "w.npz"))
    assert result.exit_code == 1
    assert (f"error: {tmp_path / 'data' / 'blank' / '0.png'}: an image cannot become the network's input 64"
            in result.stderr)


def test_a_tiny_network_learns_the_folders_classes_and_prints_which_label_is_which(cli, spec, tmp_path):
    _folder(tmp_path / "train", per_class=12)
    _folder(tmp_path / "val", per_class=4, seed=1)
    weights = str(tmp_path / "w.npz")
    result = cli("train", spec, "--data", str(tmp_path / "train"), "--val", str(tmp_path / "val"), "-o", weights,
                 "--epochs", "30", "--batch", "6", "--lr", "0.05", "--json")
    assert result.exit_code == 0, result.output
    first, *epochs = [json.loads(line) for line in result.stdout.splitlines()]
    assert first == {"classes": {"blank": 0, "horizontal": 1, "vertical": 2}}
    assert len(epochs) == 30 and epochs[-1]["validation_accuracy"] == 1.0
    # the weights written classify the validation images as the report says
    model = netspec.load(spec).compile(weights, threads=1)
    validation = load_dataset(str(tmp_path / "val"), Wanted((1, 8, 8), 3), validation=str(tmp_path / "val"))
    assert np.array_equal(model(validation.validation.x).argmax(axis=1), validation.validation.y)
    text = cli("train", spec, "--data", str(tmp_path / "train"), "-o", weights, "--epochs", "1")
    assert text.stdout.splitlines()[0] == "classes: 0 blank, 1 horizontal, 2 vertical"


def test_from_python_a_folder_trains_and_its_history_names_the_classes(tmp_path):
    _folder(tmp_path / "data", per_class=3)
    history = netspec.loads(TINY).train(str(tmp_path / "data"), epochs=1, batch=4, progress=False)
    assert history.classes == CLASSES and len(history.epochs) == 1
