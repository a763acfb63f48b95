"""Check results as JSON records (the `--json` output of the command line)."""
from __future__ import annotations

from .check import ShapedGraph
from .diagnostics import to_json
from .network import CheckResult
from .table import shown_layers


def _layers(graph: ShapedGraph) -> list[dict]:
    return [
        {
            "name": layer.node.name,
            "kind": layer.node.kind,
            "line": layer.node.line,
            "output": list(layer.output_shape) if layer.output_shape else None,
            "params": layer.params,
            "macs": layer.macs,
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
    return {
        "file": result.source.path,
        "network": graph.name,
        "input": list(graph.input_shape),
        "layers": _layers(graph),
        "output": list(graph.output_shape),
        "params": graph.params,
        "macs": graph.macs,
        "warnings": warnings,
    }
