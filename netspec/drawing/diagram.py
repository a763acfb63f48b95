"""What a picture of a network shows, as data: a box per layer (or per block call),
arrows for the data flow, groups for block calls, and each problem on the box it concerns.

No drawing library is needed here; `render.py` turns a diagram into Graphviz's DOT.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from ..check import Layer, ShapedGraph
from ..diagnostics import Diagnostic, Severity
from ..ir import INPUT, BlockCall, Node, format_shape
from ..ops import OPS, REQUIRED, Trait
from ..ops.params import Padding, SamePadding

# The window settings the lecture abbreviates (`conv 6 k5 p2`); other settings keep their names.
_SHORT = {"kernel": "k", "stride": "s", "padding": "p"}


class Role(Enum):
    """What a box stands for, which decides its colour."""

    INPUT = "input"
    LINEAR = "linear"  # a layer with weights that mix channels or features (conv, dense)
    JOIN = "join"  # a layer that reads several tensors (add, concat)
    PLAIN = "plain"  # everything else: activations, pooling, normalisation, reshapes
    BLOCK = "block"  # a whole block call (with --collapse)


@dataclass(frozen=True)
class Box:
    name: str  # the tensor it produces: `input`, a layer's name, or a block call's name
    title: str  # the name shown, relative to the group it is drawn in
    operation: str  # what it computes, as `conv 6 k5 p2`; empty when the title says it (`relu1`)
    shape: str  # its output shape, `?` when unknown
    params: str  # `156 params`; empty for none
    role: Role
    group: str | None = None  # the innermost block call it is drawn in
    severity: Severity | None = None  # its worst problem's
    problems: tuple[str, ...] = ()  # the messages about it, without its own name in front


@dataclass(frozen=True)
class Group:
    """A block call drawn as a frame around its layers."""

    name: str
    label: str  # `residual1: residual 128 2`
    parent: str | None  # the call it is nested in


@dataclass(frozen=True)
class Diagram:
    name: str  # the network's
    caption: tuple[str, ...]
    boxes: tuple[Box, ...]
    arrows: tuple[tuple[str, str], ...]  # (from box, to box), each pair once
    groups: tuple[Group, ...] = ()

    @property
    def branches(self) -> tuple[tuple[str, ...], ...]:
        """Boxes to draw side by side, left to right in the spec's order: the starts of
        parallel paths (Inception's four, ResNet's main path and shortcut). A join is left
        out: it belongs below the paths it joins, not beside them."""
        boxes = {box.name: box for box in self.boxes}
        readers: dict[str, list[Box]] = {}
        for source, target in self.arrows:
            if boxes[target].role is not Role.JOIN:
                readers.setdefault(source, []).append(boxes[target])
        return tuple(tuple(box.name for box in found) for found in readers.values()
                     if len(found) > 1 and len({box.group for box in found}) == 1)


def diagram(graph: ShapedGraph, collapse: bool = False) -> Diagram:
    """Every layer whose input shapes are known (of an invalid spec, all that the checker
    reached), or with `collapse` one box per top-level block call instead of its layers."""
    problems = _problems_by_layer(graph)
    if collapse:
        return _collapsed(graph, problems)
    layers = graph.layers
    calls = sorted((call.name for call in graph.calls), key=len, reverse=True)
    names, arrows = _box_names(layers)
    boxes = [_input_box(graph)] + [_layer_box(layer, name, _innermost(layer.node.name, calls), problems)
                                   for layer, name in zip(layers, names)]
    groups = tuple(Group(call.name, f"{call.name.rsplit('.', 1)[-1]}: {_call_text(call)}", _innermost(call.name, calls))
                   for call in graph.calls)
    return Diagram(graph.name, _caption(graph), tuple(boxes), _once(arrows), groups)


def _box_names(layers) -> tuple[list[str], list[tuple[str, str]]]:
    """A box name per layer, and the arrows between the boxes. A name given twice (an error
    the builder reports) names its second box `c1 (line 5)`; a layer reading the name reads
    the box last given it."""
    latest = {INPUT: INPUT}
    names, arrows = [], []
    for layer in layers:
        node = layer.node
        name = f"{node.name} (line {node.line})" if node.name in latest else node.name
        arrows += [(latest[source], name) for source in node.inputs]
        latest[node.name] = name
        names.append(name)
    return names, arrows


def _collapsed(graph: ShapedGraph, problems: dict[str, tuple[Diagnostic, ...]]) -> Diagram:
    """Like `check --collapse`: a top-level call is one box with its last layer's shape and
    its layers' parameters and problems."""
    calls = {call.name: call for call in graph.calls}
    names, arrows = _box_names(graph.layers)
    members: dict[str, list[Layer]] = {}
    for layer, name in zip(graph.layers, names):
        members.setdefault(_top_level(name), []).append(layer)
    boxes = [_input_box(graph)]
    for name, group in members.items():
        if name in calls:
            found = tuple(d for layer in group for d in problems.get(layer.node.name, ()))
            box = Box(name, name, _call_text(calls[name]), _shape(group[-1]), _params(layer.params for layer in group),
                      Role.BLOCK)
            boxes.append(_with_problems(box, name, found))
        else:
            boxes.append(_layer_box(group[0], name, None, problems))
    between = ((_top_level(source), _top_level(target)) for source, target in arrows)
    return Diagram(graph.name, _caption(graph), tuple(boxes), _once((a, b) for a, b in between if a != b))


