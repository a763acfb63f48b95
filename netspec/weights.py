"""Weights: the keys and shapes a network needs, validating given arrays against them,
and seeded initialisation (files are read and bound in `interop`; how a backend stores
them is its own business).

Layouts are PyTorch's: conv `NAME.weight` is c_o x c_i x k_h x k_w, dense
`NAME.weight` is out x in, and `NAME.bias` has one value per output.
"""
from __future__ import annotations

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
        array = np.asarray(arrays[key])
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
