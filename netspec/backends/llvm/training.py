"""Training on the LLVM backend: one generated function runs the forward pass keeping
every tensor, the loss and the backward pass of a batch (or of the share of a batch
one thread takes).

The forward pass reuses the inference kernels (on the graph as written: no dropout
removed, no batchnorm folded), except that dropout applies its mask and batchnorm
normalises with the batch's statistics; the backward pass uses `gradients.GRADIENTS`.
"""
from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import prod

import numpy as np
from llvmlite import ir

from ...check import ShapedGraph
from ...errors import DataError
from ...ir import INPUT
from ...ops import OPS, Trait
from ...weights import validate, weight_shapes
from . import jit
from .buffers import aligned, aligned_zeros
from .batch_statistics import normalise
from .builder import F32_PTR, I64, OUT_OF_BOUNDS, Buffer, KernelBuilder, violation_counter
from .codegen import canonical_form, layer_function
from .gradients import GRADIENTS, GradientCode
from .kernels import KERNELS
from .layout import weight_layout
from .memory import default_limit
from .losses import LOSSES
from .plan import Location, MemoryPlan

ENTRY = "train_step"
# See generate_training_module.
_STEP = ctypes.CFUNCTYPE(None, ctypes.c_int64, *[ctypes.c_void_p] * 4, *[ctypes.c_int64] * 5,
                         *[ctypes.c_void_p] * 4)


def loss_layer(graph: ShapedGraph, loss: str):
    """The layer whose output the loss reads: the last one, or for a loss that applies
    its own softmax (cross-entropy: the log of a softmax computed from the logits is
    more accurate than the log of the probabilities) the one before a final softmax."""
    last = graph.layers[-1]
    if LOSSES[loss].reads_logits and OPS[last.node.kind].has(Trait.DISTRIBUTION):
        return graph.layer(last.node.inputs[0])
    return last


def trained_layers(graph: ShapedGraph, loss: str) -> list:
    """The layers the backward pass goes through: every one up to the loss layer."""
    end = graph.layers.index(loss_layer(graph, loss))
    return graph.layers[:end + 1]


def gradients_needed(graph: ShapedGraph) -> frozenset[str]:
    """The tensors whose gradient some weight's gradient depends on: every layer output
    from the first layer with weights on (the input's gradient is never needed)."""
    needed = set()
    for layer in graph.layers:
        if OPS[layer.node.kind].weight_shapes(layer.attrs, layer.input_shape) or \
                any(name in needed for name in layer.node.inputs):
            needed.add(layer.node.name)
    return frozenset(needed)


def masked(layer) -> bool:
    """Whether the layer zeroes random elements while training (dropout): its mask, drawn
    by the Trainer, is then an extra operand `NAME.mask` of the training step."""
    return OPS[layer.node.kind].has(Trait.IDENTITY_AT_INFERENCE)


def batch_normalised(layer) -> bool:
    """Whether the layer normalises with the batch's statistics while training (batchnorm,
    which uses running statistics at inference): its forward pass reads the weights in
    PyTorch's layouts, where it updates the running statistics."""
    return OPS[layer.node.kind].has(Trait.AFFINE_PER_CHANNEL)


def single_value_batchnorm(graph: ShapedGraph):
    """The first batchnorm layer with one value per channel in an example (after a flat
    vector, or on 1x1 images), which cannot normalise a batch of one; None if none."""
    return next((layer for layer in graph.layers if batch_normalised(layer) and prod(layer.input_shape[1:]) == 1),
                None)


def operands(layer) -> tuple[str, ...]:
    """The tensors the layer reads in the training step."""
    return tuple(layer.node.inputs) + ((f"{layer.node.name}.mask",) if masked(layer) else ())


def refuse_untrainable(graph: ShapedGraph, loss: str) -> None:
    """A DataError naming every kind of layer that has no backward kernel yet."""
    missing = sorted({layer.node.kind for layer in trained_layers(graph, loss)} - GRADIENTS.keys())
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
    forward = [KERNELS[layer.node.kind].scratch_floats(layer) for layer in graph.layers]
    backward = [GRADIENTS[layer.node.kind].scratch_floats(layer) for layer in graph.layers
                if layer.node.kind in GRADIENTS]
    return max(forward + backward + [1])


