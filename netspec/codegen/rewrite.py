"""Checked network -> the network the code generator sees.

Inference-only layers disappear here: `dropout` becomes nothing, and a `batchnorm`
that follows a convolution (and is its only reader) is folded into that
convolution's weights and bias. Readers of a removed layer read what it read.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..check import CheckedNetwork
from ..ir import INPUT
from ..ops.batchnorm import fold_into_conv


@dataclass(frozen=True)
class Lowered:
    network: CheckedNetwork
    folds: dict[str, tuple[str, float]]  # conv name -> (batchnorm name, eps) folded into it

    def weights(self, arrays: dict) -> dict:
        """The user's weights (PyTorch's names and layouts) for the lowered network."""
        result = dict(arrays)
        for conv, (batchnorm, eps) in self.folds.items():
            statistics = {suffix: np.asarray(arrays[f"{batchnorm}.{suffix}"])
                          for suffix in ("weight", "bias", "running_mean", "running_var")}
            bias = arrays.get(f"{conv}.bias")
            result[f"{conv}.weight"], result[f"{conv}.bias"] = fold_into_conv(
                np.asarray(arrays[f"{conv}.weight"]), None if bias is None else np.asarray(bias), statistics, eps)
            for suffix in statistics:
                result.pop(f"{batchnorm}.{suffix}")
        return result


def _readers(network: CheckedNetwork) -> dict[str, list[str]]:
    readers: dict[str, list[str]] = {}
    for layer in network.layers:
        for name in layer.node.inputs:
            readers.setdefault(name, []).append(layer.node.name)
    return readers


def lower_graph(network: CheckedNetwork) -> Lowered:
    readers = _readers(network)
    output = network.graph.output
    kinds = {layer.node.name: layer for layer in network.layers}
    renamed: dict[str, str] = {}
    folds: dict[str, tuple[str, float]] = {}

    def resolve(name: str) -> str:
        while name in renamed:
            name = renamed[name]
        return name

    for layer in network.layers:
        node = layer.node
        source = resolve(node.inputs[0])
        if node.kind == "dropout" and not (source == INPUT and node.name == output):
            renamed[node.name] = source
        elif (node.kind == "batchnorm" and source in kinds and kinds[source].node.kind == "conv"
              and readers.get(source) == [node.name]):
            renamed[node.name] = source
            folds[source] = (node.name, layer.attrs.eps)

    layers = []
    for layer in network.layers:
        if layer.node.name in renamed:
            continue
        node = replace(layer.node, inputs=tuple(resolve(name) for name in layer.node.inputs))
        attrs = replace(layer.attrs, bias=True) if layer.node.name in folds else layer.attrs
        layers.append(replace(layer, node=node, attrs=attrs))
    graph = replace(network.graph, nodes=tuple(layer.node for layer in layers), output=resolve(output))
    return Lowered(replace(network, graph=graph, layers=tuple(layers)), folds)
