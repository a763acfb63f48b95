"""Check results as JSON records (the `--json` output of the command line)."""
from __future__ import annotations

from dataclasses import asdict

from .check import ShapedGraph
from .diagnostics import to_json
from .network import CheckResult
from .symbolic import is_symbolic
from .table import shown_layers


def _json(value):
    """A size or count as JSON: a number, or the expression as text when it is symbolic."""
    return str(value) if is_symbolic(value) else value


def _shape(shape) -> list | None:
    return [_json(d) for d in shape] if shape else None


def _layers(graph: ShapedGraph) -> list[dict]:
    return [
        {
            "name": layer.node.name,
            "kind": layer.node.kind,
            "line": layer.node.line,
            "output": _shape(layer.output_shape),
            "params": layer.params,
            "macs": _json(layer.macs),
            **({"failed": True} if layer.failed else {}),
        }
        for layer in shown_layers(graph)
    ]


def check_record(result: CheckResult) -> dict:
    warnings = [to_json(d) for d in result.diagnostics if not d.is_error]
    if not result.ok:
        record = {"file": result.source.path, "errors": [to_json(d) for d in result.diagnostics if d.is_error],
                  "warnings": warnings}
        if result.graph is not None:
            record["layers"] = _layers(result.graph)
        return record
    graph = result.graph
    record = {
        "file": result.source.path,
        "network": graph.name,
        "input": _shape(graph.input_shape),
        "layers": _layers(graph),
        "output": _shape(graph.output_shape),
        "params": graph.params,
        "macs": graph.macs,
        "warnings": warnings,
    }
    if graph.sizes is not None:
        record["sizes"] = {"valid": graph.sizes.describe(), "smallest": graph.sizes.smallest}
    if graph.preprocessing is not None:
        record["preprocess"] = asdict(graph.preprocessing)
    return record
