"""The LLVM backend's backward loop nests: how each layer kind passes the gradient of
the loss back to its operands and weights, keyed by kind (one table for one concern).

A rule *adds* to the gradients of its operands and weights, because a tensor read by
several layers, and a weight used by every example of the batch, gathers the sum of
their contributions. A rule sees one example at a time, or all of its examples when it
is `batched` (products over the batch, elementwise loops for which a batch is one
long vector, and batchnorm, whose statistics couple the examples: it sees the whole
batch, and a thread takes a share of its channels). An operand's gradient is None when nothing
needs it (the network's input): the rule then skips that work. Convolutions and
dense layers are matrix products (`products`); the rest are plain loops.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

from .batch_statistics import (batch_statistics, channel_share, channel_sums, each_value, inverse_deviation,
                               values_per_channel)
from .builder import F32, Buffer, KernelBuilder, constant, index
from .kernels.pool import each_adaptive_window
from .products import Matrix, multiply_add


@dataclass(frozen=True)
class GradientCode:
    """A layer in the backward pass: its operands and output from the forward pass, the
    gradient of its output, the gradients of its operands to add to (None: not needed),
    its weights and their gradients (PyTorch's layouts, keyed by suffix: "weight",
    "bias"), scratch memory of the rule's `scratch_floats`, the number of examples
    (`count`, an IR value) and the host's float vector width. The buffers hold one
    example, or all `count` for a batched rule. A rule that runs on the whole batch
    (batchnorm) takes share `part` of `parts` (IR values) of its channels."""

    k: KernelBuilder
    layer: object
    sources: tuple[Buffer, ...]
    output: Buffer
    output_gradient: Buffer
    source_gradients: tuple[Buffer | None, ...]
    weights: dict[str, Buffer]
    weight_gradients: dict[str, Buffer]
    scratch: Buffer
    count: object
    vector_width: int
    part: object
    parts: object

    @property
    def attrs(self):
        return self.layer.attrs


def _no_scratch(layer) -> int:
    return 0


@dataclass(frozen=True)
class Gradient:
    """How a kind's backward pass is lowered: `lower(GradientCode)`, per example or for
    all examples at once (`batched`), with `scratch_floats(layer)` of scratch memory."""

    lower: Callable[[GradientCode], None]
    batched: bool = False
    scratch_floats: Callable[[object], int] = _no_scratch


def _accumulate(k: KernelBuilder, buffer: Buffer, position, value) -> None:
    k.store(k.fadd(k.load(buffer, position), value), buffer, position)


def _map_gradient(c: GradientCode, local) -> None:
    """dsource[i] += doutput[i] * local(k, source[i], output[i]), for elementwise layers
    (whole batch: one loop LLVM vectorises)."""
    k = c.k
    with k.loop("i", 0, c.output.extent) as i:
        slope = local(k, k.load(c.sources[0], i), k.load(c.output, i))
        _accumulate(k, c.source_gradients[0], i, k.fmul(k.load(c.output_gradient, i), slope))


def _dropout(c: GradientCode) -> None:
    """y = x * mask, so dx += dy * mask (the mask is the second source)."""
    k = c.k
    with k.loop("i", 0, c.output.extent) as i:
        slope = k.fmul(k.load(c.output_gradient, i), k.load(c.sources[1], i))
        _accumulate(k, c.source_gradients[0], i, slope)


def _add(c: GradientCode) -> None:
    """Every operand of a sum gets the whole gradient."""
    k = c.k
    with k.loop("i", 0, c.output.extent) as i:
        slope = k.load(c.output_gradient, i)
        for gradient in filter(None, c.source_gradients):
            _accumulate(k, gradient, i, slope)


def _concat(c: GradientCode) -> None:
    """Operand j gets its slice of the gradient: operands lie end to end in each example
    (channels first, so a channel concatenation is contiguous too)."""
    k, start = c.k, 0
    for shape, gradient in zip(c.layer.input_shapes, c.source_gradients):
        if gradient is not None:
            with k.loop("i", 0, prod(shape)) as i:
                _accumulate(k, gradient, i, k.load(c.output_gradient, k.add(i, start)))
        start += prod(shape)


def _softmax(c: GradientCode) -> None:
    """dx_i = y_i (dy_i - sum_j dy_j y_j), the softmax's Jacobian applied to dy."""
    k = c.k
    count = prod(c.layer.output_shape)
    inner = k.variable("inner", 0.0)
    with k.loop("dot", 0, count) as j:
        k.b.store(k.fadd(k.b.load(inner), k.fmul(k.load(c.output_gradient, j), k.load(c.output, j))), inner)
    inner = k.b.load(inner)
    with k.loop("i", 0, count) as i:
        difference = k.fsub(k.load(c.output_gradient, i), inner)
        _accumulate(k, c.source_gradients[0], i, k.fmul(k.load(c.output, i), difference))


