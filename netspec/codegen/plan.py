"""Where every tensor lives while `forward` runs, and where every weight lives.

Decided entirely at compile time from the checked shapes: views (flatten) and
fused activations share their producer's storage, the last tensor is written
straight into the caller's output array, and the remaining tensors get offsets
in one per-example workspace, reused once a tensor's last reader has run.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from ..check import CheckedNetwork
from ..ir import INPUT
from ..memory import aligned_zeros
from ..ops import OPS

FUSIBLE_PRODUCERS = ("conv", "dense")
FUSIBLE_ACTIVATIONS = ("relu", "sigmoid", "tanh")

# Examples per tile: as many as keep the largest tensor of the tile within this
# budget (so a layer's input and output stay in L2), at most MAX_TILE.
TILE_BYTES = 256 * 1024
MAX_TILE = 64

# Workspace offsets are rounded to this many floats (64 bytes, one cache line
# and one AVX-512 register) so every buffer starts aligned.
ALIGN_FLOATS = 16


@dataclass(frozen=True)
class Location:
    """`input`, `output`, or `workspace` at a float offset; `stride` is the distance from
    one example to the next when it is not the tensor's own size (a tensor written
    straight into its slice of a concatenation)."""

    area: str
    offset: int = 0
    stride: int | None = None


@dataclass(frozen=True)
class MemoryPlan:
    locations: dict[str, Location]  # tensor name -> storage
    scratch: dict[str, Location]  # layer name -> its temporary buffer (e.g. a padded copy)
    fused: dict[str, str]  # producer layer -> activation applied as it stores
    views: frozenset[str]  # layers that emit no code: their output is their input's storage
    in_place: dict[str, frozenset[int]]  # concat -> operands already written into its buffer
    tile: int  # examples processed together; tensors in the workspace hold `tile` examples
    workspace_floats: int


@dataclass(frozen=True)
class WeightLayout:
    offsets: dict[str, int]  # "conv1.weight" -> float offset in the packed weight buffer
    shapes: dict[str, tuple[int, ...]]  # as the user supplies them (PyTorch's layouts)
    stored: dict[str, tuple[int, ...]]  # as the generated code reads them
    total_floats: int

    def pack(self, network: CheckedNetwork, arrays) -> np.ndarray:
        """One aligned float32 buffer with every array converted to its stored layout."""
        buffer = aligned_zeros(self.total_floats)
        for layer in network.layers:
            op = OPS[layer.node.kind]
            for suffix in op.weight_shapes(layer.attrs, layer.input_shape):
                key = f"{layer.node.name}.{suffix}"
                values = np.asarray(arrays[key], dtype=np.float32)
                stored = np.asarray(op.store_weight(layer.attrs, layer.input_shape, suffix, values), dtype=np.float32)
                buffer[self.offsets[key]:self.offsets[key] + stored.size] = stored.ravel()
        return buffer


def weight_layout(network: CheckedNetwork) -> WeightLayout:
    offsets, shapes, stored, total = {}, {}, {}, 0
    for layer in network.layers:
        op = OPS[layer.node.kind]
        for suffix, shape in op.weight_shapes(layer.attrs, layer.input_shape).items():
            key = f"{layer.node.name}.{suffix}"
            offsets[key], shapes[key] = total, shape
            stored[key] = op.stored_shape(layer.attrs, layer.input_shape, suffix, shape)
            total += _aligned(prod(stored[key]))
    return WeightLayout(offsets, shapes, stored, total)


def _aligned(count: int) -> int:
    return -(-count // ALIGN_FLOATS) * ALIGN_FLOATS


def _consumers(network: CheckedNetwork) -> dict[str, list[str]]:
    readers: dict[str, list[str]] = {INPUT: []}
    for layer in network.layers:
        readers.setdefault(layer.node.name, [])
        for name in layer.node.inputs:
            readers[name].append(layer.node.name)
    return readers


def _fusions(network: CheckedNetwork, readers) -> dict[str, str]:
    fused = {}
    for layer in network.layers:
        node = layer.node
        source = network.graph.node(node.inputs[0])
        if (node.kind in FUSIBLE_ACTIVATIONS and source is not None and source.kind in FUSIBLE_PRODUCERS
                and readers[source.name] == [node.name] and source.name not in fused):
            fused[source.name] = node.kind
    return fused


def _aliases(network: CheckedNetwork, fused) -> dict[str, str]:
    """tensor -> the tensor whose storage it shares (views and fused activations)."""
    alias = {}
    for layer in network.layers:
        node = layer.node
        source = node.inputs[0]
        if fused.get(source) == node.kind:
            alias[node.name] = source
        elif node.kind == "flatten" and not (_root(alias, source) == INPUT and node.name == network.graph.output):
            # (a view of the network's input cannot be its output: that one is copied)
            alias[node.name] = source
    return alias


def _root(alias, name: str) -> str:
    while name in alias:
        name = alias[name]
    return name


class _Arena:
    """First-fit allocation of float ranges with explicit frees."""

    def __init__(self):
        self.free: list[tuple[int, int]] = []  # (offset, size)
        self.end = 0

    def allocate(self, size: int) -> int:
        size = _aligned(max(size, 1))
        for offset, available in sorted(self.free):
            if available >= size:
                self.free.remove((offset, available))
                if available > size:
                    self.free.append((offset + size, available - size))
                return offset
        offset, self.end = self.end, self.end + size
        return offset

    def release(self, offset: int, size: int) -> None:
        self.free.append((offset, _aligned(max(size, 1))))


def _tile(network: CheckedNetwork) -> int:
    largest = max(prod(layer.output_shape) for layer in network.layers) * 4
    tile = 1
    while tile * 2 <= MAX_TILE and tile * 2 * largest <= TILE_BYTES:
        tile *= 2
    return tile


def _embedded(network: CheckedNetwork, alias, readers, output_root) -> dict[str, tuple[str, int]]:
    """Producers that can write straight into their slice of a `concat` (its channel
    offset), so the concatenation copies nothing: the producer works one example at a
    time, and the concat is the only reader of what it writes."""
    layers = {layer.node.name: layer for layer in network.layers}
    groups: dict[str, list[str]] = {}
    for name in layers:
        groups.setdefault(_root(alias, name), []).append(name)
    embedded = {}
    for layer in network.layers:
        if layer.node.kind != "concat" or len(layer.output_shape) != 3:
            continue
        offset = 0
        for name, shape in zip(layer.node.inputs, layer.input_shapes):
            root = _root(alias, name)
            group = groups.get(root, [])
            outside = [r for member in group for r in readers[member] if r not in group]
            producer = layers.get(root)
            if (producer is not None and root != output_root and root not in embedded
                    and outside == [layer.node.name] and not OPS[producer.node.kind].batched
                    and producer.node.kind != "concat"):
                embedded[root] = (layer.node.name, offset)
            offset += prod(shape)
    return embedded


def memory_plan(network: CheckedNetwork) -> MemoryPlan:
    readers = _consumers(network)
    tile = _tile(network)
    fused = _fusions(network, readers)
    alias = _aliases(network, fused)
    output_root = _root(alias, network.graph.output)
    embedded = _embedded(network, alias, readers, output_root)
    order = [layer.node.name for layer in network.layers]
    position = {name: i for i, name in enumerate(order)}
    last_use: dict[str, int] = {}
    for name in order:
        for reader in readers[name]:
            root = _root(alias, name)
            last_use[root] = max(last_use.get(root, -1), position[reader])

    locations: dict[str, Location] = {INPUT: Location("input")}
    scratch: dict[str, Location] = {}
    arena = _Arena()
    live: dict[str, tuple[int, int]] = {}
    sizes = {layer.node.name: prod(layer.output_shape) for layer in network.layers}

    def place(name: str) -> Location:
        """A tensor's own storage: the network's output, or a new workspace slot."""
        if name == output_root:
            return Location("output")
        floats = tile * sizes[name]
        offset = arena.allocate(floats)
        live[name] = (offset, floats)
        return Location("workspace", offset)

    for layer in network.layers:
        name = layer.node.name
        size = OPS[layer.node.kind].scratch_floats(layer)
        if size:
            scratch[name] = Location("workspace", arena.allocate(size))
        if name in alias:
            locations[name] = locations[alias[name]]
        elif name in embedded:
            concat, offset = embedded[name]
            if concat not in locations:  # the concatenation's storage lives from its first producer on
                locations[concat] = place(concat)
            whole = locations[concat]
            locations[name] = Location(whole.area, whole.offset + offset, sizes[concat])
        elif name not in locations:
            locations[name] = place(name)
        if size:
            arena.release(scratch[name].offset, size)
        for root, (offset, floats) in list(live.items()):
            if last_use.get(root, -1) <= position[name] and position.get(root, -1) <= position[name] and root != name:
                arena.release(offset, floats)
                del live[root]
    in_place: dict[str, set[int]] = {}
    for layer in network.layers:
        for index, source in enumerate(layer.node.inputs):
            if layer.node.kind == "concat" and embedded.get(_root(alias, source), (None,))[0] == layer.node.name:
                in_place.setdefault(layer.node.name, set()).add(index)
    frozen = {name: frozenset(indices) for name, indices in in_place.items()}
    return MemoryPlan(locations, scratch, fused, frozenset(alias), frozen, tile, arena.end)
