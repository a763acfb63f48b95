"""Which input sizes near a spec's own also work (`netspec check --sizes`).

The spec is checked again with its height and width as names, its dense layers
keeping the input features they have now (their weights are made for them), and
the sizes nearby are tried: which are valid, and which of those read every row.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from math import prod

from .check import ShapedGraph, check
from .frontend.build import build
from .frontend.parse import parse
from .frontend.source import Source
from .ir import Graph

# Sizes up to this far from the spec's own are tried.
RADIUS = 8


@dataclass(frozen=True)
class Nearby:
    """The sizes tried (`N` for a square input, else `(H, W)`), the valid ones, and those
    of them where every row and column is read."""

    square: bool
    valid: tuple
    reads_every_row: tuple
    kept: tuple[str, ...]  # "dense1 keeps 400 input features"


def _with_sizes(graph: Graph, sizes) -> Graph:
    return replace(graph, input_shape=(graph.input_shape[0], *sizes))


def _for_other_sizes(graph: Graph, shaped: ShapedGraph) -> tuple[Graph, tuple[str, ...]]:
    """The graph whose layers that can state their input features (dense) state the ones
    they have at the spec's size, and that states no shapes (those are for its own size)."""
    kept, nodes = [], []
    features = {layer.node.name: prod(layer.input_shape) for layer in shaped.layers}
    for node in graph.nodes:
        node = replace(node, expectations=())
        if "in_features" in {f.name for f in fields(node.attrs)} and node.attrs.in_features is None:
            count = features[node.name]
            node = replace(node, attrs=replace(node.attrs, in_features=count))
            kept.append(f"{node.name} keeps its {count} input features")
        nodes.append(node)
    return replace(graph, nodes=tuple(nodes)), tuple(kept)


def nearby(source: Source) -> Nearby | None:
    """None when the spec is not a valid image network with sizes given as numbers."""
    program, _ = parse(source)
    graph, _ = build(program, source) if program else (None, ())
    if graph is None or len(graph.input_shape) != 3 or not all(isinstance(d, int) for d in graph.input_shape):
        return None
    shaped = check(graph)
    if not shaped.ok:
        return None
    graph, kept = _for_other_sizes(graph, shaped)
    _, height, width = graph.input_shape
    square = height == width
    if square:
        tried = [(n, n) for n in range(max(1, height - RADIUS), height + RADIUS + 1)]
    else:
        tried = sorted({(h, width) for h in range(max(1, height - RADIUS), height + RADIUS + 1)}
                       | {(height, w) for w in range(max(1, width - RADIUS), width + RADIUS + 1)})
    valid, every_row = [], []
    for sizes in tried:
        result = check(_with_sizes(graph, sizes))
        if result.ok:
            label = sizes[0] if square else sizes
            valid.append(label)
            if not any(d.code == "W0301" for d in result.diagnostics):
                every_row.append(label)
    return Nearby(square, tuple(valid), tuple(every_row), kept)


def describe(nearby_sizes: Nearby, channels: int) -> str:
    what = f"{channels}xNxN" if nearby_sizes.square else f"{channels}xHxW"
    kinds = [f"{what} is valid for " + _values(nearby_sizes, nearby_sizes.valid)]
    kinds.append("every row and column is read for " + (_values(nearby_sizes, nearby_sizes.reads_every_row)
                                                         if nearby_sizes.reads_every_row else "none of them"))
    kept = f" ({'; '.join(nearby_sizes.kept)})" if nearby_sizes.kept else ""
    return f"sizes within {RADIUS}: " + "; ".join(kinds) + kept


def _values(nearby_sizes: Nearby, values) -> str:
    if nearby_sizes.square:
        return "N = " + ", ".join(map(str, values))
    return "(H, W) = " + ", ".join(f"({h}, {w})" for h, w in values)
