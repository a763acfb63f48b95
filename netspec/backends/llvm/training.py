"""Training on the LLVM backend: one generated function runs the forward pass keeping
every tensor, the softmax cross-entropy loss and the backward pass of a batch.

The forward pass reuses the inference kernels (on the graph as written: no dropout
removed, no batchnorm folded), except that dropout applies its mask and batchnorm
normalises with the batch's statistics; the backward pass uses `gradients.GRADIENTS`.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from math import prod

import numpy as np
from llvmlite import ir

from ...check import ShapedGraph
from ...errors import DataError
from ...ir import INPUT
from ...ops import OPS, Trait
from ...weights import validate, weight_shapes
from . import jit, mathfn
from .buffers import aligned, aligned_zeros
from .batch_statistics import normalise
from .builder import F32, F32_PTR, I64, Buffer, KernelBuilder, constant
from .codegen import canonical_form, layer_function
from .gradients import GRADIENTS, GradientCode, WholeBatch
from .kernels import KERNELS
from .layout import weight_layout
from .plan import Location, MemoryPlan

ENTRY = "train_step"
# train_step(activations, packed_weights, weights, labels, batch, gradients, weight_gradients, scratch, loss)
_STEP = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 4, ctypes.c_int64, *[ctypes.c_void_p] * 4)


def loss_layer(graph: ShapedGraph):
    """The layer whose output the loss reads: the last one, or the one before a final
    softmax (cross-entropy applies its own log-softmax to the logits, which is more
    accurate than taking the log of probabilities)."""
    last = graph.layers[-1]
    return graph.layer(last.node.inputs[0]) if OPS[last.node.kind].has(Trait.DISTRIBUTION) else last


def trained_layers(graph: ShapedGraph) -> list:
    """The layers the backward pass goes through: every one up to the loss layer."""
    end = graph.layers.index(loss_layer(graph))
    return graph.layers[:end + 1]


def masked(layer) -> bool:
    """Whether the layer zeroes random elements while training (dropout): its mask, drawn
    by the Trainer, is then an extra operand `NAME.mask` of the training step."""
    return OPS[layer.node.kind].has(Trait.IDENTITY_AT_INFERENCE)


def batch_normalised(layer) -> bool:
    """Whether the layer normalises with the batch's statistics while training (batchnorm,
    which uses running statistics at inference): its forward pass reads the weights in
    PyTorch's layouts, where it updates the running statistics."""
    return OPS[layer.node.kind].has(Trait.AFFINE_PER_CHANNEL)


def operands(layer) -> tuple[str, ...]:
    """The tensors the layer reads in the training step."""
    return tuple(layer.node.inputs) + ((f"{layer.node.name}.mask",) if masked(layer) else ())


def refuse_untrainable(graph: ShapedGraph) -> None:
    """A DataError naming every kind of layer that has no backward kernel yet."""
    missing = sorted({layer.node.kind for layer in trained_layers(graph)} - GRADIENTS.keys())
    if missing:
        kinds = ", ".join(f"`{kind}`" for kind in missing)
        raise DataError(f"netspec cannot train {kinds} layers yet")


@dataclass(frozen=True)
class TensorLayout:
    """Where every tensor (the input, each layer's output, each dropout mask) of a batch
    lives in the activations buffer, and its gradient in the gradients buffer (the same
    layout): at `batch * offsets[name]`, `batch * sizes[name]` floats."""

    offsets: dict[str, int]
    sizes: dict[str, int]
    floats_per_example: int


def tensor_layout(graph: ShapedGraph) -> TensorLayout:
    sizes = {INPUT: prod(graph.input_shape)} | {layer.node.name: prod(layer.output_shape) for layer in graph.layers}
    sizes |= {f"{layer.node.name}.mask": prod(layer.output_shape) for layer in graph.layers if masked(layer)}
    offsets, total = {}, 0
    for name, size in sizes.items():
        offsets[name], total = total, total + aligned(size)
    return TensorLayout(offsets, sizes, total)


