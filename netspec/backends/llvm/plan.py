"""Where every tensor lives while `forward` runs.

Decided entirely at compile time from the shapes: views (flatten) and fused
activations share their producer's storage, the last tensor is written straight
into the caller's output array, and the remaining tensors get offsets in one
workspace, reused once a tensor's last reader has run.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ...check import ShapedGraph
from ...ir import INPUT
from ...ops import OPS, Trait
from .buffers import aligned
from .kernels import KERNELS

# Examples per tile: as many as keep the largest tensor of the tile within this
# budget (so a layer's input and output stay in L2), at most MAX_TILE.
TILE_BYTES = 256 * 1024
MAX_TILE = 64
# Unless the weights are more than a cache holds (WEIGHTY_BYTES) and outweigh the
# activations WEIGHTY times: then a layer's weights, read again for every example, cost
# more than its tensors leaving L2, and the tile grows to WEIGHTY_TILE_BYTES, so that
# each layer runs on many examples while its weights are in cache and dense layers
# multiply whole tiles of examples at once (batch 16, one thread: ResNet-18 291 -> 354
# images/s, AlexNet 78 -> 128, GoogLeNet 310 -> 360; NiN and DenseNet, whose weights
# are few, ran 8-10 % slower so).
WEIGHTY = 2
WEIGHTY_BYTES = 8 * 2**20
WEIGHTY_TILE_BYTES = 20 * 2**20


def _weighty(graph: ShapedGraph) -> bool:
    return graph.params * 4 > WEIGHTY_BYTES and graph.params > WEIGHTY * sum(
        prod(layer.output_shape) for layer in graph.layers)


@dataclass(frozen=True)
class Location:
    """`input`, `output`, `workspace` or `scratch` at a float offset; `stride` is the distance from
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
    # Temporary buffers (a padded copy of an input, a convolution's wide result) live in
    # an area of their own, one per thread even when threads share one example's tensors;
    # one layer runs at a time, so every layer's scratch starts at its beginning.
    scratch_floats: int = 0


def _consumers(graph: ShapedGraph) -> dict[str, list[str]]:
    readers: dict[str, list[str]] = {INPUT: []}
    for layer in graph.layers:
        readers.setdefault(layer.node.name, [])
        for name in layer.node.inputs:
            readers[name].append(layer.node.name)
    return readers


def _fusions(graph: ShapedGraph, readers) -> dict[str, str]:
    fused = {}
    for layer in graph.layers:
        node = layer.node
        source = graph.layer(node.inputs[0])
        if (OPS[node.kind].has(Trait.ELEMENTWISE) and source is not None
                and KERNELS[source.node.kind].fuses_activation
                and readers[source.node.name] == [node.name] and source.node.name not in fused):
            fused[source.node.name] = node.kind
    return fused


def _aliases(graph: ShapedGraph, fused) -> dict[str, str]:
    """tensor -> the tensor whose storage it shares (views and fused activations)."""
    alias = {}
    for layer in graph.layers:
        node = layer.node
        source = node.inputs[0]
        if fused.get(source) == node.kind:
            alias[node.name] = source
        elif OPS[node.kind].has(Trait.VIEW) and not (_root(alias, source) == INPUT and node.name == graph.output):
            # (a view of the graph's input cannot be its output: that one is copied)
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
        size = aligned(max(size, 1))
        for offset, available in sorted(self.free):
            if available >= size:
                self.free.remove((offset, available))
                if available > size:
                    self.free.append((offset + size, available - size))
                return offset
        offset, self.end = self.end, self.end + size
        return offset

    def release(self, offset: int, size: int) -> None:
        self.free.append((offset, aligned(max(size, 1))))


def _tile(graph: ShapedGraph) -> int:
    budget = WEIGHTY_TILE_BYTES if _weighty(graph) else TILE_BYTES
    largest = max(prod(layer.output_shape) for layer in graph.layers) * 4
    tile = 1
    while tile * 2 <= MAX_TILE and tile * 2 * largest <= budget:
        tile *= 2
    return tile


def _embedded(graph: ShapedGraph, alias, readers, output_root) -> dict[str, tuple[str, int]]:
    """Producers that can write straight into their slice of a `concat` (its channel
    offset), so the concatenation copies nothing: the producer works one example at a
    time, and the concat is the only reader of what it writes."""
    layers = {layer.node.name: layer for layer in graph.layers}
    groups: dict[str, list[str]] = {}
    for name in layers:
        groups.setdefault(_root(alias, name), []).append(name)
    embedded = {}
    for layer in graph.layers:
        if not KERNELS[layer.node.kind].in_place_operands or len(layer.output_shape) != 3:
            continue
        offset = 0
        for name, shape in zip(layer.node.inputs, layer.input_shapes):
            root = _root(alias, name)
            group = groups.get(root, [])
            outside = [r for member in group for r in readers[member] if r not in group]
            producer = layers.get(root)
            if (producer is not None and root != output_root and root not in embedded
                    and outside == [layer.node.name] and not KERNELS[producer.node.kind].batched
                    and not KERNELS[producer.node.kind].in_place_operands):
                embedded[root] = (layer.node.name, offset)
            offset += prod(shape)
    return embedded


def memory_plan(graph: ShapedGraph) -> MemoryPlan:
    readers = _consumers(graph)
    tile = _tile(graph)
    fused = _fusions(graph, readers)
    alias = _aliases(graph, fused)
    output_root = _root(alias, graph.output)
    embedded = _embedded(graph, alias, readers, output_root)
    order = [layer.node.name for layer in graph.layers]
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
    sizes = {layer.node.name: prod(layer.output_shape) for layer in graph.layers}

    def place(name: str) -> Location:
        """A tensor's own storage: the graph's output, or a new workspace slot."""
        if name == output_root:
            return Location("output")
        floats = tile * sizes[name]
        offset = arena.allocate(floats)
        live[name] = (offset, floats)
        return Location("workspace", offset)

    for layer in graph.layers:
        name = layer.node.name
        if KERNELS[layer.node.kind].scratch_floats(layer):
            scratch[name] = Location("scratch")
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
        for root, (offset, floats) in list(live.items()):
            if last_use.get(root, -1) <= position[name] and position.get(root, -1) <= position[name] and root != name:
                arena.release(offset, floats)
                del live[root]
    in_place: dict[str, set[int]] = {}
    for layer in graph.layers:
        for index, source in enumerate(layer.node.inputs):
            if embedded.get(_root(alias, source), (None,))[0] == layer.node.name:
                in_place.setdefault(layer.node.name, set()).add(index)
    frozen = {name: frozenset(indices) for name, indices in in_place.items()}
    scratch_floats = max([KERNELS[layer.node.kind].scratch_floats(layer) for layer in graph.layers] + [0])
    return MemoryPlan(locations, scratch, fused, frozenset(alias), frozen, tile, arena.end, aligned(scratch_floats))
