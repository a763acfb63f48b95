"""Binding the tensors of a weight file to a network's weight keys: by name when the
file uses netspec's keys, otherwise by an explicit map and then by order and shape.

By order and shape: the spec's weights, in layer order, take the file's tensors in the
file's order, each the next tensor of its shape. Tensors that no weight takes are
reported as unused. When the shapes allow more than one such binding, or none, it is
refused, naming the layer, its line and both shapes.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..check import ShapedGraph
from ..errors import DataError
from ..ir import format_shape
from ..weights import initial_weights, validate, weight_shapes
from .weight_files import READERS, read_weight_file

# How a row of the binding was made.
BY_NAME, BY_MAP, BY_ORDER = "name", "map", "order"

# PyTorch's batchnorm keeps this counter beside its running statistics; it only
# matters for momentum=None training, so inference has no weight for it.
BATCH_COUNTER = "num_batches_tracked"


@dataclass(frozen=True)
class Bound:
    """One row of the binding table: a tensor of the file and the weight it became."""

    file_key: str
    key: str
    shape: tuple[int, ...]
    by: str  # BY_NAME, BY_MAP or BY_ORDER


@dataclass(frozen=True)
class Binding:
    """The weights a file gives a network, keyed and ordered as the network's, and how."""

    origin: str
    network: str
    rows: tuple[Bound, ...]  # in the spec's weight order
    arrays: Mapping[str, np.ndarray] = field(repr=False)
    unused: tuple[str, ...] = ()  # tensors of the file no weight took
    skipped: tuple[str, ...] = ()  # PyTorch's batchnorm counters

    @property
    def renamed(self) -> bool:
        """Whether any key of the file differs from the weight it became."""
        return any(row.file_key != row.key for row in self.rows)


@dataclass(frozen=True)
class MapEntry:
    """One line of a map file: the file's key and netspec's key it binds to."""

    file_key: str
    key: str
    where: str  # `map file m.txt, line 3`, for messages


