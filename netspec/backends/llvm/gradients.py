"""The LLVM backend's backward loop nests: how each layer kind passes the gradient of
the loss back to its operands and weights, keyed by kind (one table for one concern).

Each lowering sees one example (`GradientCode`); it *adds* to the gradients of its
operands and weights, because a tensor read by several layers, and a weight used by
every example of the batch, gathers the sum of their contributions. A `WholeBatch` rule
(batchnorm, whose statistics couple the examples) sees the whole batch instead. These
loop nests are plain and correct rather than fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

from .batch_statistics import batch_statistics, each_value, inverse_deviation, values_per_channel
from .builder import F32, Buffer, KernelBuilder, constant, index
from .kernels.pool import each_adaptive_window


@dataclass(frozen=True)
class GradientCode:
    """One example of a layer: its operands and output from the forward pass, the
    gradient of its output, the gradients of its operands to add to, and its weights
    and their gradients (PyTorch's layouts, keyed by suffix: "weight", "bias")."""

    k: KernelBuilder
    layer: object
    sources: tuple[Buffer, ...]
    output: Buffer
    output_gradient: Buffer
    source_gradients: tuple[Buffer, ...]
    weights: dict[str, Buffer]
    weight_gradients: dict[str, Buffer]
    count: object = None  # the number of examples, for a WholeBatch rule

    @property
    def attrs(self):
        return self.layer.attrs


@dataclass(frozen=True)
class WholeBatch:
    """A rule whose GradientCode holds the whole batch: every buffer spans `count` examples."""

    lower: Callable[[GradientCode], None]


def _accumulate(k: KernelBuilder, buffer: Buffer, position, value) -> None:
    k.store(k.fadd(k.load(buffer, position), value), buffer, position)


def _map_gradient(c: GradientCode, local) -> None:
    """dsource[i] += doutput[i] * local(k, source[i], output[i]), for elementwise layers."""
    k = c.k
    with k.loop("i", 0, prod(c.layer.output_shape)) as i:
        slope = local(k, k.load(c.sources[0], i), k.load(c.output, i))
        _accumulate(k, c.source_gradients[0], i, k.fmul(k.load(c.output_gradient, i), slope))


def _dropout(c: GradientCode) -> None:
    """y = x * mask, so dx += dy * mask (the mask is the second source)."""
    k = c.k
    with k.loop("i", 0, prod(c.layer.output_shape)) as i:
        slope = k.fmul(k.load(c.output_gradient, i), k.load(c.sources[1], i))
        _accumulate(k, c.source_gradients[0], i, slope)


def _add(c: GradientCode) -> None:
    """Every operand of a sum gets the whole gradient."""
    k = c.k
    with k.loop("i", 0, prod(c.layer.output_shape)) as i:
        slope = k.load(c.output_gradient, i)
        for gradient in c.source_gradients:
            _accumulate(k, gradient, i, slope)


def _concat(c: GradientCode) -> None:
    """Operand j gets its slice of the gradient: operands lie end to end in each example
    (channels first, so a channel concatenation is contiguous too)."""
    k, start = c.k, 0
    for shape, gradient in zip(c.layer.input_shapes, c.source_gradients):
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
    """y = W x + b: dx += W^T dy, dW += dy x^T, db += dy."""
    k = c.k
    outputs, inputs = c.attrs.out_features, prod(c.layer.input_shape)
    weight, weight_gradient = c.weights["weight"], c.weight_gradients["weight"]
    with k.loop("o", 0, outputs) as o:
        slope = k.load(c.output_gradient, o)
        if "bias" in c.weights:
            _accumulate(k, c.weight_gradients["bias"], o, slope)
        row = k.mul(o, inputs)
        with k.loop("i", 0, inputs) as i:
            position = k.add(row, i)
            _accumulate(k, weight_gradient, position, k.fmul(slope, k.load(c.sources[0], i)))
            _accumulate(k, c.source_gradients[0], i, k.fmul(slope, k.load(weight, position)))


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


def _conv(c: GradientCode) -> None:
    """y[oc] = b[oc] + sum over ic and taps of w[oc, ic, kh, kw] x[ic, ih, iw]:
    dw += dy x, dx += dy w, db += dy."""
    k = c.k
    c_i, n_h, n_w = c.layer.input_shape
    c_o, o_h, o_w = c.layer.output_shape
    k_h, k_w = c.attrs.kernel
    weight, weight_gradient = c.weights["weight"], c.weight_gradients["weight"]
    with k.loop("oc", 0, c_o) as oc:
        with k.loop("oh", 0, o_h) as oh:
            with k.loop("ow", 0, o_w) as ow:
                slope = k.load(c.output_gradient, k.offset((oc, oh, ow), (o_h * o_w, o_w, 1)))
                if "bias" in c.weights:
                    _accumulate(k, c.weight_gradients["bias"], oc, slope)
                with k.loop("ic", 0, c_i) as ic:
                    def visit(kh, kw, ih, iw):
                        position = k.offset((ic, ih, iw), (n_h * n_w, n_w, 1))
                        tap = k.offset((oc, ic, kh, kw), (c_i * k_h * k_w, k_h * k_w, k_w, 1))
                        _accumulate(k, weight_gradient, tap, k.fmul(slope, k.load(c.sources[0], position)))
                        _accumulate(k, c.source_gradients[0], position, k.fmul(slope, k.load(weight, tap)))

                    _each_tap(c, oh, ow, visit)


def _batchnorm(c: GradientCode) -> None:
    """Through the batch statistics, as PyTorch's batch_norm backward: with m values per
    channel and xhat = (x - mean) / sqrt(var + eps), dbias += sum dy, dweight += sum dy xhat,
    dx += weight / sqrt(var + eps) * (dy - sum dy / m - xhat * sum(dy xhat) / m)."""
    k, x, dy = c.k, c.sources[0], c.output_gradient
    values = values_per_channel(k, c.layer, c.count)
    with k.loop("c", 0, c.layer.input_shape[0]) as channel:
        mean, variance = batch_statistics(k, c.layer, x, c.count, channel)
        inverse = inverse_deviation(k, c.layer, variance)
        total, projection = k.variable("dy.sum", 0.0), k.variable("dy.xhat", 0.0)

        def normalised(position):
            return k.fmul(k.fsub(k.load(x, position), mean), inverse)

        def gather(position):
            k.b.store(k.fadd(k.b.load(total), k.load(dy, position)), total)
            k.b.store(k.fadd(k.b.load(projection), k.fmul(k.load(dy, position), normalised(position))), projection)

        each_value(k, c.layer, c.count, channel, gather)
        total, projection = k.b.load(total), k.b.load(projection)
        _accumulate(k, c.weight_gradients["bias"], channel, total)
        _accumulate(k, c.weight_gradients["weight"], channel, projection)
        scale = k.fmul(k.load(c.weights["weight"], channel), inverse)
        mean_slope, mean_projection = k.fdiv(total, values), k.fdiv(projection, values)

        def spread(position):
            centred = k.fsub(k.fsub(k.load(dy, position), mean_slope), k.fmul(normalised(position), mean_projection))
            _accumulate(k, c.source_gradients[0], position, k.fmul(scale, centred))

        each_value(k, c.layer, c.count, channel, spread)


GRADIENTS = {
    "conv": _conv,
    "dense": _dense,
    "avgpool": _avgpool,
    "relu": lambda c: _map_gradient(c, _relu),
    "sigmoid": lambda c: _map_gradient(c, _sigmoid),
    "tanh": lambda c: _map_gradient(c, _tanh),
    "flatten": lambda c: _map_gradient(c, _identity),
    "maxpool": _maxpool,
    "globalavgpool": _globalavgpool,
    "adaptiveavgpool": _adaptiveavgpool,
    "softmax": _softmax,
    "add": _add,
    "dropout": _dropout,
    "concat": _concat,
    "batchnorm": WholeBatch(_batchnorm),
}
