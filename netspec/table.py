"""The layer table shown by `netspec check` and `Network.summary()`."""
from __future__ import annotations

from .check import Layer, ShapedGraph, total_count
from .ir import format_shape
from .symbolic import is_symbolic

_HEADER = ("layer", "kind", "output", "params", "MACs")


def format_count(value) -> str:
    """A parameter or MAC count: a number, an expression of input sizes that are names,
    or `-` for a sum of such expressions."""
    return "-" if value is None else str(value) if is_symbolic(value) else f"{value:,}"


def _row(layer: Layer) -> tuple[str, ...]:
    shape = format_shape(layer.output_shape) if layer.output_shape else "?"
    return (layer.node.name, layer.node.kind, shape, format_count(layer.params), format_count(layer.macs))


def _call_of(layer: Layer) -> str | None:
    """The top-level block call a layer was expanded from (`res1` for `res1.conv1`)."""
    return layer.node.name.split(".", 1)[0] if "." in layer.node.name else None


def _collapsed_rows(layers) -> list[tuple[tuple[str, ...], bool]]:
    """One row per top-level block call (last shape, summed counts) and per other layer."""
    rows: list[tuple[tuple[str, ...], bool]] = []
    group: list[Layer] = []

    def flush():
        if group:
            last = group[-1]
            shape = format_shape(last.output_shape) if last.output_shape else "?"
            row = (_call_of(last), "block", shape, format_count(total_count(x.params for x in group)),
                   format_count(total_count(x.macs for x in group)))
            rows.append((row, any(x.failed for x in group)))
            group.clear()

    for layer in layers:
        if group and _call_of(layer) != _call_of(group[-1]):
            flush()
        if _call_of(layer):
            group.append(layer)
        else:
            rows.append((_row(layer), layer.failed))
    flush()
    return rows


def shown_layers(graph: ShapedGraph) -> tuple[Layer, ...]:
    """All layers of a valid network; of an invalid one, those up to and including the first failing one."""
    for index, layer in enumerate(graph.layers):
        if layer.failed:
            return graph.layers[: index + 1]
    return graph.layers


def layer_table(graph: ShapedGraph, collapse: bool = False) -> str:
    """The table of layers; with `collapse`, one row per block call instead of its layers."""
    layers = shown_layers(graph)
    body = _collapsed_rows(layers) if collapse else [(_row(layer), layer.failed) for layer in layers]
    rows = [_HEADER, ("input", "input", format_shape(graph.input_shape), "", "")]
    rows += [row for row, _ in body]
    if graph.ok:
        rows.append(("total", "", "", format_count(graph.params), format_count(graph.macs)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    numeric = (False, False, False, True, True)

    def line(row, mark=""):
        cells = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric)]
        return ("  ".join(cells) + mark).rstrip()

    failed = {row[0] for row, is_failed in body if is_failed}
    lines = [f"network {graph.name}", line(rows[0]), "  ".join("-" * w for w in widths)]
    for row in rows[1:]:
        if row[0] == "total":
            lines.append("  ".join("-" * w for w in widths))
        lines.append(line(row, "  <- error" if row[0] in failed else ""))
    if graph.ok:
        lines.append(f"output {format_shape(graph.output_shape)}")
    if graph.ok and graph.sizes is not None:
        lines.append(_sizes_line(graph))
    if graph.ok and graph.preprocessing is not None:
        lines.append(graph.preprocessing.describe(graph.input_shape))
    return "\n".join(lines)


def _sizes_line(graph: ShapedGraph) -> str:
    """`sizes: H >= 8, W >= 8 (the smallest input is 3x8x8)`."""
    return f"sizes: {graph.sizes.describe()} (the smallest input is {format_shape(graph.smallest_input)})"
