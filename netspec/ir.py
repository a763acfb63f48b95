"""The network as a graph of named tensors.

Each node reads named tensors and produces the tensor carrying its own name;
the input is the tensor `input`. Sequential specs are the special case where
each node reads its predecessor, so branches and joins need no new structure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .frontend.source import Span

Shape = tuple[int, ...]

INPUT = "input"


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    inputs: tuple[str, ...]
    # The op's frozen attribute record, or None when the statement was invalid
    # (its errors are already reported; checking stops at this node's output).
    attrs: Any
    span: Span
    keyword_span: Span
    param_spans: tuple[tuple[str, Span], ...] = ()
    # For a layer from a block: "in expansion of ..." notes for its call sites, outermost first.
    expansion: tuple = ()
    # The shapes the spec states for this tensor (`-> 6x28x28` on the layer, or on the block
    # call it ends), each with where it was written: ((shape, span), ...).
    expectations: tuple = ()

    @property
    def line(self) -> int:
        return self.span.line

    def written(self, param: str) -> Span | None:
        """Where `param` was written, or None when it took its default."""
        return dict(self.param_spans).get(param)

    def span_of(self, param: str) -> Span:
        """Where `param` was written, or the layer keyword when it took its default."""
        return self.written(param) or self.keyword_span


@dataclass(frozen=True)
class BlockCall:
    """One expansion of a block: the layers it produced are named `NAME.LOCAL`, and it
    returns its last layer's tensor. Exporters use it to write a block as one unit."""

    name: str  # e.g. "residual1", or "stage1.residual1" for a call inside a block
    block: str  # the block's definition name
    input: str  # the tensor the call reads (the block's `in`)
    arguments: tuple[tuple[str, str], ...]  # every parameter with the text of its value, in definition order


@dataclass(frozen=True)
class Graph:
    name: str
    input_shape: Shape
    nodes: tuple[Node, ...]
    output: str
    calls: tuple[BlockCall, ...] = ()  # in the order they were expanded (outer before inner)
    # What the spec's `preprocess` line declares (a preprocessing.Preprocessing), or None.
    preprocessing: Any = None

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)


def format_shape(shape: Shape) -> str:
    """`6x28x28` (or `6xHxW`, `6 x floor(H/2) x floor(W/2)` for sizes that are names); a
    0-dimensional array (say, in a weight file) is a `scalar`."""
    if not len(shape):
        return "scalar"
    texts = [str(d) for d in shape]
    if all(t.isidentifier() or t.isdigit() for t in texts):
        return "x".join(texts)
    return " x ".join(f"({t})" if " " in t and not t.startswith("floor(") else t for t in texts)
