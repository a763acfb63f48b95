"""The output shape of every layer and block call, shown at the end of its line.

A statement in a block body or a repeat gives one shape per expansion: its line shows
each distinct one, in order (the first two and the last when there are more than three).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..frontend.source import Span
from ..ir import format_shape
from .document import Document

# More shapes than this on one line are shortened to the first two and the last.
MAX_SHAPES = 3


@dataclass(frozen=True)
class Hint:
    span: Span  # empty, at the end of the line
    label: str  # `-> 6x28x28`, written as a stated shape is


def hints(document: Document) -> tuple[Hint, ...]:
    graph = document.result.graph
    if graph is None:
        return ()
    shapes = {layer.node.name: layer.output_shape for layer in graph.layers if layer.output_shape is not None}
    by_line: dict[int, list[str]] = {}
    for instance in document.instances:
        if instance.tensor in shapes:
            shown = by_line.setdefault(instance.span.line, [])
            shape = format_shape(shapes[instance.tensor])
            if shape not in shown:
                shown.append(shape)
    return tuple(Hint(document.line_end(line), "-> " + ", ".join(_shortened(shown)))
                 for line, shown in sorted(by_line.items()))


def _shortened(shapes: list[str]) -> list[str]:
    return shapes if len(shapes) <= MAX_SHAPES else [*shapes[:MAX_SHAPES - 1], "…", shapes[-1]]
