"""Weights: the keys and shapes a network needs, loading and validating `.npz`
files, and seeded initialisation (how a backend stores them is its own business).

Layouts are PyTorch's: conv `NAME.weight` is c_o x c_i x k_h x k_w, dense
`NAME.weight` is out x in, and `NAME.bias` has one value per output.
"""
from __future__ import annotations

import os
import zipfile
from math import prod, sqrt
from typing import Mapping

import numpy as np

from .check import ShapedGraph
from .errors import DataError
from .ir import format_shape
from .ops import OPS


def weight_shapes(graph: ShapedGraph) -> dict[str, tuple[int, ...]]:
    """Every weight's key (`NAME.SUFFIX`) and shape in PyTorch's layout, in layer order."""
    return {f"{layer.node.name}.{suffix}": shape
            for layer in graph.layers
            for suffix, shape in OPS[layer.node.kind].weight_shapes(layer.attrs, layer.input_shape).items()}


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Read every array of a .npz file, refusing pickled objects; errors name the file and the key."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"weights file {path} is a single .npy array; expected a .npz archive of named arrays")
            return {key: _read_array(path, archive, key) for key in archive.files}
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"weights file {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"weights file {path} is a directory, not a .npz archive") from None
    except ValueError as exc:
        raise DataError(f"weights file {path} is not a valid .npz archive ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"weights file {path} is truncated or not a valid .npz archive ({exc})") from None


def _read_array(path: str, archive, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"weights file {path}, array {key}: contains pickled Python objects; "
                            "netspec only loads numeric arrays") from None
        raise DataError(f"weights file {path}, array {key}: not a valid array ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"weights file {path}, array {key}: truncated or damaged ({exc})") from None


def _numeric_problem(key: str, array: np.ndarray) -> str | None:
    if array.dtype.kind == "f":
        return None
    kinds = {"i": "integer", "u": "unsigned integer", "b": "boolean", "c": "complex", "O": "object"}
    return f"{key}: dtype {array.dtype} ({kinds.get(array.dtype.kind, 'non-numeric')}) is not a float array"


def validate(arrays: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]], origin: str) -> None:
    """Raise one DataError listing every missing, extra, misshaped or non-float array."""
    problems = []
    for key, shape in expected.items():
        if key not in arrays:
            problems.append(f"{key}: missing (expected shape {format_shape(shape)})")
            continue
        try:
            array = np.asarray(arrays[key])
        except (ValueError, TypeError) as exc:  # ragged nested lists, objects numpy cannot convert
            problems.append(f"{key}: not an array ({exc})")
            continue
        problem = _numeric_problem(key, array)
        if problem:
            problems.append(problem)
        elif array.shape != tuple(shape):
            problems.append(f"{key}: expected shape {format_shape(shape)}, found {format_shape(array.shape)}")
    for key in arrays:
        if key not in expected:
            problems.append(f"{key}: not a weight of this network (expected keys: {', '.join(expected) or 'none'})")
    if problems:
        raise DataError(f"weights from {origin} do not fit the network:\n  " + "\n  ".join(problems))


def _fan_in(shape: tuple[int, ...]) -> int:
    return prod(shape[1:])


def initial_weights(graph: ShapedGraph, seed: int = 0) -> dict[str, np.ndarray]:
    """PyTorch's defaults. Conv and dense: every weight and bias of a layer with fan-in f
    is drawn uniformly from [-1/sqrt(f), 1/sqrt(f)], f = c_i*k_h*k_w (conv) or in (dense),
    in layer order, weight before bias, from numpy's PCG64 seeded with `seed`.
    Layers with fixed starting values (batchnorm: weight 1, bias 0, running mean 0,
    running variance 1) take those."""
    generator = np.random.Generator(np.random.PCG64(seed))
    arrays, bounds = {}, {}
    for layer in graph.layers:
        op = OPS[layer.node.kind]
        for suffix, shape in op.weight_shapes(layer.attrs, layer.input_shape).items():
            key = f"{layer.node.name}.{suffix}"
            if suffix in op.initial_values:
                arrays[key] = np.full(shape, op.initial_values[suffix], np.float32)
                continue
            if suffix == "weight":
                bounds[layer.node.name] = 1.0 / sqrt(_fan_in(shape))
            bound = bounds[layer.node.name]
            arrays[key] = generator.uniform(-bound, bound, size=shape).astype(np.float32)
    return arrays


def resolve(graph: ShapedGraph, weights, seed: int) -> tuple[dict[str, np.ndarray], bool]:
    """Weights from a path, a mapping or seeded init; returns (arrays, whether they are untrained)."""
    expected = weight_shapes(graph)
    if weights is None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise DataError(f"seed must be a non-negative integer, got {seed!r}")
        return initial_weights(graph, seed), True
    if isinstance(weights, (str, bytes)) or hasattr(weights, "__fspath__"):
        origin = os.fsdecode(weights)
        arrays = load_npz(origin)
    elif isinstance(weights, Mapping):
        origin, arrays = "the given mapping", dict(weights)
    else:
        raise DataError(f"weights must be a path to a .npz file, a mapping of names to arrays, or None for "
                        f"seeded weights; got {type(weights).__name__}")
    validate(arrays, expected, origin)
    return arrays, False
