"""Check results as JSON records (the `--json` output of the command line)."""
from __future__ import annotations

from .check import CheckedNetwork
from .diagnostics import to_json
from .network import CheckResult
from .table import shown_layers


def _layers(network: CheckedNetwork) -> list[dict]:
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
        for layer in shown_layers(network)
    ]


def check_record(result: CheckResult) -> dict:
    warnings = [to_json(d) for d in result.diagnostics if not d.is_error]
    if not result.ok:
        record = {"file": result.source.path, "errors": [to_json(d) for d in result.diagnostics if d.is_error],
                  "warnings": warnings}
        if result.network is not None:
            record["layers"] = _layers(result.network)
        return record
    network = result.network
    return {
        "file": result.source.path,
        "network": network.name,
        "input": list(network.input_shape),
        "layers": _layers(network),
        "output": list(network.output_shape),
        "params": network.params,
        "macs": network.macs,
        "warnings": warnings,
    }