def _input_box(graph: ShapedGraph) -> Box:
    return Box(INPUT, INPUT, "", format_shape(graph.input_shape), "", Role.INPUT)


def _layer_box(layer: Layer, name: str, call: str | None, problems: dict[str, tuple[Diagnostic, ...]]) -> Box:
    title = layer.node.name[len(call) + 1:] if call else layer.node.name
    operation = describe(layer.node)
    # `relu1` needs no line saying `relu`; `path1` (a relu) does.
    shown = "" if operation == layer.node.kind and title.startswith(operation) else operation
    box = Box(name, title, shown, _shape(layer), _params([layer.params]), _role(layer.node), call)
    return _with_problems(box, layer.node.name, problems.get(layer.node.name, ()))


def _with_problems(box: Box, subject: str, found: tuple[Diagnostic, ...]) -> Box:
    """The box with the problems found about `subject`, their messages without its name in front."""
    if not found:
        return box
    severity = Severity.ERROR if any(d.is_error for d in found) else Severity.WARNING
    return replace(box, severity=severity, problems=tuple(_without_name(d.message, subject) for d in found))


def _role(node: Node) -> Role:
    op = OPS.get(node.kind)  # None for an unknown kind (reported by the builder)
    if op is None:
        return Role.PLAIN
    return Role.LINEAR if op.has(Trait.LINEAR_PER_CHANNEL) else Role.JOIN if op.has(Trait.JOINS) else Role.PLAIN


def describe(node: Node) -> str:
    """The kind with its positional values and the settings that differ from their defaults:
    `conv 6 k5 p2`, `maxpool k3 s2 p1`, `dense 10 bias=false`."""
    if node.attrs is None:  # an invalid statement: its values could not be read
        return node.kind
    words = [node.kind]
    for param in OPS[node.kind].params:
        value = getattr(node.attrs, param.name)
        if param.positional:
            words.append(_value(value))
        elif param.default is REQUIRED or value != param.default:
            words.append(_setting(param.name, value))
    return " ".join(words)


def _setting(name: str, value) -> str:
    text = _value(value)
    short = _SHORT.get(name)
    return f"{short}{text}" if short and text[0].isdigit() else f"{name}={text}"


def _value(value) -> str:
    if isinstance(value, tuple):
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"
    if isinstance(value, Padding):
        if not value.is_symmetric():
            return f"{value.top},{value.bottom},{value.left},{value.right}"
        return _value((value.top, value.left))
    if isinstance(value, SamePadding):
        return "same"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _shape(layer: Layer) -> str:
    return format_shape(layer.output_shape) if layer.output_shape else "?"


def _params(counts) -> str:
    """`156 params`; nothing for none; the words for a count that depends on the input's sizes."""
    counts = list(counts)
    if any(c is None for c in counts):
        return "params depend on the input size"
    total = sum(counts)
    return f"{total:,} params" if total else ""


def _call_text(call: BlockCall) -> str:
    """The call as written: `residual 128 2`."""
    return " ".join([call.block, *(value for _, value in call.arguments)])


def _innermost(name: str, calls: list[str]) -> str | None:
    """The innermost block call a layer or call is part of: the longest of `calls` (longest
    first) that its name starts with."""
    return next((call for call in calls if name.startswith(call + ".")), None)


def _top_level(name: str) -> str:
    """The top-level block call a box is drawn in when collapsed (`res1` for `res1.conv1`), or the box itself."""
    return name.split(".", 1)[0]


def _once(arrows) -> tuple[tuple[str, str], ...]:
    return tuple(dict.fromkeys(arrows))


def _problems_by_layer(graph: ShapedGraph) -> dict[str, tuple[Diagnostic, ...]]:
    """The checker's messages about a layer start with its name (`b2.conv1: kernel 5 is ...`)."""
    names = {layer.node.name for layer in graph.layers}
    found: dict[str, list[Diagnostic]] = {}
    for diagnostic in graph.diagnostics:
        named = diagnostic.message.split(": ", 1)[0]
        if named in names:
            found.setdefault(named, []).append(diagnostic)
    return {name: tuple(diagnostics) for name, diagnostics in found.items()}


def _without_name(message: str, name: str) -> str:
    """`kernel 5 is ...` on box `b2.conv1`; `conv1: kernel 5 is ...` on the collapsed box `b2`."""
    for prefix in (f"{name}: ", f"{name}."):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _caption(graph: ShapedGraph) -> tuple[str, ...]:
    """The network's name, input and output, totals (and the sizes it accepts, when they are
    names); for an invalid spec, how many problems."""
    errors = sum(d.is_error for d in graph.diagnostics)
    counts = [_count(errors, "error"), _count(len(graph.diagnostics) - errors, "warning")]
    if not graph.ok:
        return f"network {graph.name}", ", ".join([f"input {format_shape(graph.input_shape)}: invalid", *filter(None, counts)])
    flow = f"input {format_shape(graph.input_shape)} → output {format_shape(graph.output_shape)}"
    totals = [f"{graph.params:,} parameters" if graph.params is not None else "",
              f"{graph.macs:,} MACs" if graph.macs is not None else ""]
    summary = ", ".join(filter(None, [flow, *totals, counts[1]]))
    if graph.sizes is not None:
        return f"network {graph.name}", summary, f"sizes: {graph.sizes.describe()}"
    return f"network {graph.name}", summary


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'s' * (number != 1)}" if number else ""
