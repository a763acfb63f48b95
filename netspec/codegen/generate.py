"""Emit the LLVM module for a checked network.

Each layer becomes an internal function `layer.NAME(source, target, weights,
scratch)` with `noalias` buffers; `forward(input, weights, output, batch,
workspace)` loops over the batch and calls them in order, with every pointer
computed from the memory plan.
"""
from __future__ import annotations

from math import prod

from llvmlite import ir

from ..check import CheckedNetwork
from ..ops import OPS
from .kernel import F32_PTR, I64, Kernel, LayerCode
from .plan import Location, MemoryPlan, WeightLayout, memory_plan, weight_layout

ENTRY = "forward"
_LAYER_TYPE = ir.FunctionType(ir.VoidType(), [F32_PTR, F32_PTR, F32_PTR, F32_PTR])


def _declare_noalias(function: ir.Function, names) -> None:
    for argument, name in zip(function.args, names):
        argument.name = name
        if isinstance(argument.type, ir.PointerType):
            argument.add_attribute("noalias")


def _layer_function(module: ir.Module, layer, plan: MemoryPlan, weights: WeightLayout) -> ir.Function:
    name = layer.node.name
    function = ir.Function(module, _LAYER_TYPE, f"layer.{name}")
    function.linkage = "internal"
    _declare_noalias(function, ("source", "target", "weights", "scratch"))
    kernel = Kernel(function, name)
    source, target, weight_base, scratch = function.args
    pointers = {
        key.split(".", 1)[1]: kernel.at(weight_base, offset)
        for key, offset in weights.offsets.items() if key.split(".", 1)[0] == name
    }
    code = LayerCode(kernel, layer, source, target, pointers, scratch, plan.fused.get(name))
    OPS[layer.node.kind].lower(code)
    kernel.b.ret_void()
    return function


def generate_module(network: CheckedNetwork) -> tuple[ir.Module, MemoryPlan, WeightLayout]:
    plan = memory_plan(network)
    weights = weight_layout(network)
    module = ir.Module(name=network.name)
    functions = {
        layer.node.name: _layer_function(module, layer, plan, weights)
        for layer in network.layers if layer.node.name not in plan.views
    }
    forward = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR, F32_PTR, F32_PTR, I64, F32_PTR]), ENTRY)
    _declare_noalias(forward, ("input", "weights", "output", "batch", "workspace"))
    inputs, weight_base, outputs, batch, workspace = forward.args
    kernel = Kernel(forward, "forward")
    input_size, output_size = prod(network.input_shape), prod(network.output_shape)
    with kernel.loop("n", 0, batch) as n:
        areas = {
            "input": kernel.at(inputs, kernel.mul(n, input_size)),
            "output": kernel.at(outputs, kernel.mul(n, output_size)),
            "workspace": workspace,
        }

        def pointer(location: Location):
            return kernel.at(areas[location.area], location.offset)

        for layer in network.layers:
            name = layer.node.name
            if name in functions:
                scratch = pointer(plan.scratch[name]) if name in plan.scratch else workspace
                source = pointer(plan.locations[layer.node.inputs[0]])
                kernel.b.call(functions[name], [source, pointer(plan.locations[name]), weight_base, scratch])
    kernel.b.ret_void()
    return module, plan, weights