@dataclass(frozen=True)
class GradientLayout:
    """Weights in PyTorch's layouts, one after another: what the backward pass reads,
    and the layout of the weight gradients it writes."""

    offsets: dict[str, int]
    shapes: dict[str, tuple[int, ...]]
    total_floats: int

    def pack(self, arrays) -> np.ndarray:
        buffer = aligned_zeros(self.total_floats)
        for key, shape in self.shapes.items():
            buffer[self.offsets[key]:self.offsets[key] + prod(shape)] = np.asarray(arrays[key], np.float32).ravel()
        return buffer

    def unpack(self, buffer: np.ndarray, keys) -> dict[str, np.ndarray]:
        return {key: buffer[self.offsets[key]:self.offsets[key] + prod(self.shapes[key])].reshape(self.shapes[key])
                .copy() for key in keys}

    def own(self, k: KernelBuilder, base, layer: str) -> dict[str, Buffer]:
        """The weights of `layer` in the buffer at `base`, keyed by suffix."""
        return {key.rsplit(".", 1)[1]: Buffer(k.at(base, offset), prod(self.shapes[key]))
                for key, offset in self.offsets.items() if key.rsplit(".", 1)[0] == layer}


def gradient_layout(graph: ShapedGraph) -> GradientLayout:
    offsets, shapes, total = {}, {}, 0
    for layer in graph.layers:
        for suffix, shape in OPS[layer.node.kind].weight_shapes(layer.attrs, layer.input_shape).items():
            key = f"{layer.node.name}.{suffix}"
            offsets[key], shapes[key], total = total, shape, total + aligned(prod(shape))
    return GradientLayout(offsets, shapes, total)


def running_statistics(graph: ShapedGraph) -> tuple[str, ...]:
    """The weights that are running statistics (`NAME.running_mean`, …): the training step
    updates them, they get no gradient, and the optimizers leave them alone."""
    return tuple(f"{layer.node.name}.{suffix}" for layer in graph.layers for suffix in OPS[layer.node.kind].buffers)


def _scratch_floats(graph: ShapedGraph) -> int:
    return max([KERNELS[layer.node.kind].scratch_floats(layer) for layer in graph.layers] + [1])


def _forward_plan(graph: ShapedGraph, tensors: TensorLayout) -> MemoryPlan:
    """Every tensor in its own place, nothing fused or shared: backward reads them all."""
    locations = {name: Location("activations", offset) for name, offset in tensors.offsets.items()}
    return MemoryPlan(locations, {}, {}, frozenset(), {}, 0, 0)


def _loss_function(module: ir.Module, classes: int) -> ir.Function:
    """loss(logits, labels, gradient, loss, count): the mean over the examples of
    log sum_j exp(z_j) - z_label, computed as m + log sum_j exp(z_j - m) with m = max z
    (so exp never overflows), and its gradient (softmax(z) - onehot(label)) / count."""
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR, ir.PointerType(I64), F32_PTR, F32_PTR,
                                                                   I64]), "loss")
    function.linkage = "internal"
    logits, labels, gradient, loss, count = function.args
    k = KernelBuilder(function, "loss")
    examples = k.b.sitofp(count, F32)
    total = k.variable("total", 0.0)
    with k.loop("n", 0, count) as n:
        row = k.mul(n, classes)
        z = Buffer(k.at(logits, row), classes)
        largest = k.variable("max", float("-inf"))
        with k.loop("max", 0, classes) as i:
            k.b.store(k.fmaximum(k.b.load(largest), k.load(z, i)), largest)
        largest = k.b.load(largest)
        sum_exp = k.variable("sum", 0.0)
        with k.loop("sum", 0, classes) as i:
            k.b.store(k.fadd(k.b.load(sum_exp), mathfn.exp(k, k.fsub(k.load(z, i), largest))), sum_exp)
        sum_exp = k.b.load(sum_exp)
        label = k.b.load(k.b.gep(labels, [n]))
        log_sum_exp = k.fadd(largest, k.intrinsic("llvm.log", sum_exp))
        k.b.store(k.fadd(k.b.load(total), k.fsub(log_sum_exp, k.load(z, label))), total)
        target = Buffer(k.at(gradient, row), classes)
        with k.loop("gradient", 0, classes) as i:
            probability = k.fdiv(mathfn.exp(k, k.fsub(k.load(z, i), largest)), sum_exp)
            onehot = k.b.select(k.b.icmp_signed("==", i, label), constant(F32, 1.0), constant(F32, 0.0))
            k.store(k.fdiv(k.fsub(probability, onehot), examples), target, i)
    k.b.store(k.fdiv(k.b.load(total), examples), loss)
    k.b.ret_void()
    return function


def _masked_forward(module: ir.Module, layer) -> ir.Function:
    """layer.NAME(source, mask, target, weights, scratch, count): target = source * mask,
    the mask holding 0 for a dropped element and 1 / (1 - p) for a kept one (as PyTorch)."""
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR] * 5 + [I64]), f"layer.{layer.node.name}")
    function.linkage = "internal"
    source, mask, target, _, _, count = function.args
    k = KernelBuilder(function, layer.node.name)
    floats = k.mul(count, prod(layer.output_shape))
    with k.loop("i", 0, floats) as i:
        k.store(k.fmul(k.load(Buffer(source, floats), i), k.load(Buffer(mask, floats), i)), Buffer(target, floats), i)
    k.b.ret_void()
    return function


