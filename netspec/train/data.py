"""Labelled examples for training: scikit-learn's digits, or arrays `x` and `y` from an
.npz file, shaped for the network's input and split into training and validation sets."""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..ir import Shape, format_shape

VALIDATION_SHARE = 0.2


@dataclass(frozen=True)
class Examples:
    x: np.ndarray  # (N, *input_shape) float32
    y: np.ndarray  # (N,) int64 classes


@dataclass(frozen=True)
class Dataset:
    training: Examples
    validation: Examples
    classes: int


def _digits(input_shape: Shape) -> Examples:
    """The 1797 8x8 digits (grey levels 0-16, scaled to 0-1) that ship with scikit-learn,
    for an input of 1xHxW with H, W >= 8: each pixel repeated as often as fits and the
    digit centred, as MNIST centres its digits in 28x28 (so LeNet-5 reads 24x24 digits)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    if len(input_shape) != 3 or input_shape[0] != 1 or min(input_shape[1:]) < 8:
        raise DataError(f"the digits are 1x8x8 images; the network's input is {format_shape(input_shape)}, "
                        "which needs 1xHxW with H and W at least 8")
    _, height, width = input_shape
    scale = min(height, width) // 8
    images = np.kron(digits.images / 16.0, np.ones((scale, scale)))
    top, left = (height - 8 * scale) // 2, (width - 8 * scale) // 2
    x = np.zeros((len(images), 1, height, width), np.float32)
    x[:, 0, top:top + 8 * scale, left:left + 8 * scale] = images
    return Examples(x, digits.target.astype(np.int64))


def _read_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Arrays `x` and `y` of the file; a DataError naming it if it is missing, no .npz
    archive, or holds pickled objects (never unpickled: they could run code)."""
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: " + ("no such file" if not os.path.exists(path) else "not an .npz archive"))
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files if name in ("x", "y")}
            names = archive.files
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read its arrays ({exc})") from None
    if len(arrays) < 2:
        raise DataError(f"{path} needs arrays `x` (examples) and `y` (their classes); it has {', '.join(names) or 'none'}")
    return arrays["x"], arrays["y"]


def _npz(path: str, input_shape: Shape) -> Examples:
    x, y = _read_npz(path)
    if x.ndim != len(input_shape) + 1 or x.shape[1:] != tuple(input_shape) or y.shape != (len(x),):
        raise DataError(f"{path}: x is {format_shape(x.shape)} and y {format_shape(y.shape)}; the network needs "
                        f"x as N x {format_shape(input_shape)} and y as N class numbers")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: y holds {y.dtype} values; classes are integers")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise DataError(f"{path}: x holds {'NaN or infinite values' if np.issubdtype(x.dtype, np.number) else x.dtype}"
                        "; examples are finite numbers")
    return Examples(x.astype(np.float32), y.astype(np.int64))


def _examples(source: str, input_shape: Shape, classes: int) -> Examples:
    examples = _digits(input_shape) if source == "digits" else _npz(source, input_shape)
    if len(examples.y) and (examples.y.min() < 0 or examples.y.max() >= classes):
        raise DataError(f"{source}: the classes run from {examples.y.min()} to {examples.y.max()}; "
                        f"the network has {classes} outputs, for classes 0 to {classes - 1}")
    return examples


def load_dataset(source: str, input_shape: Shape, classes: int, seed: int = 0, share: float = VALIDATION_SHARE,
                 validation: str | None = None) -> Dataset:
    """`source` is "digits" or an .npz path. The examples of `validation` (the same kinds
    of source) are held out if given, else the last `share` of a seeded shuffle."""
    examples = _examples(source, input_shape, classes)
    if validation is not None:
        if not len(examples.y):
            raise DataError(f"{source}: no examples to train on")
        held = _examples(validation, input_shape, classes)
        if not len(held.y):
            raise DataError(f"{validation}: no examples to validate on")
        return Dataset(examples, held, classes)
    if len(examples.y) < 2:
        raise DataError("training needs at least 2 examples (one is held out for validation)")
    order = np.random.default_rng(seed).permutation(len(examples.y))
    held = min(max(1, int(len(order) * share)), len(order) - 1)  # at least one example each side
    training, validation_order = order[:-held], order[-held:]
    return Dataset(Examples(examples.x[training], examples.y[training]),
                   Examples(examples.x[validation_order], examples.y[validation_order]), classes)
