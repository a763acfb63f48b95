"""The output shape of every layer and block call, shown at the end of its line.

A statement in a block body or a repeat gives one shape per expansion: its line shows
each distinct one, in order (the first two and the last when there are more than three).
A line that states its shape (`-> 6x28x28`) already shows it: when the checker agrees,
the hint is a check mark, as editors leave out a type hint where the type is written.
Each hint's tooltip names every layer or call of its line with its shape.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..frontend.source import Span
from ..ir import format_shape
from .document import Document
from .instances import Instance

# More shapes than this on one line are shortened to the first two and the last.
MAX_SHAPES = 3
VERIFIED = "✓"


@dataclass(frozen=True)
class Hint:
    span: Span  # empty, at the end of the line
    label: str  # `-> 6x28x28`, written as a stated shape is, or VERIFIED
    tooltip: str  # `conv1 -> 6x28x28`, a line per layer or call


def hints(document: Document) -> tuple[Hint, ...]:
    graph = document.result.graph
    if graph is None:
        return ()
    shapes = {layer.node.name: layer.output_shape for layer in graph.layers if layer.output_shape is not None}
    by_line: dict[int, tuple[list[str], list[str]]] = {}
    for instance in document.instances:
        if instance.tensor in shapes:
            shown, named = by_line.setdefault(instance.span.line, ([], []))
            shape = shapes[instance.tensor]
            text = VERIFIED if _stated(instance) == [shape] else format_shape(shape)
            if text not in shown:
                shown.append(text)
            named.append(f"{instance.name} -> {format_shape(shape)}")
    return tuple(Hint(document.line_end(line), _label(shown), "\n".join(named))
                 for line, (shown, named) in sorted(by_line.items()))


def _stated(instance: Instance) -> list:
    """The shapes the instance's own line states for its tensor."""
    return [shape for shape, span in instance.nodes[-1].expectations if span.line == instance.span.line]


def _label(shown: list[str]) -> str:
    shapes = [text for text in shown if text != VERIFIED]
    if not shapes:
        return VERIFIED
    if len(shapes) > MAX_SHAPES:
        shapes = [*shapes[:MAX_SHAPES - 1], "…", shapes[-1]]
    return "-> " + ", ".join(shapes)
