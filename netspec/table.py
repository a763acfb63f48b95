"""The layer table shown by `netspec check` and `Network.summary()`."""
from __future__ import annotations

from .check import CheckedNetwork, Layer
from .ir import format_shape

_HEADER = ("layer", "kind", "output", "params", "MACs")


def _row(layer: Layer) -> tuple[str, ...]:
    shape = format_shape(layer.output_shape) if layer.output_shape else "?"
    return (layer.node.name, layer.node.kind, shape, f"{layer.params:,}", f"{layer.macs:,}")


def shown_layers(network: CheckedNetwork) -> tuple[Layer, ...]:
    """All layers of a valid network; of an invalid one, those up to and including the first failing one."""
    for index, layer in enumerate(network.layers):
        if layer.failed:
            return network.layers[: index + 1]
    return network.layers


def layer_table(network: CheckedNetwork) -> str:
    layers = shown_layers(network)
    rows = [_HEADER, ("input", "input", format_shape(network.input_shape), "", "")]
    rows += [_row(layer) for layer in layers]
    if network.ok:
        rows.append(("total", "", "", f"{network.params:,}", f"{network.macs:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    numeric = (False, False, False, True, True)

    def line(row, mark=""):
        cells = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric)]
        return ("  ".join(cells) + mark).rstrip()

    failed = {layer.node.name for layer in layers if layer.failed}
    lines = [f"network {network.name}", line(rows[0]), "  ".join("-" * w for w in widths)]
    for row in rows[1:]:
        if row[0] == "total":
            lines.append("  ".join("-" * w for w in widths))
        lines.append(line(row, "  <- error" if row[0] in failed else ""))
    if network.ok:
        lines.append(f"output {format_shape(network.output_shape)}")
    return "\n".join(lines)
