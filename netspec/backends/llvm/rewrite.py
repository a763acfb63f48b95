"""Shaped graph -> the graph the code generator sees, for inference.

Layers that are the identity at inference disappear (`dropout`), and a per-channel
affine layer (`batchnorm`) that follows a per-channel linear one (`conv`, `dense`)
it alone reads is folded into that layer's weights and bias. Readers of a removed
layer read what it read. Which layers qualify is asked of their traits.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ...check import ShapedGraph
from ...ir import INPUT
from ...ops import OPS, Trait

# The weights of an AFFINE_PER_CHANNEL layer, as PyTorch's batch norm names them.
AFFINE_WEIGHTS = ("weight", "bias", "running_mean", "running_var")


@dataclass(frozen=True)
class Rewritten:
    graph: ShapedGraph
    folds: dict[str, tuple[str, float]]  # producer name -> (name of the layer folded into it, its eps)

    def weights(self, arrays: dict) -> dict:
        """The user's weights (PyTorch's names and layouts) for the rewritten graph."""
        result = dict(arrays)
        for producer, (folded, eps) in self.folds.items():
            statistics = {suffix: np.asarray(arrays[f"{folded}.{suffix}"]) for suffix in AFFINE_WEIGHTS}
            bias = arrays.get(f"{producer}.bias")
            result[f"{producer}.weight"], result[f"{producer}.bias"] = fold_affine(
                np.asarray(arrays[f"{producer}.weight"]), None if bias is None else np.asarray(bias), statistics, eps)
            for suffix in statistics:
                result.pop(f"{folded}.{suffix}")
        return result


def fold_affine(weight, bias, statistics: dict, eps: float):
    """The weight and bias (output channel first) that compute the layer followed by
    y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, in float64."""
    with np.errstate(invalid="ignore", divide="ignore"):  # a negative variance gives NaN, as in PyTorch
        scale = statistics["weight"].astype(np.float64) / np.sqrt(statistics["running_var"].astype(np.float64) + eps)
    shift = statistics["bias"].astype(np.float64) - statistics["running_mean"].astype(np.float64) * scale
    folded_weight = weight.astype(np.float64) * scale.reshape(-1, *(1,) * (weight.ndim - 1))
    folded_bias = (bias.astype(np.float64) if bias is not None else 0.0) * scale + shift
    return folded_weight.astype(np.float32), folded_bias.astype(np.float32)


def _readers(graph: ShapedGraph) -> dict[str, list[str]]:
    readers: dict[str, list[str]] = {}
    for layer in graph.layers:
        for name in layer.node.inputs:
            readers.setdefault(name, []).append(layer.node.name)
    return readers


def rewrite_for_inference(graph: ShapedGraph) -> Rewritten:
    readers = _readers(graph)
    layers_by_name = {layer.node.name: layer for layer in graph.layers}
    renamed: dict[str, str] = {}
    folds: dict[str, tuple[str, float]] = {}

    def resolve(name: str) -> str:
        while name in renamed:
            name = renamed[name]
        return name

    for layer in graph.layers:
        node, op = layer.node, OPS[layer.node.kind]
        source = resolve(node.inputs[0])
        producer = layers_by_name.get(source)
        # (an identity from the network's input to its output is kept: it becomes a copy)
        if op.has(Trait.IDENTITY_AT_INFERENCE) and not (source == INPUT and node.name == graph.output):
            renamed[node.name] = source
        elif (op.has(Trait.AFFINE_PER_CHANNEL) and producer is not None
              and OPS[producer.node.kind].has(Trait.LINEAR_PER_CHANNEL) and readers.get(source) == [node.name]
              and source not in folds):
            renamed[node.name] = source
            folds[source] = (node.name, layer.attrs.eps)

    layers = []
    for layer in graph.layers:
        if layer.node.name in renamed:
            continue
        node = replace(layer.node, inputs=tuple(resolve(name) for name in layer.node.inputs))
        attrs = replace(layer.attrs, bias=True) if layer.node.name in folds else layer.attrs
        layers.append(replace(layer, node=node, attrs=attrs))
    return Rewritten(replace(graph, layers=tuple(layers), output=resolve(graph.output)), folds)
