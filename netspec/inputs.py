"""What `netspec run --input` names, as one batch for the network: a `.npy` array, taken
as it is, or image files and folders of them, preprocessed as the spec says (images.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import images
from .diagnostics import printable
from .errors import DataError
from .ir import Shape
from .preprocessing import Preprocessing

# How many names a message lists before it says how many more there are.
SHOWN = 3


@dataclass(frozen=True)
class Inputs:
    array: np.ndarray | None  # the batch, or one example, as the model takes it; None when streamed
    names: tuple[str, ...]  # each example's file when it is an image; () for an array
    folders: tuple[str | None, ...]  # each image's CLASS folder (ROOT/CLASS/...), None without one
    notes: tuple[str, ...]
    unread: tuple[images.Unread, ...] = ()  # images that could not be read: the others are in `array`


def is_array(paths) -> bool:
    """Whether `paths` name one array file: a single file whose extension is no image's."""
    return len(paths) == 1 and not os.path.isdir(paths[0]) and not paths[0].lower().endswith(images.EXTENSIONS)


def load_inputs(paths, input_shape: Shape, preprocessing: Preprocessing,
                require: Callable[[int], None] | None = None) -> Inputs:
    """The batch that `paths` name: one `.npy` file, or images and folders of them.
    `require` is called with the number of examples, for images before any is decoded, so
    that a folder too large to run is refused first. Raises DataError when there is nothing to run."""
    paths = tuple(paths)
    if is_array(paths):
        array = load_array(paths[0])
        if require is not None:
            require(len(array) if array.ndim > len(input_shape) else 1)
        return Inputs(array, (), (), ())
    found, skipped = find_images(paths)
    if require is not None:
        require(len(found.files))
    read = images.read(found, input_shape, preprocessing)
    require_read(read)
    return Inputs(read.array, tuple(f.path for f in read.files), tuple(f.folder for f in read.files),
                  skipped + read.notes, read.unread)


def find_images(paths) -> tuple[images.Found, tuple[str, ...]]:
    """The image files that `paths` name, and a note on the files passed over; DataError when
    there is none."""
    arrays = [path for path in paths if path.lower().endswith((".npy", ".npz"))]
    if arrays:
        raise DataError(f"{arrays[0]} is an array, which holds a whole batch: give it as the only --input")
    found = images.find(paths)
    if not found.files:
        raise DataError("\n  ".join(map(str, found.unread)) if found.unread else
                        f"no images ({', '.join(images.EXTENSIONS)}) in {_listed(paths)}")
    skipped = (f"passed over {len(found.skipped)} file{'s' * (len(found.skipped) != 1)} whose extension is no "
               f"image's: {_listed(found.skipped)}",) if found.skipped else ()
    return found, skipped


def require_read(read) -> None:
    """DataError when not one image could be read: there is nothing to run."""
    if not read.files:
        raise DataError(str(read.unread[0]) if len(read.unread) == 1 else
                        "no image could be read:\n  " + "\n  ".join(map(str, read.unread)))


def random_inputs(input_shape: Shape, count: int, seed: int) -> Inputs:
    """A deterministic batch of `count` examples, uniform in [0, 1)."""
    generator = np.random.Generator(np.random.PCG64(seed))
    return Inputs(generator.random((count, *input_shape), dtype=np.float32), (), (), ())


def _listed(names) -> str:
    shown = ", ".join(printable(name) for name in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def load_array(path: str) -> np.ndarray:
    """A `.npy` file's array; never unpickles."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"input file {path} does not exist") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"input file {path} contains pickled Python objects; netspec only loads numeric arrays") from None
        raise DataError(f"input file {path} is not a valid .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"input file {path} is truncated or not a .npy array ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"input file {path} is a .npz archive; save the input with numpy.save as one .npy array")
    return array
