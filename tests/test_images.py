"""Image files as input (netspec/images.py): conversions to the input's channels against
arrays computed here with numpy, resizing and cropping, the preprocessing's order and
values, folders by class, and hostile files (tests/corpus/images/) that each end in one
clear reason while the other files are still read."""
import io
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from netspec.errors import DataError  # noqa: E402
from netspec.images import ImageFile, find, read, read_image  # noqa: E402
from netspec.preprocessing import Preprocessing  # noqa: E402
from test_hostile import LONG, mutate  # noqa: E402

CORPUS = Path("tests/corpus/images")
NOT_AN_IMAGE = "is not a PNG, JPEG, BMP or GIF image"
BOMB = ("has more pixels than Pillow's limit of 89,478,485 (Image.MAX_IMAGE_PIXELS), which guards against "
        "decompression bombs")
# Every file of the corpus: the reason it cannot be read, or None when it reads.
HOSTILE = {
    "a_tiff_named.png": NOT_AN_IMAGE,  # Pillow reads TIFF; netspec decodes only the four formats
    "bomb.png": BOMB,  # 69 bytes declaring 50000 x 50000 pixels
    "bomb_under_twice_the_limit.png": BOMB,  # 10000 x 10000, where Pillow only warns
    "huge_screen.gif": BOMB,  # 35 bytes declaring 65535 x 65535
    "empty.png": "is empty",
    "garbage_after_signature.png": NOT_AN_IMAGE,
    "not_an_image.png": NOT_AN_IMAGE,  # text
    "truncated.png": "is truncated or corrupt (image file is truncated)",
    "truncated.jpg": "is truncated or corrupt (image file is truncated (19 bytes not processed))",
    "animated.gif": None,  # read: its first frame, with a note
    "palette_transparent.png": None,
    "sixteen_bit.png": None,
}

rng = np.random.default_rng(11)


def saved(tmp_path, name: str, image, **options) -> str:
    path = tmp_path / name
    image.save(path, **options)
    return str(path)


def pixels(*shape) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


def test_a_grayscale_image_is_scaled_to_the_unit_range(tmp_path):
    gray = pixels(5, 7)
    example, notes = read_image(saved(tmp_path, "g.png", Image.fromarray(gray)), (1, 5, 7))
    assert example.dtype == np.float32 and example.shape == (1, 5, 7) and notes == ()
    np.testing.assert_allclose(example[0], gray / 255, rtol=1e-6)


def test_rgb_becomes_grayscale_by_the_itu_r_601_luma(tmp_path):
    rgb = pixels(4, 6, 3)
    example, _ = read_image(saved(tmp_path, "c.png", Image.fromarray(rgb)), (1, 4, 6))
    luma = rgb.astype(np.float64) @ [0.299, 0.587, 0.114]  # Pillow rounds it to 8 bits
    np.testing.assert_allclose(example[0], luma / 255, atol=0.5 / 255 + 1e-6)


def test_grayscale_becomes_rgb_by_repeating_it(tmp_path):
    gray = pixels(3, 3)
    example, _ = read_image(saved(tmp_path, "g.png", Image.fromarray(gray)), (3, 3, 3))
    np.testing.assert_allclose(example, np.stack([gray] * 3) / 255, rtol=1e-6)


def test_rgba_drops_its_alpha(tmp_path):
    rgba = pixels(4, 4, 4)
    example, _ = read_image(saved(tmp_path, "a.png", Image.fromarray(rgba)), (3, 4, 4))
    np.testing.assert_allclose(example, rgba[..., :3].transpose(2, 0, 1) / 255, rtol=1e-6)


def test_a_palette_image_takes_its_palette_colours_even_with_transparency(tmp_path):
    palette = pixels(16, 3)
    indices = rng.integers(0, 16, (5, 5), dtype=np.uint8)
    image = Image.new("P", (5, 5))
    image.putdata(indices.ravel().tolist())
    image.putpalette(palette.ravel().tolist())
    example, _ = read_image(saved(tmp_path, "p.png", image, transparency=0), (3, 5, 5))
    np.testing.assert_allclose(example, palette[indices].transpose(2, 0, 1) / 255, rtol=1e-6)


def test_a_16_bit_png_keeps_its_precision(tmp_path):
    deep = rng.integers(0, 65536, (4, 5), dtype=np.uint16)
    deep[0, 0] = 1000  # 8 bits would clip this to white, or round it to 4/255
    path = saved(tmp_path, "d.png", Image.fromarray(deep))
    assert Image.open(path).mode == "I;16"
    for channels in (1, 3):
        example, _ = read_image(path, (channels, 4, 5))
        np.testing.assert_allclose(example, np.stack([deep] * channels) / 65535, rtol=1e-6)


