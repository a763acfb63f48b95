"""Where every weight lives in the one buffer the generated code reads, and in which layout.

Users give weights in PyTorch's layouts; a kernel may want another (dense reads
its weight transposed). `pack` converts to the stored layouts, `unpack` back.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from ...check import ShapedGraph
from ...ops import OPS
from .buffers import aligned, aligned_zeros
from .kernels import KERNELS


@dataclass(frozen=True)
class WeightLayout:
    offsets: dict[str, int]  # "conv1.weight" -> float offset in the packed weight buffer
    shapes: dict[str, tuple[int, ...]]  # as the user supplies them (PyTorch's layouts)
    stored: dict[str, tuple[int, ...]]  # as the generated code reads them
    total_floats: int

    def pack(self, graph: ShapedGraph, arrays) -> np.ndarray:
        """One aligned float32 buffer with every array converted to its stored layout."""
        buffer = aligned_zeros(self.total_floats)
        for layer, suffix, key in _weights(graph):
            packing = KERNELS[layer.node.kind].packing
            slot = buffer[self.offsets[key]:self.offsets[key] + prod(self.stored[key])].reshape(self.stored[key])
            packing.pack(layer.attrs, layer.input_shape, suffix, np.asarray(arrays[key]), slot)
        return buffer

    def unpack(self, graph: ShapedGraph, buffer: np.ndarray) -> dict[str, np.ndarray]:
        """The arrays in a packed buffer, back in PyTorch's layouts."""
        arrays = {}
        for layer, suffix, key in _weights(graph):
            stored = buffer[self.offsets[key]:self.offsets[key] + prod(self.stored[key])].reshape(self.stored[key])
            arrays[key] = KERNELS[layer.node.kind].packing.unpack(layer.attrs, layer.input_shape, suffix, stored.copy())
        return arrays


def _weights(graph: ShapedGraph):
    for layer in graph.layers:
        for suffix in OPS[layer.node.kind].weight_shapes(layer.attrs, layer.input_shape):
            yield layer, suffix, f"{layer.node.name}.{suffix}"


def weight_layout(graph: ShapedGraph) -> WeightLayout:
    offsets, shapes, stored, total = {}, {}, {}, 0
    for layer in graph.layers:
        packing = KERNELS[layer.node.kind].packing
        for suffix, shape in OPS[layer.node.kind].weight_shapes(layer.attrs, layer.input_shape).items():
            key = f"{layer.node.name}.{suffix}"
            offsets[key], shapes[key] = total, shape
            stored[key] = packing.stored_shape(layer.attrs, layer.input_shape, suffix, shape)
            total += aligned(prod(stored[key]))
    return WeightLayout(offsets, shapes, stored, total)
