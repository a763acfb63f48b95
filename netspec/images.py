"""Image files as a network's input: PNG, JPEG, BMP and GIF files and folders of them
(ROOT/CLASS/*.png), decoded with Pillow and made into examples as the spec's
`preprocess` line says (preprocessing.py).

A file that cannot be read becomes an `Unread` with its reason while the other files
are still read, so one broken image does not stop a folder.
"""
from __future__ import annotations

import os
import stat
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from .diagnostics import printable
from .errors import DataError
from .ir import Shape, format_shape
from .preprocessing import IMAGE_CHANNELS, Preprocessing

# What netspec decodes; Pillow knows more formats, but each one is more decoder code
# that a hostile file could reach.
FORMATS = ("PNG", "JPEG", "BMP", "GIF")
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Pillow's modes for 16-bit grayscale (a 16-bit PNG opens as I;16, in older versions as I):
# scaled by 65535, not converted to 8 bits first, which Pillow does by clipping.
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_PILLOW_MODES = {1: "L", 3: "RGB"}


@dataclass(frozen=True)
class ImageFile:
    path: str
    folder: str | None = None  # CLASS, for a file found under ROOT/CLASS/ in a folder given as input


@dataclass(frozen=True)
class Unread:
    """A file that could not be read, and why."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{printable(self.path)}: {self.problem}"


@dataclass(frozen=True)
class Found:
    files: tuple[ImageFile, ...]  # in the order given, each folder's files sorted by path
    unread: tuple[Unread, ...]  # folders that could not be listed
    skipped: tuple[str, ...]  # files in the folders whose extension is no image's


@dataclass(frozen=True)
class Images:
    array: np.ndarray  # N x C x H x W float32: one example per image read
    files: tuple[ImageFile, ...]  # the images in `array`, in order
    notes: tuple[str, ...]  # e.g. that an animated GIF's first frame was used
    unread: tuple[Unread, ...]


class ImageError(ValueError):
    """One file that is not an image netspec can read; the message says why."""


def find(paths) -> Found:
    """The image files that `paths` name: files as given, and the images in folders, those
    in a subfolder ROOT/CLASS/ (at any depth below it) marked with their CLASS. Names
    starting with `.` are passed over, as `ls` does."""
    files, unread, skipped = [], [], []
    for path in paths:
        if os.path.isdir(path):
            _walk(path, files, unread, skipped)
        else:
            files.append(ImageFile(path))
    return Found(tuple(files), tuple(unread), tuple(skipped))


def _walk(root: str, files: list, unread: list, skipped: list) -> None:
    def cannot_list(problem: OSError) -> None:
        unread.append(Unread(problem.filename or root, f"cannot list this folder: {problem.strerror or problem}"))

    for directory, subfolders, names in os.walk(root, onerror=cannot_list):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        relative = os.path.relpath(directory, root)
        folder = None if relative == os.curdir else relative.split(os.sep)[0]
        for name in sorted(name for name in names if not name.startswith(".")):
            path = os.path.join(directory, name)
            if name.lower().endswith(EXTENSIONS):
                files.append(ImageFile(path, folder))
            else:
                skipped.append(path)


def image_channels(input_shape: Shape) -> int:
    """The channels images convert to for this input; DataError when it is no image."""
    if len(input_shape) != 3 or input_shape[0] not in IMAGE_CHANNELS:
        raise DataError(f"the network's input {format_shape(input_shape)} is not an image (1xHxW grayscale or "
                        "3xHxW RGB); give its input as a .npy array")
    return input_shape[0]


def read(found: Found, input_shape: Shape, preprocessing: Preprocessing) -> Images:
    """Every image of `found` as one example of the input; those that cannot be read are
    listed in `unread` with the folders that could not be listed."""
    image_channels(input_shape)
    array = np.empty((len(found.files), *input_shape), np.float32)
    kept, notes, unread = [], [], list(found.unread)
    for file in found.files:
        try:
            example, note = read_image(file.path, input_shape, preprocessing)
        except ImageError as problem:
            unread.append(Unread(file.path, str(problem)))
            continue
        array[len(kept)] = example
        kept.append(file)
        notes.extend(note)
    return Images(array[:len(kept)], tuple(kept), tuple(notes), tuple(unread))


def read_image(path: str, input_shape: Shape, preprocessing: Preprocessing | None = None,
               ) -> tuple[np.ndarray, tuple[str, ...]]:
    """One image file as a C x H x W float32 example of the input, and notes on what was
    done to read it. Without `preprocessing`, the defaults: resized bilinearly, scaled to
    [0, 1]. Raises ImageError when the file is not an image netspec can read."""
    channels = image_channels(input_shape)
    preprocessing = preprocessing or Preprocessing()
    Image, ImageOps = _pillow()
    _require_regular_file(path)
    notes = ()
    try:
        with _opened(path, Image) as image:
            if getattr(image, "is_animated", False):
                notes = (f"{printable(path)} is animated; netspec reads its first frame",)
            image.load()
            pixels, scale = _converted(image, channels, Image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"has more pixels than Pillow's limit of {Image.MAX_IMAGE_PIXELS:,} "
                         "(Image.MAX_IMAGE_PIXELS), which guards against decompression bombs") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"is not a {', '.join(FORMATS[:-1])} or {FORMATS[-1]} image") from None
    except OSError as problem:
        if problem.errno is not None:
            raise ImageError(f"cannot read it: {problem.strerror}") from None
        raise ImageError(f"is truncated or corrupt ({problem})") from None
    # Pillow's decoders report a corrupt file with whatever exception their parsing hits
    # (SyntaxError, ValueError, struct.error, IndexError, ...): each is this file's problem.
    except Exception as problem:
        raise ImageError(f"is corrupt ({type(problem).__name__}: {problem})") from None
    resized = _resized(pixels, input_shape[1:], preprocessing, Image, ImageOps)
    return _normalised(resized, scale, channels, preprocessing), notes


# warnings.catch_warnings changes the process's warning filters: images decoded in a
# pool of threads open one at a time (only the header is read while the lock is held).
_OPENING = threading.Lock()


def _opened(path: str, Image):
    """Image.open with Pillow's decompression-bomb warning (between its pixel limit and
    twice that, where it warns rather than refuses) raised as an error, as above it."""
    with _OPENING, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(path, formats=FORMATS)


def _pillow():
    try:
        from PIL import Image, ImageOps
    except ModuleNotFoundError:
        raise DataError("reading images needs Pillow: pip install 'netspec[images]'") from None
    return Image, ImageOps


def _require_regular_file(path: str) -> None:
    """A folder, a device or a named pipe would hang or fail deep inside a decoder; an empty
    file is said to be one."""
    try:
        status = os.stat(path)
    except OSError as problem:
        raise ImageError(f"cannot read it: {problem.strerror or problem}") from None
    if stat.S_ISDIR(status.st_mode):
        raise ImageError("is a folder")
    if not stat.S_ISREG(status.st_mode):
        raise ImageError("is not a regular file")
    if status.st_size == 0:
        raise ImageError("is empty")


def _converted(image, channels: int, Image):
    """The image in the input's channels, as a Pillow image of mode L, RGB or (16-bit
    grayscale) F, and the value that is white."""
    if image.mode in SIXTEEN_BIT:
        values = np.clip(np.asarray(image, dtype=np.float32), 0, 65535)
        return Image.fromarray(values), 65535.0
    if image.mode in ("P", "PA"):
        # through RGBA: a palette's transparency is kept, and Pillow does not warn about it
        image = image.convert("RGBA")
    # Alpha is dropped, not composited, as torchvision's image folders do.
    return image.convert(_PILLOW_MODES[channels]), 255.0


def _resized(image, size: Shape, preprocessing: Preprocessing, Image, ImageOps):
    height, width = size
    method = Image.Resampling[preprocessing.resize.upper()]
    if preprocessing.crop == "center":
        return ImageOps.fit(image, (width, height), method=method)
    return image if image.size == (width, height) else image.resize((width, height), method)


def _normalised(image, scale: float, channels: int, preprocessing: Preprocessing) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.float32) / np.float32(scale)
    pixels = pixels.transpose(2, 0, 1) if pixels.ndim == 3 else np.repeat(pixels[None], channels, axis=0)
    return preprocessing.normalise(pixels)
