"""Emit the LLVM module for a checked network.

Each layer becomes an internal function `layer.NAME(source, target, weights,
scratch, count)` over a tile of `count` examples, with `noalias` buffers;
`forward(input, weights, output, batch, workspace)` walks the batch tile by
tile and calls them in order, with every pointer computed from the memory plan.
"""
from __future__ import annotations

from math import prod

from llvmlite import ir

from ..check import CheckedNetwork
from ..ops import OPS
from .kernel import F32_PTR, I64, Buffer, Kernel, LayerCode, violation_counter
from .plan import Location, MemoryPlan, WeightLayout, memory_plan, weight_layout

ENTRY = "forward"


def _layer_type(sources: int) -> ir.FunctionType:
    return ir.FunctionType(ir.VoidType(), [F32_PTR] * sources + [F32_PTR, F32_PTR, F32_PTR, I64])


def _declare_noalias(function: ir.Function, names) -> None:
    for argument, name in zip(function.args, names):
        argument.name = name
        if isinstance(argument.type, ir.PointerType):
            argument.add_attribute("noalias")


def _layer_function(module: ir.Module, layer, plan: MemoryPlan, weights: WeightLayout, width: int,
                    checked: bool) -> ir.Function:
    name = layer.node.name
    op = OPS[layer.node.kind]
    readers = len(layer.node.inputs)
    function = ir.Function(module, _layer_type(readers), f"layer.{name}")
    function.linkage = "internal"
    source_names = ("source",) if readers == 1 else tuple(f"source{i}" for i in range(readers))
    _declare_noalias(function, (*source_names, "target", "weights", "scratch", "count"))
    k = Kernel(function, name, checked)
    *sources, target, weight_base, scratch, count = function.args
    buffers = {
        key.rsplit(".", 1)[1]: Buffer(k.at(weight_base, offset), prod(weights.stored[key]))
        for key, offset in weights.offsets.items() if key.rsplit(".", 1)[0] == name
    }
    scratch = Buffer(scratch, op.scratch_floats(layer))
    activation = plan.fused.get(name)
    sizes = [prod(shape) for shape in layer.input_shapes]
    outputs = prod(layer.output_shape)
    # Operands a concat finds already in place get no buffer: the lowering skips them.
    in_place = plan.in_place.get(name, frozenset())
    if op.batched:
        whole_sources = [Buffer(source, k.mul(count, size)) for source, size in zip(sources, sizes)]
        whole_target = Buffer(target, k.mul(count, outputs))
        op.lower(LayerCode(k, layer, whole_sources, whole_target, buffers, scratch, activation, count, width))
    else:
        stride = plan.locations[name].stride or outputs
        with k.loop("n", 0, count) as n:
            example_sources = [None if index in in_place else Buffer(k.at(source, k.mul(n, size)), size)
                               for index, (source, size) in enumerate(zip(sources, sizes))]
            example_target = Buffer(k.at(target, k.mul(n, stride)), outputs)
            op.lower(LayerCode(k, layer, example_sources, example_target, buffers, scratch, activation, None, width))
    k.b.ret_void()
    return function


def generate_module(network: CheckedNetwork, vector_width: int,
                    checked: bool = False) -> tuple[ir.Module, MemoryPlan, WeightLayout]:
    """The module, with loops vectorized explicitly `vector_width` floats wide where a
    lowering does so; `checked` guards every access (see `Kernel`)."""
    plan = memory_plan(network)
    weights = weight_layout(network)
    module = ir.Module(name=network.name)
    if checked:  # the counter exists even when no layer emits a guarded access
        violation_counter(module)
    functions = {
        layer.node.name: _layer_function(module, layer, plan, weights, vector_width, checked)
        for layer in network.layers if layer.node.name not in plan.views
    }
    forward = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR, F32_PTR, F32_PTR, I64, F32_PTR]), ENTRY)
    _declare_noalias(forward, ("input", "weights", "output", "batch", "workspace"))
    inputs, weight_base, outputs, batch, workspace = forward.args
    kernel = Kernel(forward, "forward")
    input_size, output_size = prod(network.input_shape), prod(network.output_shape)
    with kernel.loop("tile", 0, batch, step=plan.tile) as first:
        count = kernel.smin(plan.tile, kernel.b.sub(batch, first))
        areas = {
            "input": kernel.at(inputs, kernel.mul(first, input_size)),
            "output": kernel.at(outputs, kernel.mul(first, output_size)),
            "workspace": workspace,
        }

        def pointer(location: Location):
            return kernel.at(areas[location.area], location.offset)

        for layer in network.layers:
            name = layer.node.name
            if name in functions:
                scratch = pointer(plan.scratch[name]) if name in plan.scratch else workspace
                sources = [pointer(plan.locations[source]) for source in layer.node.inputs]
                target = pointer(plan.locations[name])
                kernel.b.call(functions[name], [*sources, target, weight_base, scratch, count])
    kernel.b.ret_void()
    return module, plan, weights