def test_a_one_bit_bmp_is_black_and_white(tmp_path):
    bits = rng.integers(0, 2, (6, 8)).astype(bool)
    example, _ = read_image(saved(tmp_path, "b.bmp", Image.fromarray(bits)), (1, 6, 8))
    np.testing.assert_array_equal(example[0], bits.astype(np.float32))


def test_a_jpeg_is_read_within_its_compression_error(tmp_path):
    smooth = np.add.outer(np.arange(16), np.arange(16)).astype(np.uint8) * 8
    example, _ = read_image(saved(tmp_path, "s.jpg", Image.fromarray(smooth), quality=100), (1, 16, 16))
    assert np.abs(example[0] - smooth / 255).max() < 0.02


def test_images_are_resized_to_the_inputs_height_and_width(tmp_path):
    small = pixels(2, 3)
    path = saved(tmp_path, "s.png", Image.fromarray(small))
    nearest, _ = read_image(path, (1, 4, 6), Preprocessing(resize="nearest"))
    np.testing.assert_allclose(nearest[0], np.kron(small, np.ones((2, 2))) / 255, rtol=1e-6)
    constant = saved(tmp_path, "c.png", Image.fromarray(np.full((9, 13), 77, np.uint8)))
    for method in ("bilinear", "bicubic", "lanczos", "box", "hamming"):
        example, _ = read_image(constant, (1, 28, 28), Preprocessing(resize=method))
        np.testing.assert_allclose(example, np.full((1, 28, 28), 77 / 255), rtol=1e-6, err_msg=method)


def test_center_crop_keeps_the_aspect_ratio_and_cuts_out_the_middle(tmp_path):
    wide = np.repeat(pixels(4, 4), 2, axis=1)  # 4 high, 8 wide: every column twice
    path = saved(tmp_path, "w.png", Image.fromarray(wide))
    cropped, _ = read_image(path, (1, 4, 4), Preprocessing(resize="nearest", crop="center"))
    np.testing.assert_allclose(cropped[0], wide[:, 2:6] / 255, rtol=1e-6)
    stretched, _ = read_image(path, (1, 4, 4), Preprocessing(resize="nearest"))
    np.testing.assert_allclose(stretched[0], wide[:, ::2] / 255, rtol=1e-6)


def test_inverting_comes_before_normalising(tmp_path):
    gray = pixels(3, 4)
    path = saved(tmp_path, "g.png", Image.fromarray(gray))
    example, _ = read_image(path, (1, 3, 4), Preprocessing(invert=True, mean=(0.25,), std=(0.5,)))
    np.testing.assert_allclose(example[0], ((1 - gray / 255) - 0.25) / 0.5, rtol=1e-5, atol=1e-6)


def test_mean_and_std_apply_per_channel(tmp_path):
    rgb = pixels(2, 2, 3)
    path = saved(tmp_path, "c.png", Image.fromarray(rgb))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    example, _ = read_image(path, (3, 2, 2), Preprocessing(mean=tuple(mean), std=tuple(std)))
    expected = (rgb.transpose(2, 0, 1) / 255 - mean[:, None, None]) / std[:, None, None]
    np.testing.assert_allclose(example, expected, rtol=1e-5, atol=1e-6)


def test_an_animated_gif_gives_its_first_frame_and_a_note(tmp_path):
    first, second = pixels(4, 4), pixels(4, 4)
    frames = [Image.fromarray(f).convert("RGB").quantize(256) for f in (first, second)]
    path = saved(tmp_path, "a.gif", frames[0], save_all=True, append_images=frames[1:])
    example, notes = read_image(path, (3, 4, 4))
    expected, _ = read_image(saved(tmp_path, "f.png", frames[0]), (3, 4, 4))
    np.testing.assert_array_equal(example, expected)
    assert notes == (f"{path} is animated; netspec reads its first frame",)