def _adaptiveavgpool(c: GradientCode) -> None:
    """Every input of an output's windows (as in the forward kernel) gets dy / their area."""
    k = c.k

    def spread(output, inputs, area):
        share = k.fdiv(k.load(c.output_gradient, output), area)
        for position in inputs:
            _accumulate(k, c.source_gradients[0], position, share)

    each_adaptive_window(k, c.layer, spread)


def _globalavgpool(c: GradientCode) -> None:
    """Every element of a channel gets dy[ch] / (H W)."""
    k = c.k
    channels, n_h, n_w = c.layer.input_shape
    plane = n_h * n_w
    with k.loop("c", 0, channels) as ch:
        share = k.fdiv(k.load(c.output_gradient, ch), float(plane))
        with k.loop("i", 0, plane) as i:
            _accumulate(k, c.source_gradients[0], k.add(k.mul(ch, plane), i), share)


def _relu(k, x, y):
    # 0 at x = 0, as PyTorch's threshold_backward
    return k.b.select(k.b.fcmp_ordered(">", x, constant(F32, 0.0)), constant(F32, 1.0), constant(F32, 0.0))


def _sigmoid(k, x, y):
    return k.fmul(y, k.fsub(1.0, y))  # sigmoid' = y (1 - y)


def _tanh(k, x, y):
    return k.fsub(1.0, k.fmul(y, y))  # tanh' = 1 - y^2


def _identity(k, x, y):
    return constant(F32, 1.0)


def _dense(c: GradientCode) -> None:
    """Over the batch, y = x W^T + b: dW += dy^T x, dx += dy W, db += column sums of dy."""
    k, width = c.k, c.vector_width
    outputs, inputs = c.attrs.out_features, prod(c.layer.input_shape)
    x, dy, count = c.sources[0], c.output_gradient, c.count
    if "bias" in c.weights:
        with k.loop("n", 0, count) as n:
            row = k.mul(n, outputs)
            with k.loop("o", 0, outputs) as o:
                _accumulate(k, c.weight_gradients["bias"], o, k.load(dy, k.add(row, o)))
    multiply_add(k, width, Matrix(c.weight_gradients["weight"], inputs), Matrix(dy, 1, outputs), Matrix(x, inputs),
                 outputs, count, inputs)
    if c.source_gradients[0] is not None:
        multiply_add(k, width, Matrix(c.source_gradients[0], inputs), Matrix(dy, outputs),
                     Matrix(c.weights["weight"], inputs), count, outputs, inputs)


def _inside(k: KernelBuilder, ih, iw, height: int, width: int):
    """Whether input position (ih, iw) lies on the input rather than on its padding."""
    def within(i, size):
        return k.b.and_(k.b.icmp_signed(">=", i, index(0)), k.b.icmp_signed("<", i, index(size)))

    return k.b.and_(within(ih, height), within(iw, width))


def _each_tap(c: GradientCode, oh, ow, visit) -> None:
    """visit(kh, kw, ih, iw) for every tap of output (oh, ow)'s window that falls on the
    input: taps on the padding read zeros (or nothing), so they pass no gradient back."""
    k, a = c.k, c.attrs
    _, n_h, n_w = c.layer.input_shape
    (k_h, k_w), (s_h, s_w) = a.kernel, a.step
    with k.loop("kh", 0, k_h) as kh:
        ih = k.b.sub(k.add(k.mul(oh, s_h), kh), index(a.padding.top))
        with k.loop("kw", 0, k_w) as kw:
            iw = k.b.sub(k.add(k.mul(ow, s_w), kw), index(a.padding.left))
            with k.b.if_then(_inside(k, ih, iw, n_h, n_w)):
                visit(kh, kw, ih, iw)


