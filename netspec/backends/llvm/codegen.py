"""Emit the LLVM module for a shaped graph (after the inference rewrite).

Each layer becomes an internal function `layer.NAME(source, target, weights,
scratch, count)` over a tile of `count` examples, with `noalias` buffers (and
the counter its tiles are taken by, when threads divide it); `forward` walks the
batch tile by tile and calls them in order, with every pointer computed from the
memory plan. `tiles` maps a layer's name to the register tile shape chosen for it
(by `tuning`); a layer not in it gets its kernel's fixed rule.
"""
from __future__ import annotations

from math import prod
from typing import Mapping

from llvmlite import ir

from ...check import ShapedGraph
from . import jit
from .barrier import TICKETS, barrier_function
from .handoff import handoff_functions
from .builder import F32_PTR, I64, Buffer, KernelBuilder, LayerCode, Tickets, index, violation_counter
from .kernels import KERNELS
from .layout import WeightLayout, weight_layout
from .plan import Location, MemoryPlan, memory_plan

ENTRY = "forward"


def _layer_type(sources: int, divided: bool = False) -> ir.FunctionType:
    tickets = [ir.PointerType(I64)] if divided else []
    return ir.FunctionType(ir.VoidType(), [F32_PTR] * sources + [F32_PTR, F32_PTR, F32_PTR, I64] + tickets)


def _declare_noalias(function: ir.Function, names) -> None:
    for argument, name in zip(function.args, names):
        argument.name = name
        if isinstance(argument.type, ir.PointerType):
            argument.add_attribute("noalias")


Tiles = Mapping[str, tuple[str, int, int]]  # see kernels.conv


def layer_function(module: ir.Module, layer, plan: MemoryPlan, weights: WeightLayout, width: int,
                   guarded: bool, divided: bool = False, tile: tuple | None = None) -> ir.Function:
    """`layer.NAME(sources..., target, weights, scratch, count)`: the layer's forward loop
    nest over `count` examples, reading and writing where `plan` puts its tensors. With
    `divided` (for a divisible kernel), one more argument `tickets`, the counter its
    tiles are taken by (see `Tickets`), so that threads calling it at once together do
    the layer; the counter must be 0 on entry (the barrier after the layer resets it).
    `tile`: the register tile shape chosen for the layer (see `LayerCode.tile`)."""
    name = layer.node.name
    kernel = KERNELS[layer.node.kind]
    readers = len(layer.node.inputs)
    divided = divided and kernel.divisible
    function = ir.Function(module, _layer_type(readers, divided), f"layer.{name}")
    function.linkage = "internal"
    # Inlining every layer into `forward` would have LLVM optimize each loop nest twice
    # (half the compile time of a large network) for the saving of one call per layer.
    function.attributes.add("noinline")
    source_names = ("source",) if readers == 1 else tuple(f"source{i}" for i in range(readers))
    _declare_noalias(function, (*source_names, "target", "weights", "scratch", "count"))
    k = KernelBuilder(function, name, guarded)
    *sources, target, weight_base, scratch, count = function.args[:readers + 4]
    if divided:
        counter = function.args[-1]
        counter.name = "tickets"  # shared by the threads: not noalias
        ticket = k.variable("ticket", k.b.atomic_rmw("add", counter, index(1), "monotonic"))
    buffers = {
        key.rsplit(".", 1)[1]: Buffer(k.at(weight_base, offset), prod(weights.stored[key]))
        for key, offset in weights.offsets.items() if key.rsplit(".", 1)[0] == name
    }
    scratch = Buffer(scratch, kernel.scratch_floats(layer))
    fused = KERNELS[plan.fused[name]].element if name in plan.fused else None
    sizes = [prod(shape) for shape in layer.input_shapes]
    outputs = prod(layer.output_shape)
    # Operands a concat finds already in place get no buffer: the lowering skips them.
    in_place = plan.in_place.get(name, frozenset())
    if kernel.batched:
        whole_sources = [Buffer(source, k.mul(count, size)) for source, size in zip(sources, sizes)]
        whole_target = Buffer(target, k.mul(count, outputs))
        tickets = Tickets(counter, ticket, index(0)) if divided else None  # the tile as one example
        kernel.lower(LayerCode(k, layer, whole_sources, whole_target, buffers, scratch, fused, count, width, tickets,
                               tile))
    else:
        stride = plan.locations[name].stride or outputs
        with k.loop("n", 0, count) as n:
            example_sources = [None if index in in_place else Buffer(k.at(source, k.mul(n, size)), size)
                               for index, (source, size) in enumerate(zip(sources, sizes))]
            example_target = Buffer(k.at(target, k.mul(n, stride)), outputs)
            tickets = Tickets(counter, ticket, n) if divided else None
            kernel.lower(LayerCode(k, layer, example_sources, example_target, buffers, scratch, fused, None, width,
                                   tickets, tile))
    k.b.ret_void()
    return function