def read_map(path) -> tuple[MapEntry, ...]:
    """The entries of a map file: one `FILE_KEY NETSPEC_KEY` pair per line, `#` comments.
    A key named twice on either side is refused, with both lines."""
    path = os.fsdecode(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise DataError(f"map file {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise DataError(f"map file {path} is not UTF-8 text") from None
    entries, lines = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"map file {path}, line {number}"
        if len(fields) != 2:
            raise DataError(f"{where}: expected `FILE_KEY NETSPEC_KEY`, found {line.strip()!r}")
        for side, key in zip(("file key", "netspec key"), fields):
            if (side, key) in lines:
                raise DataError(f"{where}: the {side} {key} is already mapped on line {lines[side, key]}")
            lines[side, key] = number
        entries.append(MapEntry(fields[0], fields[1], where))
    return tuple(entries)


def _as_arrays(tensors: Mapping, origin: str) -> dict[str, np.ndarray]:
    arrays, problems = {}, []
    for key, value in tensors.items():
        try:
            arrays[key] = np.asarray(value)
        except (ValueError, TypeError, RuntimeError) as exc:  # ragged lists, objects, tensors needing grad
            problems.append(f"{key}: not an array ({exc})")
    if problems:
        raise DataError(f"weights from {origin} do not fit the network:\n  " + "\n  ".join(problems))
    return arrays


def _needs(graph: ShapedGraph, key: str, shape) -> str:
    """`conv2.weight (layer conv2, line 9) needs 16x6x5x5`."""
    layer = graph.layer(key.rsplit(".", 1)[0])
    return f"{key} (layer {layer.node.name}, line {layer.node.line}) needs {format_shape(shape)}"


def _suggestion(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _by_map(graph, explicit, arrays, expected, origin) -> list[Bound]:
    rows = []
    for entry in explicit:
        if entry.file_key not in arrays:
            raise DataError(f"{entry.where}: {origin} has no tensor {entry.file_key}"
                            f"{_suggestion(entry.file_key, arrays)}")
        if entry.key not in expected:
            raise DataError(f"{entry.where}: {entry.key} is not a weight of {graph.name}"
                            f"{_suggestion(entry.key, expected)}")
        shape = arrays[entry.file_key].shape
        if shape != tuple(expected[entry.key]):
            raise DataError(f"{entry.where}: {entry.file_key} is {format_shape(shape)}, but "
                            f"{_needs(graph, entry.key, expected[entry.key])}")
        rows.append(Bound(entry.file_key, entry.key, shape, BY_MAP))
    return rows


def _earliest(shapes: list, wanted: list) -> list[int]:
    """The file position each wanted shape takes when every one takes the first fitting
    tensor after the previous one's; shorter than `wanted` when the file runs out."""
    positions, j = [], 0
    for shape in wanted:
        while j < len(shapes) and shapes[j] != shape:
            j += 1
        if j == len(shapes):
            break
        positions.append(j)
        j += 1
    return positions


def _latest(shapes: list, wanted: list) -> list[int]:
    last = len(shapes) - 1
    return [last - j for j in reversed(_earliest(shapes[::-1], wanted[::-1]))]


def _by_order(graph, files: list[tuple[str, tuple]], wanted: list[tuple[str, tuple]],
              origin: str) -> tuple[list[Bound], tuple[str, ...]]:
    """Every binding by order and shape lies, weight by weight, between the earliest and
    the latest one; it is unique exactly when those two are the same."""
    shapes, needed = [shape for _, shape in files], [tuple(shape) for _, shape in wanted]
    earliest = _earliest(shapes, needed)
    if len(earliest) < len(needed):
        raise DataError(_no_binding(graph, files, wanted, earliest, origin))
    for i, (first, last) in enumerate(zip(earliest, _latest(shapes, needed))):
        if first != last:
            key, shape = wanted[i]
            raise DataError(
                f"weights from {origin}: the keys are not {graph.name}'s, and binding them by order and shape is "
                f"ambiguous ({_count(len(files), 'tensor')} for {_count(len(wanted), 'weight')}): {_needs(graph, key, shape)}, "
                f"and both {files[first][0]} and {files[last][0]} could be it\n{_MAP_HELP}")
    rows = [Bound(files[j][0], key, tuple(shape), BY_ORDER) for j, (key, shape) in zip(earliest, wanted)]
    taken = set(earliest)
    return rows, tuple(key for j, (key, _) in enumerate(files) if j not in taken)


_MAP_HELP = "help: give the binding with a map file (--map FILE), one `FILE_KEY NETSPEC_KEY` per line"


def _no_binding(graph, files, wanted, earliest: list[int], origin: str) -> str:
    intro = f"weights from {origin}: the keys are not {graph.name}'s, so they are bound by order and shape"
    if len(files) == len(wanted):
        i = next(i for i, ((_, found), (_, shape)) in enumerate(zip(files, wanted)) if found != tuple(shape))
        (file_key, found), (key, shape) = files[i], wanted[i]
        return (f"{intro}, and they differ at weight {i + 1} of {len(wanted)}: {_needs(graph, key, shape)}, "
                f"but tensor {i + 1}, {file_key}, is {format_shape(found)}\n{_MAP_HELP}")
    key, shape = wanted[len(earliest)]
    if not earliest:
        where = "no tensor has that shape" if files else "no tensors are left"
    elif earliest[-1] + 1 == len(files):
        where = f"no tensors follow {files[-1][0]}"
    else:
        following = files[earliest[-1] + 1]
        where = (f"no tensor of that shape follows {files[earliest[-1]][0]} (the next is "
                 f"{following[0]}, {format_shape(following[1])})")
    return (f"{intro}; there are {_count(len(files), 'tensor')} for {_count(len(wanted), 'weight')}, and "
            f"{_needs(graph, key, shape)}, but {where}\n{_MAP_HELP}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def bind(graph: ShapedGraph, tensors: Mapping, origin: str, explicit: tuple[MapEntry, ...] = ()) -> Binding:
    """The network's weights from named tensors (a file's, or a mapping's, in their order).
    Keys that are netspec's are taken by name; otherwise the `explicit` entries bind
    first and the rest bind by order and shape. Raises DataError naming what does not fit."""
    expected = weight_shapes(graph)
    arrays = _as_arrays(tensors, origin)
    mapped = {entry.file_key for entry in explicit}
    skipped = tuple(key for key in arrays
                    if key.rsplit(".", 1)[-1] == BATCH_COUNTER and key not in expected and key not in mapped)
    arrays = {key: array for key, array in arrays.items() if key not in skipped}
    # No tensors at all is a file of netspec's keys with every one missing.
    if not explicit and (not arrays or any(key in expected for key in arrays)):
        validate(arrays, expected, origin)
        rows = [Bound(key, key, tuple(shape), BY_NAME) for key, shape in expected.items()]
        return Binding(origin, graph.name, tuple(rows), {key: arrays[key] for key in expected}, (), skipped)
    rows = _by_map(graph, explicit, arrays, expected, origin)
    taken = {row.key for row in rows}
    ordered, unused = _by_order(graph, [(key, array.shape) for key, array in arrays.items() if key not in mapped],
                                [(key, shape) for key, shape in expected.items() if key not in taken], origin)
    position = {key: i for i, key in enumerate(expected)}
    rows = sorted(rows + ordered, key=lambda row: position[row.key])
    bound = {row.key: arrays[row.file_key] for row in rows}
    validate(bound, expected, origin)
    return Binding(origin, graph.name, tuple(rows), bound, unused, skipped)


def bind_file(graph: ShapedGraph, path, map_path=None) -> Binding:
    """The network's weights from a weight file (.npz, .safetensors, .pt, .pth), with the
    entries of the map file at `map_path` bound first."""
    explicit = read_map(map_path) if map_path is not None else ()
    return bind(graph, read_weight_file(path), os.fsdecode(path), explicit)


def resolve(graph: ShapedGraph, weights, seed: int) -> tuple[dict[str, np.ndarray], bool]:
    """Weights from a path, a mapping or seeded init; returns (arrays, whether they are untrained)."""
    if weights is None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise DataError(f"seed must be a non-negative integer, got {seed!r}")
        return initial_weights(graph, seed), True
    if isinstance(weights, (str, bytes)) or hasattr(weights, "__fspath__"):
        return dict(bind_file(graph, weights).arrays), False
    if isinstance(weights, Mapping):
        return dict(bind(graph, weights, "the given mapping").arrays), False
    raise DataError(f"weights must be a path to a weight file ({', '.join(READERS)}), a mapping of names "
                    f"to arrays, or None for seeded weights; got {type(weights).__name__}")


_HOW = {frozenset({BY_NAME}): "by name", frozenset({BY_MAP}): "by the map",
        frozenset({BY_MAP, BY_ORDER}): "by the map, the rest by order and shape"}


def binding_table(binding: Binding) -> str:
    """The binding as the command line shows it: file key, netspec key, shape, and notes."""
    how = _HOW.get(frozenset(row.by for row in binding.rows), "by order and shape")
    header = ("file key", "netspec key", "shape")
    rows = [header] + [(row.file_key, row.key, format_shape(row.shape)) for row in binding.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"bound {_count(len(binding.rows), 'tensor')} of {binding.origin} to {binding.network}'s weights {how}:"]
    lines += [f"  {a:{widths[0]}}  {b:{widths[1]}}  {c}" for a, b, c in rows]
    if binding.skipped:
        lines.append(f"note: skipped {_count(len(binding.skipped), BATCH_COUNTER + ' tensor')} "
                     "(PyTorch's batchnorm counters, which inference does not use)")
    if binding.unused:
        lines.append(f"note: {_count(len(binding.unused), 'tensor')} bound to no weight: "
                     + ", ".join(binding.unused))
    return "\n".join(lines)