def test_a_folder_is_read_by_class_and_other_files_are_passed_over(tmp_path):
    image = Image.fromarray(pixels(2, 2))
    for name in ("top.png", "3/b.png", "3/a.PNG", "3/deeper/c.jpg", "cat/d.bmp", ".hidden.png", ".git/e.png",
                 "notes.txt", "3/labels.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if name.lower().endswith((".png", ".jpg", ".bmp")):
            image.save(tmp_path / name)
        else:
            (tmp_path / name).write_text("not an image\n")
    found = find([str(tmp_path)])
    root = str(tmp_path)
    assert found.files == (
        ImageFile(f"{root}/top.png", None), ImageFile(f"{root}/3/a.PNG", "3"), ImageFile(f"{root}/3/b.png", "3"),
        ImageFile(f"{root}/3/deeper/c.jpg", "3"), ImageFile(f"{root}/cat/d.bmp", "cat"))
    assert found.skipped == (f"{root}/notes.txt", f"{root}/3/labels.csv") and found.unread == ()
    assert find([f"{root}/top.png", f"{root}/cat"]).files == (ImageFile(f"{root}/top.png"),
                                                               ImageFile(f"{root}/cat/d.bmp", None))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_image_is_read_or_gets_one_reason(name):
    path = str(CORPUS / name)
    if HOSTILE[name] is None:
        example, _ = read_image(path, (1, 28, 28))
        assert example.shape == (1, 28, 28) and np.isfinite(example).all()
        return
    images = read(find([path]), (1, 28, 28), Preprocessing())
    assert images.array.shape == (0, 1, 28, 28)
    assert [(u.path, u.problem) for u in images.unread] == [(path, HOSTILE[name])]


def test_the_corpus_table_names_every_file():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(HOSTILE)


def test_a_folder_with_hostile_files_still_reads_the_others():
    images = read(find([str(CORPUS)]), (1, 28, 28), Preprocessing())
    assert [Path(f.path).name for f in images.files] == sorted(n for n, problem in HOSTILE.items() if problem is None)
    assert {Path(u.path).name: u.problem for u in images.unread} == {n: p for n, p in HOSTILE.items() if p}
    assert images.array.shape == (3, 1, 28, 28)
    assert images.notes == (f"{CORPUS}/animated.gif is animated; netspec reads its first frame",)


def test_the_pixel_limit_is_pillows_and_lowering_it_refuses_smaller_images(tmp_path, monkeypatch):
    over = saved(tmp_path, "over.png", Image.fromarray(pixels(10, 30)))  # 300 pixels: over twice 100
    warned = saved(tmp_path, "warned.png", Image.fromarray(pixels(10, 15)))  # 150: Pillow would only warn
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    images = read(find([over, warned]), (1, 4, 4), Preprocessing())
    assert [u.problem for u in images.unread] == [BOMB.replace("89,478,485", "100")] * 2


def test_links_to_nothing_pipes_and_folders_are_not_read(tmp_path):
    os.symlink(tmp_path / "missing.png", tmp_path / "link.png")
    os.mkfifo(tmp_path / "pipe.png")  # opening it would wait for a writer forever
    (tmp_path / "folder.png").mkdir()
    problems = {}
    for name in ("link.png", "pipe.png", "folder.png"):
        with pytest.raises(ValueError) as raised:
            read_image(str(tmp_path / name), (1, 4, 4))
        problems[name] = str(raised.value)
    assert problems == {"link.png": "cannot read it: No such file or directory", "pipe.png": "is not a regular file",
                        "folder.png": "is a folder"}


@pytest.mark.parametrize("input_shape", [(784,), (4, 28, 28), (2, 28, 28)])
def test_an_input_that_is_no_image_is_refused(input_shape):
    with pytest.raises(DataError, match=r"is not an image \(1xHxW grayscale or 3xHxW RGB\); give its input as a .npy"):
        read_image(str(CORPUS / "sixteen_bit.png"), input_shape)


def test_without_pillow_reading_images_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DataError, match=r"reading images needs Pillow: pip install 'netspec\[images\]'"):
        read_image(str(CORPUS / "sixteen_bit.png"), (1, 28, 28))


def _encoded(image, format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


DIGIT = Image.open("examples/digits/3.png")
# One valid file of each format and of the modes that take their own path: grayscale and
# RGB, palette, 16-bit, animated.
VALID = {"digit.png": Path("examples/digits/3.png").read_bytes(), "digit.jpg": _encoded(DIGIT.convert("RGB"), "JPEG"),
         "digit.bmp": _encoded(DIGIT, "BMP"), "palette.png": (CORPUS / "palette_transparent.png").read_bytes(),
         "deep.png": (CORPUS / "sixteen_bit.png").read_bytes(), "animated.gif": (CORPUS / "animated.gif").read_bytes()}


@settings(max_examples=5000 if LONG else 300, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(sorted(VALID)), seed=st.integers(0, 2**32))
def test_byte_mutations_of_images_are_read_or_get_a_reason(name, seed):
    data = mutate(VALID[name], random.Random(seed))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as handle:
            handle.write(data)
        for channels in (1, 3):
            try:
                example, _ = read_image(path, (channels, 28, 28))
            except ValueError as problem:
                assert str(problem)
                continue
            assert example.shape == (channels, 28, 28) and example.dtype == np.float32
