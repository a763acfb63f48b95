"""Diagrams drawn by Graphviz (the layout engine Keras' plot_model and Caffe's draw_net
use): DOT source, and SVG or PNG pictures made by its `dot` program.
"""
from __future__ import annotations

import html
import textwrap

from ..diagnostics import Severity
from .diagram import Box, Diagram, Group, Role

FORMATS = ("svg", "png", "dot")

_FILL = {Role.INPUT: "#e6e6e6", Role.LINEAR: "#dcebf7", Role.JOIN: "#fbefc5", Role.PLAIN: "#ffffff",
         Role.BLOCK: "#e2f0e2"}
# (border and message colour, fill) for a box with problems
_MARKED = {Severity.ERROR: ("#c62828", "#fde3e3"), Severity.WARNING: ("#d96c00", "#ffefd9")}
_FONT = "DejaVu Sans,Helvetica,Arial,sans-serif"
# A problem is shown in its box cut to this many lines of this width; the tooltip has it whole.
_PROBLEM_WIDTH, _PROBLEM_LINES = 38, 3


class CannotDraw(Exception):
    """Graphviz is missing or failed; the message says what to do."""


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise CannotDraw("drawing needs the graphviz Python package: pip install 'netspec[draw]'") from None
    return graphviz


def to_dot(diagram: Diagram):
    """The diagram as a `graphviz.Digraph`, laid out top to bottom with each block call framed."""
    graphviz = _graphviz()
    dot = graphviz.Digraph(
        diagram.name,
        graph_attr={"rankdir": "TB", "nodesep": "0.25", "ranksep": "0.3", "labelloc": "t", "fontname": _FONT,
                    "fontsize": "14", "label": _caption(diagram.caption)},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": _FONT, "fontsize": "10", "color": "#555555",
                   "margin": "0.1,0.04"},
        edge_attr={"color": "#444444", "arrowsize": "0.7"})
    frames = {group.name: _frame(graphviz, group) for group in diagram.groups}
    for box in diagram.boxes:
        (frames[box.group] if box.group else dot).node(box.name, **_node(box))
    groups = {box.name: box.group for box in diagram.boxes}
    for names in diagram.branches:
        (frames[groups[names[0]]] if groups[names[0]] else dot).subgraph(_side_by_side(graphviz, names))
    # Inner frames go into their parents after they are filled: subgraph() copies its argument.
    for group in reversed(diagram.groups):
        (frames[group.parent] if group.parent else dot).subgraph(frames[group.name])
    for source, target in diagram.arrows:
        dot.edge(source, target)
    return dot


def _side_by_side(graphviz, names: tuple[str, ...]):
    """One rank, kept in this order left to right by invisible edges between neighbours."""
    row = graphviz.Digraph(graph_attr={"rank": "same"})
    for left, right in zip(names, names[1:]):
        row.edge(left, right, style="invis")
    return row


def _frame(graphviz, group: Group):
    # Graphviz draws a subgraph as a frame only when its name starts with `cluster`.
    return graphviz.Digraph(f"cluster {group.name}", graph_attr={
        "label": _quoted(group.label), "labeljust": "l", "fontsize": "11", "style": "rounded,filled",
        "fillcolor": "#f4f4f4", "color": "#999999", "margin": "10"})


def _node(box: Box) -> dict[str, str]:
    rows = [f"<B>{_text(box.title)}</B>", _text(box.operation), f'<FONT COLOR="#1a4d8f">{_text(box.shape)}</FONT>',
            f'<FONT COLOR="#666666" POINT-SIZE="9">{_text(box.params)}</FONT>' if box.params else ""]
    rows = [row for row in rows if row]
    attrs = {"fillcolor": _FILL[box.role]}
    if box.severity:
        color, fill = _MARKED[box.severity]
        rows += [f'<FONT COLOR="{color}" POINT-SIZE="9">{_text(line)}</FONT>' for line in _brief(box.problems)]
        attrs.update(color=color, fillcolor=fill, penwidth="2", tooltip=_quoted("\n".join(box.problems)))
    attrs["label"] = f"<{'<BR/>'.join(rows)}>"
    return attrs


def _brief(problems: tuple[str, ...]) -> list[str]:
    """The first problem without its closing worked formula, in a few short lines."""
    lines = textwrap.wrap(_without_closing_aside(problems[0]), _PROBLEM_WIDTH, max_lines=_PROBLEM_LINES,
                          placeholder=" …")
    more = len(problems) - 1
    return lines + ([f"(and {more} more)"] if more else [])


def _without_closing_aside(message: str) -> str:
    """`kernel 5 is larger than the padded input 4x4` of `... 4x4 (height and width: ... floor((4 - 5 + 0 + 1) / 1) = 0)`."""
    if not message.endswith(")"):
        return message
    depth = 0
    for index in range(len(message) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(message[index], 0)
        if depth == 0:
            return message[:index].rstrip() or message
    return message


def _caption(lines: tuple[str, ...]) -> str:
    """The first line in bold, the others smaller, and a blank line before the picture."""
    rest = [f'<FONT POINT-SIZE="11">{_text(line)}</FONT>' for line in lines[1:]]
    return f"<{'<BR/>'.join([f'<B>{_text(lines[0])}</B>', *rest, ' '])}>"


def _text(text: str) -> str:
    """Text for an HTML-like label: markup escaped; Graphviz expands `\\N` and its kin even
    there, so a backslash is doubled."""
    return html.escape(_printable(text)).replace("\\", "\\\\")


def _quoted(text: str) -> str:
    """Text for a quoted DOT attribute (the graphviz package escapes its quotes)."""
    return _printable(text).replace("\\", "\\\\")


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() or ch == "\n" else "\ufffd" for ch in text)


def write(diagram: Diagram, path: str, format: str) -> None:
    """Write the DOT source (`dot`) or the picture (`svg`, `png`) to `path`."""
    dot = to_dot(diagram)
    if format == "dot":
        data = dot.source.encode()
    else:
        graphviz = _graphviz()
        try:
            data = dot.pipe(format=format)
        except graphviz.ExecutableNotFound:
            raise CannotDraw("drawing needs Graphviz's dot program: install Graphviz "
                             "(apt-get install graphviz, brew install graphviz or https://graphviz.org/download)") from None
        except graphviz.CalledProcessError as failed:
            raise CannotDraw(f"Graphviz's dot failed: {failed.stderr.decode(errors='replace').strip()}") from None
    with open(path, "wb") as handle:
        handle.write(data)