def _gradient_function(module: ir.Module, layer, weights: GradientLayout) -> ir.Function:
    """gradient.NAME(sources..., output, output_gradient, source_gradients..., weights,
    weight_gradients, count): the layer's backward loop nest, one example at a time. The
    sources are its operands (and its mask); the source gradients, its operands'."""
    name, readers, inputs = layer.node.name, len(operands(layer)), len(layer.node.inputs)
    kind = ir.FunctionType(ir.VoidType(), [F32_PTR] * (readers + inputs + 4) + [I64])
    function = ir.Function(module, kind, f"gradient.{name}")
    # No noalias: in `add a a` both operand gradients are one buffer.
    function.linkage = "internal"
    k = KernelBuilder(function, f"{name}.gradient")
    args = function.args
    sources, (output, output_gradient) = args[:readers], args[readers:readers + 2]
    source_gradients = args[readers + 2:readers + inputs + 2]
    weight_base, gradient_base, count = args[readers + inputs + 2:]
    own_weights, own_gradients = weights.own(k, weight_base, name), weights.own(k, gradient_base, name)
    outputs = prod(layer.output_shape)
    sizes = [prod(shape) for shape in layer.input_shapes] + [outputs] * (readers - inputs)

    def code(buffers):
        return GradientCode(k, layer, buffers(sources, sizes), *buffers((output, output_gradient), (outputs, outputs)),
                            buffers(source_gradients, sizes[:inputs]), own_weights, own_gradients, count)

    rule = GRADIENTS[layer.node.kind]
    if isinstance(rule, WholeBatch):
        rule.lower(code(lambda pointers, floats: tuple(Buffer(p, k.mul(count, size))
                                                       for p, size in zip(pointers, floats))))
    else:
        with k.loop("n", 0, count) as n:
            rule(code(lambda pointers, floats: tuple(Buffer(k.at(p, k.mul(n, size)), size)
                                                     for p, size in zip(pointers, floats))))
    k.b.ret_void()
    return function


def generate_training_module(graph: ShapedGraph, vector_width: int) -> ir.Module:
    tensors, packed, weights = tensor_layout(graph), weight_layout(graph), gradient_layout(graph)
    plan = _forward_plan(graph, tensors)
    module = ir.Module(name=f"{graph.name}.training")
    forward = [_masked_forward(module, layer) if masked(layer) else
               normalise(module, layer, weights) if batch_normalised(layer) else
               layer_function(module, layer, plan, packed, vector_width, False) for layer in graph.layers]
    loss = _loss_function(module, tensors.sizes[loss_layer(graph).node.name])
    trained = trained_layers(graph)
    backward = [_gradient_function(module, layer, weights) for layer in trained]
    step = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR, F32_PTR, F32_PTR, ir.PointerType(I64), I64,
                                                               F32_PTR, F32_PTR, F32_PTR, F32_PTR]), ENTRY)
    activations, packed_base, weight_base, labels, batch, gradients, weight_gradients, scratch, loss_value = step.args
    k = KernelBuilder(step, "step")

    def at(base, name):
        return k.at(base, k.mul(batch, tensors.offsets[name]))

    for layer, function in zip(graph.layers, forward):
        sources = [at(activations, name) for name in operands(layer)]
        layer_weights = weight_base if batch_normalised(layer) else packed_base
        k.b.call(function, [*sources, at(activations, layer.node.name), layer_weights, scratch, batch])
    logits = loss_layer(graph).node.name
    k.b.call(loss, [at(activations, logits), labels, at(gradients, logits), loss_value, batch])
    for layer, function in zip(reversed(trained), reversed(backward)):
        k.b.call(function, [*[at(activations, name) for name in operands(layer)], at(activations, layer.node.name),
                            at(gradients, layer.node.name), *[at(gradients, name) for name in layer.node.inputs],
                            weight_base, weight_gradients, batch])
    k.b.ret_void()
    return module


