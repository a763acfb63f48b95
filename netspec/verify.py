"""Checking netspec's compiled code against ONNX Runtime layer by layer (`run --verify`):
the first layer whose output differs beyond a tolerance is where a port went wrong.

ONNX Runtime runs the exported model with every layer's tensor as an output; netspec's
value of a layer comes from compiling the graph cut at that layer (the layer and what it
reads), so each comparison isolates one layer's code. Needs onnx and onnxruntime.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .check import Layer, ShapedGraph
from .interop.binding import resolve
from .interop.onnx_export import batched_value, export_onnx
from .ir import INPUT
from .network import Network
from .weights import weight_shapes

try:
    import onnxruntime
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError("verifying against ONNX Runtime needs onnxruntime: pip install 'netspec[onnx]'",
                              name=missing.name) from None

# Relative to a layer's largest magnitude: float32 code that sums in another order
# differs by a few units in the last place per accumulation, far below this.
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class LayerComparison:
    """How far netspec's output of one layer is from ONNX Runtime's."""

    layer: str
    path: str  # the spec the layer was written in
    line: int
    max_abs: float  # the largest |netspec - ONNX Runtime| over the batch
    relative: float  # max_abs over the layer's largest |value| in ONNX Runtime

    def within(self, tolerance: float) -> bool:
        return self.relative <= tolerance  # NaN never is


@dataclass(frozen=True)
class Verification:
    network: str
    tolerance: float
    layer_count: int
    compared: tuple[LayerComparison, ...]  # in layer order, up to the first that diverges

    @property
    def diverged(self) -> LayerComparison | None:
        last = self.compared[-1] if self.compared else None
        return last if last is not None and not last.within(self.tolerance) else None


def _cut_at(graph: ShapedGraph, index: int) -> ShapedGraph:
    """The graph computing only layer `index`: it and the layers it reads, directly or not."""
    target = graph.layers[index]
    needed = {target.node.name}
    for layer in reversed(graph.layers[:index + 1]):
        if layer.node.name in needed:
            needed.update(layer.node.inputs)
    layers = tuple(layer for layer in graph.layers[:index + 1] if layer.node.name in needed)
    return replace(graph, layers=layers, output=target.node.name, calls=())


def _onnx_runtime_values(graph: ShapedGraph, arrays, batch: np.ndarray) -> dict[str, np.ndarray]:
    model = export_onnx(graph, arrays)
    model.graph.output.extend(batched_value(layer.node.name, layer.output_shape)
                              for layer in graph.layers if layer.node.name != graph.output)
    options = onnxruntime.SessionOptions()
    # The reference computes each node as written, without ONNX Runtime's fusions.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [layer.node.name for layer in graph.layers]
    return dict(zip(names, session.run(names, {INPUT: batch})))


def _netspec_value(graph: ShapedGraph, index: int, arrays, batch: np.ndarray, threads, max_memory) -> np.ndarray:
    cut = _cut_at(graph, index)
    weights = {key: arrays[key] for key in weight_shapes(cut)}
    return Network(cut).compile(weights=weights, threads=threads, max_memory=max_memory)(batch)


def _compare(layer: Layer, ours: np.ndarray, reference: np.ndarray) -> LayerComparison:
    difference = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
    max_abs = float(difference.max())
    scale = float(np.abs(reference).max())
    relative = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    return LayerComparison(layer.node.name, layer.node.span.path, layer.node.line, max_abs, relative)


def verify(graph: ShapedGraph, batch: np.ndarray, weights=None, seed: int = 0, tolerance: float = DEFAULT_TOLERANCE,
           threads: int | None = None, max_memory: int | None = None) -> Verification:
    """Compare netspec's output of every layer with ONNX Runtime's on `batch` (N x input
    shape, float32), in layer order, stopping at the first beyond `tolerance`. `weights`
    is what `Network.compile` takes."""
    arrays, _ = resolve(graph, weights, seed)
    reference = _onnx_runtime_values(graph, arrays, batch)
    compared = []
    for index, layer in enumerate(graph.layers):
        ours = _netspec_value(graph, index, arrays, batch, threads, max_memory)
        compared.append(_compare(layer, ours, reference[layer.node.name]))
        if not compared[-1].within(tolerance):
            break
    return Verification(graph.name, tolerance, len(graph.layers), tuple(compared))


def verification_table(verification: Verification) -> str:
    """The comparison as the command line shows it, one row per layer compared."""
    rows = [("layer", "line", "max |diff|", "relative")]
    rows += [(c.layer, str(c.line), f"{c.max_abs:.2e}", f"{c.relative:.2e}") for c in verification.compared]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"verify: {verification.network} against ONNX Runtime {onnxruntime.__version__}, layer by layer "
             f"(tolerance {verification.tolerance:g} of each layer's largest value)"]
    for number, row in enumerate(rows):
        mark = "  <- diverges" if number == len(rows) - 1 and verification.diverged else ""
        lines.append(f"{row[0]:{widths[0]}}  " + "  ".join(f"{cell:>{width}}" for cell, width in zip(row[1:], widths[1:]))
                     + mark)
    diverged = verification.diverged
    if diverged is None:
        lines.append(f"all {verification.layer_count} layers agree with ONNX Runtime within {verification.tolerance:g}")
    return "\n".join(lines)


def divergence_message(verification: Verification) -> str:
    """The error for the first layer beyond the tolerance."""
    c = verification.diverged
    before = len(verification.compared) - 1
    agree = f"; the {before} layer{'s' * (before != 1)} before it agree{'s' * (before == 1)}" if before else ""
    return (f"layer {c.layer} ({c.path}, line {c.line}) diverges from ONNX Runtime: its outputs differ by up to "
            f"{c.max_abs:.3g}, {c.relative:.3g} of its largest value (tolerance {verification.tolerance:g}){agree}")