def _forward_plan(graph: ShapedGraph, tensors: TensorLayout) -> MemoryPlan:
    """Every tensor in its own place, nothing fused or shared: backward reads them all."""
    locations = {name: Location("activations", offset) for name, offset in tensors.offsets.items()}
    return MemoryPlan(locations, {}, {}, frozenset(), {}, 0, 0)


def _masked_forward(module: ir.Module, layer, guarded: bool) -> ir.Function:
    """layer.NAME(source, mask, target, weights, scratch, count): target = source * mask,
    the mask holding 0 for a dropped element and 1 / (1 - p) for a kept one (as PyTorch)."""
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR] * 5 + [I64]), f"layer.{layer.node.name}")
    function.linkage = "internal"
    source, mask, target, _, _, count = function.args
    k = KernelBuilder(function, layer.node.name, guarded)
    floats = k.mul(count, prod(layer.output_shape))
    with k.loop("i", 0, floats) as i:
        k.store(k.fmul(k.load(Buffer(source, floats), i), k.load(Buffer(mask, floats), i)), Buffer(target, floats), i)
    k.b.ret_void()
    return function


def _gradient_function(module: ir.Module, layer, weights: GradientLayout, needed: frozenset[str],
                       vector_width: int, guarded: bool) -> ir.Function:
    """gradient.NAME(sources..., output, output_gradient, source_gradients..., weights,
    weight_gradients, scratch, count, part, parts): the layer's backward loop nest. The
    sources are its operands (and its mask); the source gradients, those of its operands
    in `needed`; part and parts, the share of a batchnorm's channels to take."""
    name, readers = layer.node.name, len(operands(layer))
    wanted = [source in needed for source in layer.node.inputs]
    kind = ir.FunctionType(ir.VoidType(), [F32_PTR] * (readers + sum(wanted) + 5) + [I64] * 3)
    function = ir.Function(module, kind, f"gradient.{name}")
    # No noalias: in `add a a` both operand gradients are one buffer.
    function.linkage = "internal"
    k = KernelBuilder(function, f"{name}.gradient", guarded)
    args = iter(function.args)
    sources = [next(args) for _ in range(readers)]
    output, output_gradient = next(args), next(args)
    source_gradients = [next(args) if want else None for want in wanted]
    weight_base, gradient_base, scratch, count, part, parts = args
    rule = GRADIENTS[layer.node.kind]
    outputs = prod(layer.output_shape)
    sizes = [prod(shape) for shape in layer.input_shapes] + [outputs] * (readers - len(wanted))

    def code(at):
        def buffers(pointers, floats):
            return tuple(None if p is None else at(p, size) for p, size in zip(pointers, floats))

        return GradientCode(k, layer, buffers(sources, sizes), *buffers((output, output_gradient), (outputs, outputs)),
                            buffers(source_gradients, sizes), weights.own(k, weight_base, name),
                            weights.own(k, gradient_base, name), Buffer(scratch, rule.scratch_floats(layer)),
                            count, vector_width, part, parts)

    if rule.batched:
        rule.lower(code(lambda pointer, size: Buffer(pointer, k.mul(count, size))))
    else:
        with k.loop("n", 0, count) as n:
            rule.lower(code(lambda pointer, size: Buffer(k.at(pointer, k.mul(n, size)), size)))
    k.b.ret_void()
    return function


@dataclass(frozen=True)
class Segment:
    """Consecutive operations of a training step that run on one thread's examples
    each, or (`whole_batch`: batchnorm, whose statistics couple the examples) on all of
    them, each thread taking a share of the channels; an operation is
    ("forward", layer), ("loss", None) or ("backward", layer)."""

    whole_batch: bool
    operations: tuple


def segments(graph: ShapedGraph, loss: str) -> tuple[Segment, ...]:
    needed = gradients_needed(graph)
    operations = [("forward", layer) for layer in graph.layers] + [("loss", None)] + \
        [("backward", layer) for layer in reversed(trained_layers(graph, loss)) if layer.node.name in needed]
    found: list[Segment] = []
    for operation in operations:
        whole = operation[1] is not None and batch_normalised(operation[1])
        if found and not whole and not found[-1].whole_batch:
            found[-1] = Segment(False, found[-1].operations + (operation,))
        else:
            found.append(Segment(whole, (operation,)))
    return tuple(found)


