"""Training examples from an image folder, ROOT/CLASS/*.png: the CLASS folders, sorted
by name, are classes 0, 1, ...; each image is read as `run --input` reads it (images.py)."""
from __future__ import annotations

import os
from collections import Counter

import numpy as np

from .. import images
from ..errors import DataError
from ..ir import Shape, format_shape
from ..preprocessing import IMAGE_CHANNELS, Preprocessing


def _class_folders(root: str) -> list[str]:
    """The folders in `root`, sorted; names starting with `.` are passed over, as images.find does."""
    try:
        entries = list(os.scandir(root))
    except OSError as problem:
        raise DataError(f"{root}: cannot list this folder: {problem.strerror or problem}") from None
    return sorted(entry.name for entry in entries
                  if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."))


def _listed(names) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _require_image_input(path: str, input_shape: Shape) -> None:
    if len(input_shape) != 3 or input_shape[0] not in IMAGE_CHANNELS:
        raise DataError(f"{path}: an image cannot become the network's input {format_shape(input_shape)}: images "
                        "become 1xHxW (grayscale) or 3xHxW (RGB) inputs; give these examples as x in an .npz")


def _found(root: str, names: list[str]) -> images.Found:
    """Every image under the class folders; a DataError for a folder that cannot be
    listed, an image outside the class folders, or a class folder without images."""
    found = images.find([root])
    if found.unread:
        raise DataError(str(found.unread[0]))
    loose = [file.path for file in found.files if file.folder is None]
    if loose:
        raise DataError(f"{loose[0]}: not in a class folder; training images go in {root}/CLASS/")
    if not names:
        raise DataError(f"{root}: no class folders; training images go in {root}/CLASS/, one folder per class")
    counts = Counter(file.folder for file in found.files)
    empty = [name for name in names if not counts[name]]
    if empty:
        raise DataError(f"{os.path.join(root, empty[0])}: a class folder without images "
                        f"({', '.join(images.EXTENSIONS)})")
    return found


def read_folder(root: str, input_shape: Shape, outputs: int, preprocessing: Preprocessing,
                class_names: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The images of `root` as examples of the input, their classes (int64) and the
    class names: `class_names` if given (a validation folder follows its training
    folder), else `root`'s own folders; at most `outputs` classes."""
    names = _class_folders(root)
    classes = tuple(class_names or names)
    unknown = [name for name in names if name not in classes]
    if unknown:
        raise DataError(f"{os.path.join(root, unknown[0])}: the training examples have no class {unknown[0]!r} "
                        f"(theirs: {_listed(classes)})")
    if len(classes) > outputs:
        raise DataError(f"{root} has {len(classes)} class folders ({_listed(classes)}); the network has "
                        f"{outputs} outputs, one per class")
    found = _found(root, names)
    _require_image_input(found.files[0].path, input_shape)
    read = images.read(found, input_shape, preprocessing)
    if read.unread:
        others = f" (and {len(read.unread) - 1} other images)" if len(read.unread) > 1 else ""
        raise DataError(f"{read.unread[0]}{others}")
    labels = np.array([classes.index(file.folder) for file in read.files], np.int64)
    return read.array, labels, classes
