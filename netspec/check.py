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

from .diagnostics import Diagnostic, Fix, error, has_errors
from .errors import DataError
from .ir import INPUT, BlockCall, Graph, Node, Shape, format_shape
from .ops import OPS, Operand, Trait, window
from .sizes import Sizes, solve
from .symbolic import is_symbolic, names_of


@dataclass(frozen=True)
class Layer:
    node: Node
    attrs: Any  # with input-dependent choices resolved (e.g. `padding=same`)
    input_shapes: tuple[Shape, ...]  # one per tensor the node reads
    output_shape: Shape | None  # None when no shape could be inferred
    params: int | None  # None when it depends on input sizes that are names
    macs: Any  # an int, or a symbolic.Product of input sizes that are names
    failed: bool
    requirements: tuple = ()  # what the layer needs of input sizes that are names

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
    sizes: Sizes | None = None  # the input sizes a network whose sizes are names accepts
    preprocessing: Any = None  # what the spec's `preprocess` line declares, as in Graph

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def output_shape(self) -> Shape | None:
        return self.layers[-1].output_shape if self.ok else None

    @property
    def params(self) -> int | None:
        """The learned parameters; None when they depend on input sizes that are names."""
        return total_count(layer.params for layer in self.layers)

    @property
    def macs(self) -> int | None:
        return total_count(layer.macs for layer in self.layers)

    @property
    def symbolic(self) -> bool:
        """Whether the input's sizes are names (`input 3xHxW`): checked for all sizes at once."""
        return any(is_symbolic(d) for d in self.input_shape)

    @property
    def smallest_input(self) -> Shape | None:
        """With input sizes that are names: the smallest input shape the network accepts."""
        smallest = self.sizes.smallest if self.sizes else None
        return None if smallest is None else tuple(smallest.get(str(d), d) for d in self.input_shape)

    def require_numbers(self) -> None:
        """Raise DataError when the input's sizes are names: code, weights and exported models
        are made for one size."""
        if self.symbolic:
            example = format_shape(self.smallest_input)
            raise DataError(f"network {self.name} has input sizes that are names ({format_shape(self.input_shape)}); "
                            f"write numbers in its `input` line to compile, run or export it, e.g. the smallest "
                            f"it accepts, `input {example}`")

    @property
    def requirements(self) -> tuple:
        return tuple(r for layer in self.layers for r in layer.requirements)

    def layer(self, name: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.node.name == name), None)


def total_count(counts) -> int | None:
    """The sum of parameter or MAC counts; None when one is unknown or depends on input
    sizes that are names."""
    counts = list(counts)
    return None if any(c is None or is_symbolic(c) for c in counts) else sum(counts)


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
    layer = Layer(node, inference.attrs, input_shapes, output, params, macs, failed, inference.requirements)
    return layer, _with_expansion(node, inference.diagnostics)


def _stated(layer: Layer) -> tuple[Diagnostic, ...]:
    """Errors for the shapes the spec states (`-> 6x28x28`) that the layer does not give,
    with the padding that would give it (for windowed layers) or the shape to state instead."""
    problems = []
    for shape, span in layer.node.expectations:
        if layer.output_shape is None or shape == layer.output_shape:
            continue
        stated, computed = format_shape(shape), format_shape(layer.output_shape)
        fixes = []
        padding = window.padding_for(layer, shape) if OPS[layer.node.kind].has(Trait.WINDOWED) else None
        if padding is not None:
            fixes.append(window.setting(layer.node, "padding", padding, f"use padding={padding} (it gives {stated})"))
        if all(isinstance(d, int) or is_symbolic(d) and str(d).isidentifier() for d in layer.output_shape):
            fixes.append(Fix(span, computed, f"state `-> {computed}`, the shape the layer gives"))
        problems.append(error("E0309", f"{layer.node.name}: the spec states {stated}, but the layer gives {computed}",
                              span, help=" or ".join(f.note for f in fixes) or None, fixes=tuple(fixes)))
    return tuple(problems)


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
        diagnostics.extend(_with_expansion(node, _stated(layer)))
        layers.append(layer)
        producers[node.name] = layer
        shapes[node.name] = layer.output_shape
    names = names_of(graph.input_shape)
    sizes = solve(names, tuple(r for layer in layers for r in layer.requirements)) if names else None
    if sizes is not None and sizes.impossible is not None and not has_errors(diagnostics):
        layer = next(layer for layer in layers if sizes.impossible in layer.requirements)
        diagnostics.append(error("E0311", f"no input size satisfies what {layer.node.name} needs: {sizes.describe()}",
                                 layer.node.keyword_span, notes=layer.node.expansion))
    return ShapedGraph(graph.name, graph.input_shape, graph.output, tuple(layers), tuple(diagnostics), graph.calls,
                       sizes, graph.preprocessing)
