"""What hovering over a statement shows, as Markdown: the layer's kind, input and output
shapes, settings, parameter and MAC counts, and for a sliding window the lecture's rule
worked out with its numbers; for a block call, its layers."""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..check import Layer, total_count
from ..frontend.source import Span
from ..ir import format_shape
from ..ops import OPS, Trait, window
from ..ops.params import Padding, SamePadding
from ..table import format_count
from .document import Document
from .instances import Instance


@dataclass(frozen=True)
class Hover:
    span: Span  # the statement
    markdown: str


def hover(document: Document, line: int, column: int) -> Hover | None:
    statement = document.statement_at(line, column)
    graph = document.result.graph
    if statement is None or graph is None:
        return None
    layers = {layer.node.name: layer for layer in graph.layers}
    found = [(i, [layers[n.name] for n in i.nodes if n.name in layers]) for i in document.instances
             if i.span.line == line]
    found = [(instance, shaped) for instance, shaped in found if shaped]
    if not found:
        return None
    span = statement.span.to(statement.expected.span) if statement.expected else statement.span
    if len(found) > 1:
        return Hover(span, _table(found))
    instance, shaped = found[0]
    return Hover(span, _call(instance, shaped) if instance.block else _layer(shaped[0]))


def _shape(shape) -> str:
    return format_shape(shape) if shape is not None else "?"


def _layer(layer: Layer) -> str:
    node = layer.node
    if len(node.inputs) > 1:
        reads = ", ".join(f"`{name}` {_shape(shape)}" for name, shape in zip(node.inputs, layer.input_shapes))
    else:
        reads = f"`{node.inputs[0]}` {_shape(layer.input_shape)}"
    paragraphs = [f"**{node.name}** · `{node.kind}`: {reads} -> **{_shape(layer.output_shape)}**"]
    settings = _settings(layer.attrs)
    if settings:
        paragraphs.append(f"`{settings}`")
    if layer.output_shape is not None:
        paragraphs.append(f"{format_count(layer.params)} parameters · {format_count(layer.macs)} MACs")
    paragraphs += _rules(layer)
    return "\n\n".join(paragraphs)


def _settings(attrs) -> str:
    """The layer's parameters in effect, defaults filled in, as they would be written."""
    if attrs is None:
        return ""
    written = ((f.name, _written(getattr(attrs, f.name))) for f in fields(attrs))
    return " ".join(f"{name}={value}" for name, value in written if value is not None)


def _written(value) -> str | None:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple) and len(value) == 2:
        return window.pair(value)
    if isinstance(value, Padding):
        symmetric = value.top == value.bottom and value.left == value.right
        return window.pair((value.top, value.left)) if symmetric else f"{value.top},{value.bottom},{value.left},{value.right}"
    if isinstance(value, SamePadding):
        return "same"
    return None if value is None else str(value)


def _rules(layer: Layer) -> list[str]:
    """`out = floor((n - k + p + s) / s) = ...` per axis, merged when both axes agree."""
    a = layer.attrs
    if a is None or not OPS[layer.node.kind].has(Trait.WINDOWED) or not isinstance(a.padding, Padding):
        return []
    if len(layer.input_shape) != 3 or not all(isinstance(n, int) for n in layer.input_shape[1:]):
        return []
    height, width = window.axes(*layer.input_shape[1:], a.kernel, a.step, a.padding)
    if height.rule() == width.rule():
        return [f"height and width: `out = {height.rule()}`"]
    return [f"height: `out = {height.rule()}`", f"width: `out = {width.rule()}`"]


def _call(instance: Instance, layers: list[Layer]) -> str:
    params = format_count(total_count(layer.params for layer in layers))
    macs = format_count(total_count(layer.macs for layer in layers))
    rows = [f"| `{layer.node.name}` | `{layer.node.kind}` | {_shape(layer.output_shape)} |" for layer in layers]
    shapes = f"{_shape(layers[0].input_shape)} -> **{_shape(layers[-1].output_shape)}**"
    return "\n\n".join([
        f"**{instance.name}** · block `{instance.block}`: {shapes}",
        f"{params} parameters · {macs} MACs",
        "\n".join(["| layer | kind | output |", "|---|---|---|", *rows]),
    ])


def _table(found) -> str:
    """One row per expansion of a statement in a block body or a repeat."""
    rows = [f"| `{instance.name}` | {_shape(shaped[0].input_shape)} | {_shape(shaped[-1].output_shape)} | "
            f"{format_count(total_count(x.params for x in shaped))} | {format_count(total_count(x.macs for x in shaped))} |"
            for instance, shaped in found]
    return "\n".join([f"{len(found)} expansions of this statement:", "",
                      "| expansion | input | output | parameters | MACs |", "|---|---|---|---:|---:|", *rows])