def generate_training_module(graph: ShapedGraph, vector_width: int, loss: str, guarded: bool = False) -> ir.Module:
    """train_step(segment, activations, packed_weights, weights, targets, first, count,
    total, part, parts, gradients, weight_gradients, scratch, loss): segment number
    `segment` of a batch of `total` examples on its examples [first, first + count)
    (a whole-batch segment: on share `part` of `parts` of its channels). Tensor NAME of
    example n lies at total * offsets[NAME] + n * sizes[NAME] of the activations (its
    gradient likewise in the gradients); `targets` are the whole batch's. `guarded`:
    the bounds-checked build (see `KernelBuilder`)."""
    tensors, packed, weights = tensor_layout(graph), weight_layout(graph), gradient_layout(graph)
    plan = _forward_plan(graph, tensors)
    module = ir.Module(name=f"{graph.name}.training")
    if guarded:  # the counter exists even when no function emits a guarded access
        violation_counter(module)
    forward = {layer.node.name: _masked_forward(module, layer, guarded) if masked(layer) else
               normalise(module, layer, weights, guarded) if batch_normalised(layer) else
               layer_function(module, layer, plan, packed, vector_width, guarded) for layer in graph.layers}
    objective = LOSSES[loss]
    loss_function = objective.lower(module, tensors.sizes[loss_layer(graph, loss).node.name], guarded)
    needed = gradients_needed(graph)
    backward = {layer.node.name: _gradient_function(module, layer, weights, needed, vector_width, guarded)
                for layer in trained_layers(graph, loss) if layer.node.name in needed}
    step = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, F32_PTR, F32_PTR, F32_PTR,
                                                               ir.PointerType(objective.target_type), *[I64] * 5,
                                                               F32_PTR, F32_PTR, F32_PTR, F32_PTR]), ENTRY)
    (segment, activations, packed_base, weight_base, targets, first, count, total, part, parts, gradients,
     weight_gradients, scratch, loss_value) = step.args
    k = KernelBuilder(step, "step")

    def at(base, name):
        return k.at(base, k.add(k.mul(total, tensors.offsets[name]), k.mul(first, tensors.sizes[name])))

    def emit(operation, layer):
        if operation == "forward":
            sources = [at(activations, name) for name in operands(layer)]
            share = [part, parts] if batch_normalised(layer) else []
            layer_weights = weight_base if batch_normalised(layer) else packed_base
            k.b.call(forward[layer.node.name], [*sources, at(activations, layer.node.name), layer_weights, scratch,
                                                count, *share])
        elif operation == "loss":
            read = loss_layer(graph, loss).node.name
            own_targets = k.b.gep(targets, [k.mul(first, 1 if objective.target_type == I64 else tensors.sizes[read])])
            k.b.call(loss_function, [at(activations, read), own_targets, at(gradients, read), loss_value, count,
                                     total])
        else:
            k.b.call(backward[layer.node.name],
                     [*[at(activations, name) for name in operands(layer)], at(activations, layer.node.name),
                      at(gradients, layer.node.name), *[at(gradients, name) for name in layer.node.inputs
                                                        if name in needed],
                      weight_base, weight_gradients, scratch, count, part, parts])

    done = step.append_basic_block("step.done")
    branches = k.b.switch(segment, done)
    for number, piece in enumerate(segments(graph, loss)):
        block = step.append_basic_block(f"step.segment{number}")
        branches.add_case(ir.Constant(I64, number), block)
        k.b.position_at_end(block)
        for operation, layer in piece.operations:
            emit(operation, layer)
        k.b.branch(done)
    k.b.position_at_end(done)
    k.b.ret_void()
    return module


@dataclass
class _Share:
    """One thread's part of a batch: its examples and its own memory (kept between steps
    of the same size, so a step allocates nothing)."""

    examples: slice
    weight_gradients: np.ndarray
    scratch: np.ndarray
    loss: np.ndarray