def _avgpool(c: GradientCode) -> None:
    """Each input of a window gets dy / (k_h k_w): padded zeros count in the divisor,
    as in the forward kernel (PyTorch's count_include_pad=True)."""
    k = c.k
    channels, n_h, n_w = c.layer.input_shape
    _, o_h, o_w = c.layer.output_shape
    area = float(prod(c.attrs.kernel))
    with k.loop("c", 0, channels) as ch:
        with k.loop("oh", 0, o_h) as oh:
            with k.loop("ow", 0, o_w) as ow:
                share = k.fdiv(k.load(c.output_gradient, k.offset((ch, oh, ow), (o_h * o_w, o_w, 1))), area)

                def visit(kh, kw, ih, iw):
                    _accumulate(k, c.source_gradients[0], k.offset((ch, ih, iw), (n_h * n_w, n_w, 1)), share)

                _each_tap(c, oh, ow, visit)


def _maxpool(c: GradientCode) -> None:
    """The gradient goes to the window's maximum, found as PyTorch finds it: the first
    input in row-major order that is greater than all before it or NaN (so ties go to
    the first, and a window of -inf to its first input); padding is never chosen."""
    k = c.k
    channels, n_h, n_w = c.layer.input_shape
    _, o_h, o_w = c.layer.output_shape
    with k.loop("c", 0, channels) as ch:
        with k.loop("oh", 0, o_h) as oh:
            with k.loop("ow", 0, o_w) as ow:
                largest, chosen = k.variable("max", float("-inf")), k.variable("argmax", index(-1))

                def visit(kh, kw, ih, iw):
                    position = k.offset((ch, ih, iw), (n_h * n_w, n_w, 1))
                    x = k.load(c.sources[0], position)
                    better = k.b.or_(k.b.or_(k.b.icmp_signed("<", k.b.load(chosen), index(0)),
                                             k.b.fcmp_ordered(">", x, k.b.load(largest))),
                                     k.b.fcmp_unordered("uno", x, x))
                    with k.b.if_then(better):
                        k.b.store(x, largest)
                        k.b.store(position, chosen)

                _each_tap(c, oh, ow, visit)
                slope = k.load(c.output_gradient, k.offset((ch, oh, ow), (o_h * o_w, o_w, 1)))
                _accumulate(k, c.source_gradients[0], k.b.load(chosen), slope)


@dataclass(frozen=True)
class _ConvGeometry:
    """A convolution as a matrix product over its input padded once: the patches matrix
    P[position, tap] holds, for output position (oh, ow) and tap (ic, kh, kw), input
    (ic, oh*s_h + kh, ow*s_w + kw) of the padded input."""

    channels: int
    height: int  # the padded input's
    width: int
    taps: int
    positions: int
    padded: bool  # whether the padded input differs from the input

    @staticmethod
    def of(layer) -> "_ConvGeometry":
        a = layer.attrs
        c_i, n_h, n_w = layer.input_shape
        _, o_h, o_w = layer.output_shape
        padded = (a.padding.top, a.padding.bottom, a.padding.left, a.padding.right) != (0, 0, 0, 0)
        return _ConvGeometry(c_i, n_h + a.padding.rows, n_w + a.padding.columns,
                             c_i * prod(a.kernel), o_h * o_w, padded)

    @property
    def padded_floats(self) -> int:
        return self.channels * self.height * self.width if self.padded else 0


# Several examples' patches are built at once when the weight gradient is larger than
# one example's patches (deep layers: many channels, few positions), so that one
# product reads and writes dW once for all of them; at most this many floats (4 MiB).
# Otherwise one example's patches, which stay in cache, are best.
PATCH_FLOATS = 1 << 20