# Relative compile work, to balance the parts: a register-tiled kernel (one that fuses
# activations: conv, dense) has several times the code of the others and of `forward`,
# unless its tiles are code it shares with another layer (KernelDef.shared_code).
TILED_COST, OTHER_COST, FORWARD_COST = 4, 1, 1


def _placement(codes: dict[tuple, object], width: int, tiles: Tiles, parts: int) -> dict[tuple, int]:
    """The part defining each layer code (`codes`: code key -> its first layer). Layers
    sharing code (KernelDef.shared_code) stay in one part, which would otherwise each
    compile it again; such groups, the most work first, go to the least loaded part."""
    groups: dict[object, list] = {}  # shared code (else the code key) -> [cost, code keys]
    for key, layer in codes.items():
        kernel = KERNELS[layer.node.kind]
        shared = kernel.shared_code(layer, width, tiles.get(layer.node.name))
        group = groups.setdefault(key if shared is None else shared, [0, []])
        group[0] += OTHER_COST if group[1] or not kernel.fuses_activation else TILED_COST
        group[1].append(key)
    loads = [FORWARD_COST] + [0] * (parts - 1)
    placement = {}
    for cost, keys in sorted(groups.values(), key=lambda group: -group[0]):
        part = loads.index(min(loads))
        loads[part] += cost
        placement.update(dict.fromkeys(keys, part))
    return placement


def _part_function(module: ir.Module, layer, plan: MemoryPlan, weights: WeightLayout, width: int, guarded: bool,
                   defined: bool, parts: int, tile: tuple | None) -> ir.Function:
    """The layer's function (divided between threads when its kernel can be), defined in
    this module, or declared when another part defines it."""
    if not defined:
        divided = KERNELS[layer.node.kind].divisible
        return ir.Function(module, _layer_type(len(layer.node.inputs), divided), f"layer.{layer.node.name}")
    function = layer_function(module, layer, plan, weights, width, guarded, divided=True, tile=tile)
    if parts > 1:
        function.linkage = ""  # external: forward, in another part, calls it
    return function


def _code_key(layer, plan: MemoryPlan, weights: WeightLayout, tile) -> tuple[tuple, int]:
    """What `layer_function` reads about a layer, with its weights' offsets taken from
    where the layer's first weight starts (returned too): equal keys, equal code."""
    name = layer.node.name
    own = {key.rsplit(".", 1)[1]: offset for key, offset in weights.offsets.items() if key.rsplit(".", 1)[0] == name}
    start = min(own.values(), default=0)
    placement = tuple(sorted((suffix, offset - start, weights.stored[f"{name}.{suffix}"]) for suffix, offset in own.items()))
    key = (layer.node.kind, repr(layer.attrs), tuple(layer.input_shapes), layer.output_shape, plan.fused.get(name),
           plan.in_place.get(name, frozenset()), plan.locations[name].stride, placement, tile)
    return key, start


