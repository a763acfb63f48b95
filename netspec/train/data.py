"""Labelled examples for training: scikit-learn's digits, arrays `x` and `y` (from an
.npz file or given in Python), or an image folder ROOT/CLASS/*.png, shaped for the
network's input and split into training and validation sets."""
from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from ..check import ShapedGraph
from ..errors import DataError
from ..ir import Shape, format_shape
from ..preprocessing import IMAGE_CHANNELS, Preprocessing
from .folders import read_folder

VALIDATION_SHARE = 0.2
# Softmax cross-entropy of the logits and class labels, or the mean squared error of the
# outputs and their targets (a class label standing for its one-hot vector): the names of
# the backend's losses (backends/llvm/losses.py), here so that reading options and data
# does not load the compiler.
LOSSES = ("cross-entropy", "mse")


@dataclass(frozen=True)
class Examples:
    x: np.ndarray  # (N, *input_shape) float32
    y: np.ndarray  # (N,) int64 classes, or (N, *output_shape) float32 targets (for the mse loss)

    @property
    def labelled(self) -> bool:
        """Whether `y` holds classes (so accuracy means something), not float targets."""
        return np.issubdtype(self.y.dtype, np.integer)


@dataclass(frozen=True)
class Dataset:
    training: Examples
    validation: Examples
    classes: int
    class_names: tuple[str, ...] = ()  # an image folder's CLASS folders: class i is class_names[i]


@dataclass(frozen=True)
class Wanted:
    """What the examples must fit: the network's input, its number of classes, how
    images become inputs, and the shape of float targets (the mse loss compares the
    outputs with them) or None when only classes can be learnt."""

    input_shape: Shape
    classes: int
    preprocessing: Preprocessing = Preprocessing()
    targets: Shape | None = None


def wanted(graph: ShapedGraph, loss: str = LOSSES[0]) -> Wanted:
    """What examples must be to train `graph` with `loss` (its outputs' count is its
    number of classes; the mse loss also takes float targets shaped as the output)."""
    return Wanted(graph.input_shape, math.prod(graph.output_shape), graph.preprocessing or Preprocessing(),
                  graph.output_shape if loss == "mse" else None)


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


def _targets(name: str, y: np.ndarray, wanted: Wanted) -> np.ndarray:
    """`y` as int64 classes, or as float32 targets when the loss takes them."""
    if np.issubdtype(y.dtype, np.integer):
        if y.ndim != 1:
            raise DataError(f"{name}: y is {format_shape(y.shape)}; classes are one integer per example")
        if len(y) and (y.min() < 0 or y.max() >= wanted.classes):
            raise DataError(f"{name}: the classes run from {y.min()} to {y.max()}; the network has "
                            f"{wanted.classes} outputs, for classes 0 to {wanted.classes - 1}")
        return y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.floating) or wanted.targets is None:
        raise DataError(f"{name}: y holds {y.dtype} values; classes are integers"
                        + (" (float targets, one per output, need the mse loss)"
                           if np.issubdtype(y.dtype, np.floating) else ""))
    if y.shape[1:] != tuple(wanted.targets):
        raise DataError(f"{name}: y is {format_shape(y.shape)}; float targets are N x the output "
                        f"{format_shape(wanted.targets)}")
    if not np.isfinite(y).all():
        raise DataError(f"{name}: y holds NaN or infinite values; targets are finite numbers")
    return y.astype(np.float32)


def _arrays(name: str, x, y, wanted: Wanted) -> Examples:
    """Arrays `x` and `y` checked against the network; DataErrors begin with `name`."""
    x, y = np.asarray(x), np.asarray(y)
    input_shape = tuple(wanted.input_shape)
    if input_shape[0] == 1 and x.ndim == len(input_shape) and x.shape[1:] == input_shape[1:]:
        x = x[:, None]  # N x H x W: one channel
    if x.ndim != len(input_shape) + 1 or x.shape[1:] != input_shape or y.ndim == 0 or len(y) != len(x):
        targets = "N class numbers" + (f" or N x {format_shape(wanted.targets)} targets" if wanted.targets else "")
        raise DataError(f"{name}: x is {format_shape(x.shape)} and y {format_shape(y.shape)}; the network needs "
                        f"x as N x {format_shape(input_shape)} and y as {targets}")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise DataError(f"{name}: x holds {'NaN or infinite values' if np.issubdtype(x.dtype, np.number) else x.dtype}"
                        "; examples are finite numbers")
    if x.dtype == np.uint8:  # pixels 0-255: scaled to [0, 1], and for an image input made inputs as images are
        x = x.astype(np.float32) / np.float32(255)
        if len(input_shape) == 3 and input_shape[0] in IMAGE_CHANNELS:
            x = wanted.preprocessing.normalise(x)
    return Examples(x.astype(np.float32), _targets(name, y, wanted))


def _examples(source, wanted: Wanted, class_names: tuple[str, ...] = ()) -> tuple[Examples, tuple[str, ...]]:
    """The examples of `source` ("digits", an .npz path, an image folder or a pair of
    arrays (x, y)) and, for a folder, the class names its labels follow: `class_names`
    if given (a validation folder follows the training folder's), else its own."""
    if isinstance(source, (tuple, list)):
        return _arrays("the arrays (x, y)", *source, wanted), ()
    if source == "digits":
        digits = _digits(wanted.input_shape)
        return Examples(digits.x, _targets("digits", digits.y, wanted)), ()
    if os.path.isdir(source):
        x, y, names = read_folder(source, wanted.input_shape, wanted.classes, wanted.preprocessing, class_names)
        return Examples(x, y), names
    return _arrays(source, *_read_npz(source), wanted), ()


def _named(source) -> str:
    return "the arrays (x, y)" if isinstance(source, (tuple, list)) else str(source)


def load_dataset(source, wanted: Wanted, seed: int = 0, share: float = VALIDATION_SHARE,
                 validation=None) -> Dataset:
    """`source` is "digits", an .npz path, an image folder ROOT/CLASS/*.png or a pair of
    arrays (x, y). The examples of `validation` (the same kinds of source) are held out
    if given, else the last `share` of a seeded shuffle."""
    examples, names = _examples(source, wanted)
    if validation is not None:
        if not len(examples.y):
            raise DataError(f"{_named(source)}: no examples to train on")
        held, _ = _examples(validation, wanted, names)
        if not len(held.y):
            raise DataError(f"{_named(validation)}: no examples to validate on")
        if held.labelled != examples.labelled:
            raise DataError(f"{_named(validation)}: its y holds {held.y.dtype} values and the training examples' "
                            f"{examples.y.dtype}; validate on the same kind of targets")
        return Dataset(examples, held, wanted.classes, names)
    if len(examples.y) < 2:
        raise DataError("training needs at least 2 examples (one is held out for validation)")
    order = np.random.default_rng(seed).permutation(len(examples.y))
    held = min(max(1, int(len(order) * share)), len(order) - 1)  # at least one example each side
    training, validation_order = order[:-held], order[-held:]
    return Dataset(Examples(examples.x[training], examples.y[training]),
                   Examples(examples.x[validation_order], examples.y[validation_order]), wanted.classes, names)