class Trainer:
    """A network's training step compiled to native code, with its current weights
    (PyTorch's layouts, keyed `NAME.SUFFIX`); `weights` may be replaced between steps,
    and each step replaces its running statistics with the updated ones.
    Dropout masks are drawn from `random`, a generator seeded with `seed` (public so a
    checkpoint can save and restore its state)."""

    def __init__(self, graph: ShapedGraph, weights, seed: int = 0):
        graph.require_numbers()
        refuse_untrainable(graph)
        validate(weights, weight_shapes(graph), "the given mapping")
        self.graph = graph
        self.weights = {key: np.asarray(array, np.float32) for key, array in weights.items()}
        self._tensors, self._packed = tensor_layout(graph), weight_layout(graph)
        self._gradient_layout = gradient_layout(graph)
        self._statistics = running_statistics(graph)
        self._parameters = tuple(key for key in self._gradient_layout.shapes if key not in self._statistics)
        self._scratch = aligned_zeros(_scratch_floats(graph))
        self._classes = self._tensors.sizes[loss_layer(graph).node.name]
        canonical = canonical_form(graph) + "\ntraining step"
        self._compiled = jit.compile_object(
            canonical, lambda: str(generate_training_module(graph, jit.host_vector_width())), ENTRY)
        self._step = _STEP(self._compiled.address)
        self.random = np.random.default_rng(seed)

    def draw_masks(self, batch: int) -> dict[str, np.ndarray]:
        """A dropout mask per dropout layer, keyed by layer: each element 0 with the layer's
        probability p (the checker keeps p < 1), else 1 / (1 - p), shaped batch x its output."""
        masks = {}
        for layer in filter(masked, self.graph.layers):
            kept = self.random.random((batch, *layer.output_shape)) >= layer.attrs.p
            masks[layer.node.name] = (kept / (1 - layer.attrs.p)).astype(np.float32)
        return masks

    def loss_and_gradients(self, x, labels, masks=None) -> tuple[float, dict[str, np.ndarray]]:
        """The mean softmax cross-entropy of the batch and its gradient for every weight but
        the running statistics, which move towards the batch's; dropout layers use `masks`
        (as `draw_masks` gives them), else freshly drawn ones."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        self._check_batch(x, labels)
        batch, tensors = len(x), self._tensors
        activations = aligned_zeros(batch * tensors.floats_per_example)
        activations[:x.size] = x.ravel()  # the input's offset is 0
        for name, mask in (self.draw_masks(batch) if masks is None else masks).items():
            expected = (batch, *self.graph.layer(name).output_shape)
            if np.shape(mask) != expected:
                raise DataError(f"the mask of {name} has shape {np.shape(mask)}; the batch needs {expected}")
            start = batch * tensors.offsets[f"{name}.mask"]
            activations[start:start + mask.size] = np.asarray(mask, np.float32).ravel()
        gradients = aligned_zeros(batch * tensors.floats_per_example)
        weight_gradients = aligned_zeros(self._gradient_layout.total_floats)
        packed = self._packed.pack(self.graph, self.weights)
        weights = self._gradient_layout.pack(self.weights)
        loss = np.zeros(1, np.float32)
        self._step(activations.ctypes.data, packed.ctypes.data, weights.ctypes.data, labels.ctypes.data, batch,
                   gradients.ctypes.data, weight_gradients.ctypes.data, self._scratch.ctypes.data, loss.ctypes.data)
        self.weights = self.weights | self._gradient_layout.unpack(weights, self._statistics)
        return float(loss[0]), self._gradient_layout.unpack(weight_gradients, self._parameters)

    def _check_batch(self, x: np.ndarray, labels: np.ndarray) -> None:
        if x.ndim != len(self.graph.input_shape) + 1 or x.shape[1:] != tuple(self.graph.input_shape) or not len(x):
            raise DataError(f"training batch has shape {x.shape}; network {self.graph.name} expects "
                            f"(N, {', '.join(map(str, self.graph.input_shape))}) with N > 0")
        if labels.shape != (len(x),):
            raise DataError(f"{len(labels)} labels for {len(x)} examples")
        if labels.min() < 0 or labels.max() >= self._classes:
            raise DataError(f"labels must be classes 0 to {self._classes - 1}; found {labels.min()} to {labels.max()}")
        for layer in filter(batch_normalised, self.graph.layers):
            if len(x) * prod(layer.input_shape[1:]) < 2:
                # Its unbiased variance would divide by zero; PyTorch refuses it too.
                raise DataError(f"{layer.node.name} normalises each feature over the batch, which needs more than "
                                "one example: train with batches of 2 or more")


def compile_training(graph: ShapedGraph, weights, seed: int = 0) -> Trainer:
    """The training step of `graph` starting from `weights` (PyTorch's layouts); `seed`
    seeds the dropout masks."""
    return Trainer(graph, weights, seed)