def generate_module(graph: ShapedGraph, vector_width: int, guarded: bool = False,
                    part: int = 0, parts: int = 1, tiles: Tiles | None = None) -> tuple[ir.Module, MemoryPlan, WeightLayout]:
    """The module, with loops vectorized explicitly `vector_width` floats wide where a
    kernel does so; `guarded` tests every access against its buffer (see `KernelBuilder`).
    With `parts` > 1 it holds part `part` of the code: its share of the layer functions
    (and `forward` in part 0), declaring the others, so that the parts can be compiled
    separately (at once, in other processes) and linked when loaded. `tiles`: the
    register tile shapes chosen per layer name (see the module's docstring)."""
    tiles = tiles or {}
    plan = memory_plan(graph)
    weights = weight_layout(graph)
    module = ir.Module(name=graph.name if parts == 1 else f"{graph.name}.part{part}")
    if guarded:  # the counter exists even when no layer emits a guarded access
        violation_counter(module)
    # Layers that would compile to the same code share one function (the first such
    # layer's): it reads its weights relative to the pointer it is given, so each call
    # passes the weights moved by the distance between the two layers' weights.
    layers = [layer for layer in graph.layers if layer.node.name not in plan.views]
    keys = {layer.node.name: _code_key(layer, plan, weights, tiles.get(layer.node.name)) for layer in layers}
    codes: dict[tuple, object] = {}
    for layer in layers:
        codes.setdefault(keys[layer.node.name][0], layer)
    placement = _placement(codes, vector_width, tiles, parts)
    functions: dict[str, tuple[ir.Function, int]] = {}
    shared: dict[tuple, tuple[ir.Function, int]] = {}
    for layer in layers:
        name = layer.node.name
        key, start = keys[name]
        if key not in shared:
            shared[key] = (_part_function(module, layer, plan, weights, vector_width, guarded,
                                          placement[key] == part, parts, tiles.get(name)), start)
        function, first_start = shared[key]
        functions[name] = (function, start - first_start)
    if part == 0:
        handoff_functions(module, _forward_function(module, graph, plan, functions))
    return module, plan, weights


def _forward_function(module: ir.Module, graph: ShapedGraph, plan: MemoryPlan, functions) -> ir.Function:
    """`forward(input, weights, output, batch, workspace, scratch, part, parts, barrier)`:
    the layers in order over the batch, tile by tile. `parts` threads may run it at once
    on the same tensors (with their own scratch): each does its share of a divisible
    layer, thread 0 the other layers, and all wait at the barrier after each layer."""
    forward = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR, F32_PTR, F32_PTR, I64, F32_PTR, F32_PTR,
                                                                  I64, I64, ir.PointerType(I64)]), ENTRY)
    _declare_noalias(forward, ("input", "weights", "output", "batch", "workspace", "scratch", "part", "parts"))
    forward.args[-1].name = "barrier"  # shared by the threads: not noalias
    inputs, weight_base, outputs, batch, workspace, scratch, part, parts, barrier = forward.args
    builder = KernelBuilder(forward, "forward")
    wait = barrier_function(module)
    first_part = builder.b.icmp_signed("==", part, index(0))
    input_size, output_size = prod(graph.input_shape), prod(graph.output_shape)
    with builder.loop("tile", 0, batch, step=plan.tile) as first:
        count = builder.smin(plan.tile, builder.b.sub(batch, first))
        areas = {
            "input": builder.at(inputs, builder.mul(first, input_size)),
            "output": builder.at(outputs, builder.mul(first, output_size)),
            "workspace": workspace,
            "scratch": scratch,
        }

        def pointer(location: Location):
            return builder.at(areas[location.area], location.offset)

        for layer in graph.layers:
            name = layer.node.name
            if name not in functions:
                continue
            function, weight_shift = functions[name]
            arguments = [*[pointer(plan.locations[source]) for source in layer.node.inputs],
                         pointer(plan.locations[name]), builder.at(weight_base, weight_shift),
                         pointer(plan.scratch[name]) if name in plan.scratch else scratch, count]
            if len(function.args) > len(arguments):  # divided between the threads
                builder.b.call(function, [*arguments, builder.b.gep(barrier, [index(TICKETS)], inbounds=True)])
            else:
                with builder.b.if_then(first_part):
                    builder.b.call(function, arguments)
            builder.b.call(wait, [barrier, parts])
    builder.b.ret_void()
    return forward


def canonical_form(graph: ShapedGraph, guarded: bool = False, tiles: Tiles | None = None) -> str:
    """Everything the generated code depends on, as text (the cache key's content)."""
    lines = [f"network {graph.name} input {graph.input_shape} guarded {guarded}"]
    if tiles:
        lines.append(f"tiles {sorted(tiles.items())}")
    for layer in graph.layers:
        node = layer.node
        lines.append(f"{node.name} {node.kind} {node.inputs} {layer.attrs!r} {layer.input_shape} -> {layer.output_shape}")
    return "\n".join(lines)


def llvm_ir(graph: ShapedGraph, guarded: bool = False, part: int = 0, parts: int = 1,
            tiles: Tiles | None = None) -> str:
    """The LLVM IR of a graph after the inference rewrite (see `rewrite.rewrite_for_inference`),
    vectorized for this host: all of it, or part `part` of `parts` (see `generate_module`)."""
    module, _, _ = generate_module(graph, jit.host_vector_width(), guarded, part, parts, tiles)
    return str(module)