class Trainer:
    """A network's training step compiled to native code, with its current weights
    (PyTorch's layouts, keyed `NAME.SUFFIX`); `weights` may be replaced between steps,
    and each step replaces its running statistics with the updated ones.
    Dropout masks are drawn from `random`, a generator seeded with `seed` (public so a
    checkpoint can save and restore its state). A batch is split among `threads`
    threads, each summing its examples' weight gradients, added up in a fixed order
    (so the same thread count gives the same bits); batchnorm layers, whose batch
    statistics need every example, are split among them by channel instead."""

    def __init__(self, graph: ShapedGraph, weights, seed: int = 0, threads: int = 1, loss: str = "cross-entropy",
                 bounds_check: bool = False):
        graph.require_numbers()
        if loss not in LOSSES:
            raise DataError(f"unknown loss {loss!r}; netspec knows {', '.join(LOSSES)}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise DataError(f"threads must be a whole number of at least 1, got {threads!r}")
        refuse_untrainable(graph, loss)
        validate(weights, weight_shapes(graph), "the given mapping")
        self.graph, self.loss, self.threads = graph, loss, threads
        self.weights = {key: np.asarray(array, np.float32) for key, array in weights.items()}
        self._tensors, self._packed = tensor_layout(graph), weight_layout(graph)
        self._gradient_layout = gradient_layout(graph)
        self._statistics = running_statistics(graph)
        self._parameters = tuple(key for key in self._gradient_layout.shapes if key not in self._statistics)
        self._scratch_floats = _scratch_floats(graph)
        self._outputs = self._tensors.sizes[loss_layer(graph, loss).node.name]
        self._segments = segments(graph, loss)
        self._shares: list[_Share] = []
        self._activations = self._gradients = aligned_zeros(0)
        self._pool = ThreadPoolExecutor(threads - 1, "netspec-train") if threads > 1 else None
        canonical = canonical_form(graph, bounds_check) + f"\ntraining step, {loss} loss"
        self._compiled = jit.compile_object(canonical, lambda: str(generate_training_module(
            graph, jit.host_vector_width(), loss, bounds_check)), ENTRY)
        self._step = _STEP(self._compiled.address)
        self._violations = ctypes.c_int64.from_address(
            self._compiled.engine.get_global_value_address(OUT_OF_BOUNDS)) if bounds_check else None
        self.random = np.random.default_rng(seed)

    def draw_masks(self, batch: int) -> dict[str, np.ndarray]:
        """A dropout mask per dropout layer, keyed by layer: each element 0 with the layer's
        probability p (the checker keeps p < 1), else 1 / (1 - p), shaped batch x its output."""
        masks = {}
        for layer in filter(masked, self.graph.layers):
            kept = self.random.random((batch, *layer.output_shape)) >= layer.attrs.p
            masks[layer.node.name] = (kept / (1 - layer.attrs.p)).astype(np.float32)
        return masks

    def loss_and_gradients(self, x, targets, masks=None) -> tuple[float, dict[str, np.ndarray]]:
        """The batch's mean loss and its gradient for every weight but the running
        statistics, which move towards the batch's. `targets`: class labels for
        cross-entropy; for mse, one value per output of each example, or class labels
        (standing for their one-hot vectors). Dropout layers use `masks` (as `draw_masks`
        gives them), else freshly drawn ones."""
        x, targets = np.asarray(x), np.asarray(targets)
        if x.dtype.kind not in "fiu":
            raise DataError(f"training examples must be real numbers; got an array of {x.dtype}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        self._check_batch(x, targets)
        targets = LOSSES[self.loss].targets(targets, self._outputs)
        batch, tensors = len(x), self._tensors
        masks = self.draw_masks(batch) if masks is None else masks
        dropped = {layer.node.name for layer in filter(masked, self.graph.layers)}
        if set(masks) != dropped:
            raise DataError(f"masks are for the dropout layers ({', '.join(sorted(dropped)) or 'none here'}); "
                            f"got {', '.join(sorted(map(str, masks))) or 'none'}")
        shares = self._shares_of(batch)
        self._activations[:x.size] = x.ravel()  # the input's offset is 0
        for name, mask in masks.items():
            expected = (batch, *self.graph.layer(name).output_shape)
            if np.shape(mask) != expected:
                raise DataError(f"the mask of {name} has shape {np.shape(mask)}; the batch needs {expected}")
            start = batch * tensors.offsets[f"{name}.mask"]
            self._activations[start:start + mask.size] = np.asarray(mask, np.float32).ravel()
        self._gradients.fill(0)
        for share in shares:
            share.weight_gradients.fill(0)
        packed = self._packed.pack(self.graph, self.weights)
        weights = self._gradient_layout.pack(self.weights)

        def run(segment: int, share: _Share, first: int, count: int, part: int) -> None:
            self._step(segment, self._activations.ctypes.data, packed.ctypes.data, weights.ctypes.data,
                       targets.ctypes.data, first, count, batch, part, len(shares), self._gradients.ctypes.data,
                       share.weight_gradients.ctypes.data, share.scratch.ctypes.data, share.loss.ctypes.data)

        for number, segment in enumerate(self._segments):
            # A whole-batch segment gives each thread all the examples and a share of the
            # channels, so its weight gradients land in disjoint parts of the threads' own.
            parts = [(number, share, 0, batch, part) if segment.whole_batch else
                     (number, share, share.examples.start, share.examples.stop - share.examples.start, part)
                     for part, share in enumerate(shares)]
            others = [self._pool.submit(run, *part) for part in parts[1:]]
            run(*parts[0])
            for running in others:
                running.result()
        weight_gradients = shares[0].weight_gradients  # refilled every step: summed into in place
        for share in shares[1:]:
            weight_gradients += share.weight_gradients
        self.weights = self.weights | self._gradient_layout.unpack(weights, self._statistics)
        loss = sum(float(share.loss[0]) for share in shares)
        return loss, self._gradient_layout.unpack(weight_gradients, self._parameters)

    def _require_memory(self, batch: int, floats: int) -> None:
        """Refuse a batch whose step would need more memory than netspec allows itself
        (the same limit as runs: a share of this machine's memory), before allocating it."""
        limit = default_limit()
        if 4 * floats > limit:
            raise DataError(f"a training step of {self.graph.name} on batches of {batch} needs {4 * floats / 2**20:,.0f} "
                            f"MiB for its tensors, their gradients and each thread's weight gradients, more than the "
                            f"limit of {limit / 2**20:,.0f} MiB; use a smaller --batch")

    @property
    def out_of_bounds_accesses(self) -> int:
        """Accesses outside their buffers caught so far by a bounds-checked build (else 0)."""
        return self._violations.value if self._violations is not None else 0

    def _shares_of(self, batch: int) -> list[_Share]:
        """The batch cut into one share per thread (no share under 8 examples)."""
        threads = max(1, min(self.threads, batch // 8))
        bounds = [batch * i // threads for i in range(threads + 1)]
        examples = [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]
        if [share.examples for share in self._shares] != examples:
            floats = batch * self._tensors.floats_per_example
            self._require_memory(batch, 2 * floats + len(examples) * (self._gradient_layout.total_floats
                                                                       + self._scratch_floats))
            self._activations, self._gradients = aligned_zeros(floats), aligned_zeros(floats)
            self._shares = [_Share(chosen, aligned_zeros(self._gradient_layout.total_floats),
                                   aligned_zeros(self._scratch_floats), np.zeros(1, np.float32))
                            for chosen in examples]
        for share in self._shares:
            share.loss[0] = 0
        return self._shares

    def _check_batch(self, x: np.ndarray, targets: np.ndarray) -> None:
        if x.ndim != len(self.graph.input_shape) + 1 or x.shape[1:] != tuple(self.graph.input_shape) or not len(x):
            raise DataError(f"training batch has shape {x.shape}; network {self.graph.name} expects "
                            f"(N, {', '.join(map(str, self.graph.input_shape))}) with N > 0")
        if targets.ndim == 0 or len(targets) != len(x):
            raise DataError(f"{len(targets) if targets.ndim else 'no array of'} targets for {len(x)} examples")
        single = single_value_batchnorm(self.graph)
        if single is not None and len(x) == 1:
            # Its unbiased variance would divide by zero; PyTorch refuses it too.
            raise DataError(f"{single.node.name} normalises each feature over the batch, which needs more than "
                            "one example: train with batches of 2 or more")


def compile_training(graph: ShapedGraph, weights, seed: int = 0, threads: int = 1,
                     loss: str = "cross-entropy", bounds_check: bool = False) -> Trainer:
    """The training step of `graph` starting from `weights` (PyTorch's layouts), for
    `loss` ("cross-entropy" or "mse"), splitting batches among `threads` threads;
    `seed` seeds the dropout masks; `bounds_check` builds the bounds-checked step."""
    return Trainer(graph, weights, seed, threads, loss, bounds_check)