def _examples_at_once(layer) -> int:
    g = _ConvGeometry.of(layer)
    weight_floats = layer.output_shape[0] * g.taps
    return max(1, min(weight_floats // (g.taps * g.positions), PATCH_FLOATS // (g.taps * g.positions)))


def _conv_scratch(layer) -> int:
    """Patches for the examples taken at once, a padded input and its gradient."""
    g = _ConvGeometry.of(layer)
    return _examples_at_once(layer) * g.taps * g.positions + 2 * g.padded_floats


def _each_input_element(c: GradientCode, visit) -> None:
    """visit(position in one example, position in its padded copy) for every input element."""
    k, a = c.k, c.attrs
    c_i, n_h, n_w = c.layer.input_shape
    g = _ConvGeometry.of(c.layer)
    with k.loop("ic", 0, c_i) as ic:
        with k.loop("ih", 0, n_h) as ih:
            row = k.offset((ic, k.add(ih, a.padding.top)), (g.height * g.width, g.width))
            with k.loop("iw", 0, n_w) as iw:
                visit(k.offset((ic, ih, iw), (n_h * n_w, n_w, 1)), k.add(row, iw, a.padding.left))


def _pad(c: GradientCode, source: Buffer, padded: Buffer) -> None:
    """Copy one example into the middle of a zeroed buffer of its padded size."""
    c.k.fill("zero", padded, _ConvGeometry.of(c.layer).padded_floats, 0.0)
    _each_input_element(c, lambda position, inside: c.k.store(c.k.load(source, position), padded, inside))


def _each_patch_element(c: GradientCode, visit) -> None:
    """visit(patch position, padded input position) for every element of P, in P's order."""
    k, a = c.k, c.attrs
    g = _ConvGeometry.of(c.layer)
    (k_h, k_w), (s_h, s_w) = a.kernel, a.step
    _, o_h, o_w = c.layer.output_shape
    with k.loop("oh", 0, o_h) as oh:
        with k.loop("ow", 0, o_w) as ow:
            patch = k.mul(k.add(k.mul(oh, o_w), ow), g.taps)
            with k.loop("ic", 0, g.channels) as ic:
                with k.loop("kh", 0, k_h) as kh:
                    row = k.offset((ic, k.add(k.mul(oh, s_h), kh)), (g.height * g.width, g.width))
                    start = k.add(row, k.mul(ow, s_w))
                    tap = k.add(patch, k.offset((ic, kh), (k_h * k_w, k_w)))
                    with k.loop("kw", 0, k_w) as kw:
                        visit(k.add(tap, kw), k.add(start, kw))


def _conv(c: GradientCode) -> None:
    """y[oc, position] = b[oc] + sum over taps of W[oc, tap] P[position, tap] over the
    patches P of the padded input: db += sums of dy, dW += dy P (over several examples
    at once), and dx gets dP = dy^T W scattered back to where each patch element came from."""
    k, width = c.k, c.vector_width
    g = _ConvGeometry.of(c.layer)
    c_o = c.layer.output_shape[0]
    inputs, outputs, patch_floats = prod(c.layer.input_shape), prod(c.layer.output_shape), g.taps * g.positions
    x, dy, dx = c.sources[0], c.output_gradient, c.source_gradients[0]
    at_once = _examples_at_once(c.layer)
    # The scratch holds the patches of the examples taken at once, a padded input and its gradient.
    patches = k.view(c.scratch, 0, at_once * patch_floats)
    padded = k.view(c.scratch, at_once * patch_floats, g.padded_floats)
    padded_dx = k.view(c.scratch, at_once * patch_floats + g.padded_floats, g.padded_floats)
    if "bias" in c.weights:
        with k.loop("n", 0, c.count) as n:
            with k.loop("oc", 0, c_o) as oc:
                row = k.add(k.mul(n, outputs), k.mul(oc, g.positions))
                with k.loop("p", 0, g.positions) as p:
                    _accumulate(k, c.weight_gradients["bias"], oc, k.load(dy, k.add(row, p)))

    def example(buffer, n, size):
        return k.view(buffer, k.mul(n, size), size)

    with k.loop("first", 0, c.count, at_once) as first:
        examples = k.smin(at_once, k.b.sub(c.count, first))
        with k.loop("n", 0, examples) as n:
            source = example(x, k.add(first, n), inputs)
            if g.padded:
                _pad(c, source, padded)
            read = padded if g.padded else source
            own = example(patches, n, patch_floats)
            _each_patch_element(c, lambda patch, position: k.store(k.load(read, position), own, patch))
        multiply_add(k, width, Matrix(c.weight_gradients["weight"], g.taps),
                     Matrix(k.view(dy, k.mul(first, outputs), k.mul(examples, outputs)), g.positions, group=outputs),
                     Matrix(patches, g.taps, group=patch_floats), c_o, g.positions, g.taps, groups=examples)
        if dx is not None:
            with k.loop("n", 0, examples) as n:
                _conv_input_gradient(c, example(patches, n, patch_floats), example(dy, k.add(first, n), outputs),
                                     example(dx, k.add(first, n), inputs), padded_dx)


def _conv_input_gradient(c: GradientCode, patches: Buffer, dy: Buffer, dx: Buffer, padded_dx: Buffer) -> None:
    """One example: dP = dy^T W overwrites its patches, whose elements are then added to
    the input positions they came from (through the padded gradient when padded)."""
    k = c.k
    g = _ConvGeometry.of(c.layer)
    multiply_add(k, c.vector_width, Matrix(patches, g.taps), Matrix(dy, 1, g.positions),
                 Matrix(c.weights["weight"], g.taps), g.positions, c.layer.output_shape[0], g.taps, accumulate=False)
    gathered = padded_dx if g.padded else dx
    if g.padded:
        k.fill("zero.dx", padded_dx, g.padded_floats, 0.0)
    _each_patch_element(c, lambda patch, position: _accumulate(k, gathered, position, k.load(patches, patch)))
    if g.padded:  # the middle of the padded gradient is the example's
        _each_input_element(c, lambda position, inside: _accumulate(k, dx, position, k.load(padded_dx, inside)))


def _batchnorm(c: GradientCode) -> None:
    """Through the batch statistics, as PyTorch's batch_norm backward: with m values per
    channel and xhat = (x - mean) / sqrt(var + eps), dbias += sum dy, dweight += sum dy xhat,
    dx += weight / sqrt(var + eps) * (dy - sum dy / m - xhat * sum(dy xhat) / m)."""
    k, x, dy = c.k, c.sources[0], c.output_gradient
    values = values_per_channel(k, c.layer, c.count)
    with k.loop("c", *channel_share(k, c.layer, c.part, c.parts)) as channel:
        mean, variance = batch_statistics(k, c.layer, x, c.count, channel)
        inverse = inverse_deviation(k, c.layer, variance)

        def normalised(position):
            return k.fmul(k.fsub(k.load(x, position), mean), inverse)

        total, projection = channel_sums(k, c.layer, c.count, channel, lambda p: k.load(dy, p),
                                         lambda p: k.fmul(k.load(dy, p), normalised(p)))
        _accumulate(k, c.weight_gradients["bias"], channel, total)
        _accumulate(k, c.weight_gradients["weight"], channel, projection)
        scale = k.fmul(k.load(c.weights["weight"], channel), inverse)
        mean_slope, mean_projection = k.fdiv(total, values), k.fdiv(projection, values)

        def spread(position):
            centred = k.fsub(k.fsub(k.load(dy, position), mean_slope), k.fmul(normalised(position), mean_projection))
            _accumulate(k, c.source_gradients[0], position, k.fmul(scale, centred))

        if c.source_gradients[0] is not None:
            each_value(k, c.layer, c.count, channel, spread)


GRADIENTS = {
    "conv": Gradient(_conv, batched=True, scratch_floats=_conv_scratch),
    "dense": Gradient(_dense, batched=True),
    "avgpool": Gradient(_avgpool),
    "relu": Gradient(lambda c: _map_gradient(c, _relu), batched=True),
    "sigmoid": Gradient(lambda c: _map_gradient(c, _sigmoid), batched=True),
    "tanh": Gradient(lambda c: _map_gradient(c, _tanh), batched=True),
    "flatten": Gradient(lambda c: _map_gradient(c, _identity), batched=True),
    "maxpool": Gradient(_maxpool),
    "globalavgpool": Gradient(_globalavgpool),
    "adaptiveavgpool": Gradient(_adaptiveavgpool),
    "softmax": Gradient(_softmax),
    "add": Gradient(_add, batched=True),
    "dropout": Gradient(_dropout, batched=True),
    "concat": Gradient(_concat),
    "batchnorm": Gradient(_batchnorm, batched=True),
}
