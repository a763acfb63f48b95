"""What `--input` names (netspec/inputs.py): one array as it is, or images and folders,
with the number of examples checked before any image is decoded."""
import numpy as np
import pytest

from netspec.errors import DataError
from netspec.inputs import is_array, load_inputs, random_inputs
from netspec.preprocessing import Preprocessing

pytest.importorskip("PIL")

DIGITS = "examples/digits"


def test_one_file_that_is_no_image_is_an_array_and_its_examples_are_counted(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((5, 1, 28, 28), np.float32))
    counted = []
    inputs = load_inputs([str(tmp_path / "x.npy")], (1, 28, 28), Preprocessing(), counted.append)
    assert inputs.array.shape == (5, 1, 28, 28) and inputs.names == () and counted == [5]
    assert is_array(["x.npy"]) and not is_array(["a.png"]) and not is_array([DIGITS]) and not is_array(["a", "b"])


def test_images_are_counted_before_any_is_decoded():
    def refuse(count):
        raise DataError(f"{count} images are too many")

    with pytest.raises(DataError, match="10 images are too many"):
        load_inputs([DIGITS], (1, 28, 28), Preprocessing(), refuse)


def test_images_are_named_by_their_files_in_order():
    inputs = load_inputs([f"{DIGITS}/7.png", DIGITS], (1, 28, 28), Preprocessing())
    assert inputs.names == (f"{DIGITS}/7.png", *(f"{DIGITS}/{d}.png" for d in range(10)))
    assert inputs.folders == (None,) * 11 and inputs.array.shape == (11, 1, 28, 28)


def test_an_array_among_images_is_refused(tmp_path):
    with pytest.raises(DataError, match="x.npy is an array, which holds a whole batch: give it as the only --input"):
        load_inputs([f"{DIGITS}/3.png", "x.npy"], (1, 28, 28), Preprocessing())


def test_a_folder_without_images_says_so_and_with_one_unreadable_image_gives_its_reason(tmp_path):
    with pytest.raises(DataError, match=r"no images \(.png, .jpg, .jpeg, .bmp, .gif\) in .*"):
        load_inputs([str(tmp_path)], (1, 28, 28), Preprocessing())
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (tmp_path / name).write_text("text")
    (tmp_path / "e.png").write_text("text")
    with pytest.raises(DataError) as raised:
        load_inputs([str(tmp_path)], (1, 28, 28), Preprocessing())
    assert str(raised.value) == f"{tmp_path}/e.png: is not a PNG, JPEG, BMP or GIF image"


def test_files_passed_over_are_noted(tmp_path):
    (tmp_path / "3.png").write_bytes(open(f"{DIGITS}/3.png", "rb").read())
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (tmp_path / name).write_text("text")
    inputs = load_inputs([str(tmp_path)], (1, 28, 28), Preprocessing())
    assert inputs.notes == (f"passed over 4 files whose extension is no image's: {tmp_path}/a.txt, {tmp_path}/b.txt, "
                            f"{tmp_path}/c.txt and 1 more",)


def test_when_no_image_can_be_read_every_reason_is_given(tmp_path):
    with pytest.raises(DataError) as raised:
        load_inputs(["tests/corpus/images/empty.png", "tests/corpus/images/bomb.png"], (1, 28, 28), Preprocessing())
    assert str(raised.value).splitlines() == [
        "no image could be read:", "  tests/corpus/images/empty.png: is empty",
        "  tests/corpus/images/bomb.png: has more pixels than Pillow's limit of 89,478,485 (Image.MAX_IMAGE_PIXELS), "
        "which guards against decompression bombs"]


def test_the_random_batch_is_uniform_and_seeded():
    first = random_inputs((1, 4, 4), 3, seed=9).array
    expected = np.random.Generator(np.random.PCG64(9)).random((3, 1, 4, 4), dtype=np.float32)
    np.testing.assert_array_equal(first, expected)
