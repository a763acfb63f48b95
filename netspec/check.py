"""Shape inference and validation over the IR graph.

Walks the graph in order, applies each layer's shape rule from the registry,
and counts parameters and multiply-accumulates: a `Graph` becomes a
`ShapedGraph`, whose layers carry their shapes. Problems become diagnostics;
a layer whose input shape is unknown (an earlier error) is skipped silently so
one mistake is reported once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .diagnostics import Diagnostic, has_errors
from .ir import INPUT, BlockCall, Graph, Node, Shape
from .ops import OPS, Operand, Trait


@dataclass(frozen=True)
class Layer:
    node: Node
    attrs: Any  # with input-dependent choices resolved (e.g. `padding=same`)
    input_shapes: tuple[Shape, ...]  # one per tensor the node reads
    output_shape: Shape | None  # None when no shape could be inferred
    params: int
    macs: int
    failed: bool

    @property
    def input_shape(self) -> Shape:
        return self.input_shapes[0]


@dataclass(frozen=True)
class ShapedGraph:
    """The graph after shape checking: every layer has its shapes (up to the first
    one that failed), parameter and MAC counts, and the problems found."""

    name: str
    input_shape: Shape
    output: str  # the tensor the network returns
    layers: tuple[Layer, ...]
    diagnostics: tuple[Diagnostic, ...]
    calls: tuple[BlockCall, ...] = ()  # the block calls the layers came from

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def output_shape(self) -> Shape | None:
        return self.layers[-1].output_shape if self.ok else None

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def layer(self, name: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.node.name == name), None)


def _with_expansion(node: Node, diagnostics) -> tuple[Diagnostic, ...]:
    """Problems inside a block also name the call sites that produced the layer. They
    carry no fixes: a fix is computed from one call's shapes, but editing the block
    changes every call."""
    if not node.expansion:
        return tuple(diagnostics)
    return tuple(replace(d, notes=(*d.notes, *node.expansion), fixes=()) for d in diagnostics)


def _check_node(node: Node, input_shapes: tuple[Shape, ...], producers: dict[str, Layer]) -> tuple[Layer, tuple[Diagnostic, ...]]:
    op = OPS[node.kind]
    input_shape = input_shapes[0]
    if op.has(Trait.JOINS):
        inference = op.infer(node, tuple(Operand(shape, producers.get(name))
                                         for shape, name in zip(input_shapes, node.inputs)))
    else:
        inference = op.infer(node, input_shape)
    # A layer with an error still passes its shape on when the shape is certain
    # (dense on an unflattened input), so the layers after it keep being checked.
    output = inference.output
    params = op.count_params(inference.attrs, input_shape) if output else 0
    macs = op.macs(inference.attrs, input_shape, output) if output else 0
    failed = output is None or has_errors(inference.diagnostics)
    layer = Layer(node, inference.attrs, input_shapes, output, params, macs, failed)
    return layer, _with_expansion(node, inference.diagnostics)


def check(graph: Graph) -> ShapedGraph:
    shapes: dict[str, Shape | None] = {INPUT: graph.input_shape}
    layers: list[Layer] = []
    producers: dict[str, Layer] = {}
    diagnostics: list[Diagnostic] = []
    for node in graph.nodes:
        input_shapes = tuple(shapes.get(name) for name in node.inputs)
        if any(shape is None for shape in input_shapes) or node.attrs is None:
            shapes[node.name] = None
            if all(shape is not None for shape in input_shapes):  # invalid statement: reported by the builder
                layers.append(Layer(node, None, input_shapes, None, 0, 0, True))
            continue
        layer, found = _check_node(node, input_shapes, producers)
        diagnostics.extend(found)
        layers.append(layer)
        producers[node.name] = layer
        shapes[node.name] = layer.output_shape
    return ShapedGraph(graph.name, graph.input_shape, graph.output, tuple(layers), tuple(diagnostics), graph.calls)
