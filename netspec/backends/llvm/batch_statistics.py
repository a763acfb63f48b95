"""Batch normalisation in training mode: the statistics of a channel over the whole
batch, the forward pass that normalises with them and updates the running statistics."""
from __future__ import annotations

from math import prod

from llvmlite import ir

from .builder import F32, F32_PTR, FAST, I64, Buffer, KernelBuilder

DOUBLE = ir.DoubleType()

# PyTorch's BatchNorm default: running = (1 - momentum) * running + momentum * batch statistic.
MOMENTUM = 0.1


def each_value(k: KernelBuilder, layer, count, channel, visit) -> None:
    """visit(position) for every value of `channel` in the batch: every example, every
    position of its plane (a flat vector's feature is a channel of one value)."""
    channels, plane = layer.input_shape[0], prod(layer.input_shape[1:])
    with k.loop("n", 0, count) as n:
        start = k.add(k.mul(n, channels * plane), k.mul(channel, plane))
        with k.loop("i", 0, plane) as i:
            visit(k.add(start, i))


def channel_share(k: KernelBuilder, layer, part, parts) -> tuple[ir.Value, ir.Value]:
    """The first and past-the-last channel of share `part` of `parts`: threads divide a
    batchnorm by channel, since each channel's statistics need every example."""
    channels = layer.input_shape[0]
    return (k.b.sdiv(k.mul(part, channels), parts), k.b.sdiv(k.mul(k.add(part, 1), channels), parts))


def values_per_channel(k: KernelBuilder, layer, count) -> ir.Value:
    return k.b.sitofp(k.mul(count, prod(layer.input_shape[1:])), F32)


def channel_sums(k: KernelBuilder, layer, count, channel, *terms) -> list[ir.Value]:
    """For each of `terms` (position -> float), its sum over the channel's values in the
    batch, one pass for all. Summed in double precision: a channel has batch x height x
    width values, and float32 sums of that many lose digits that batchnorm's division
    by the deviation magnifies."""
    sums = [k.variable(f"sum{i}", ir.Constant(DOUBLE, 0.0)) for i in range(len(terms))]

    def add(position):
        for total, term in zip(sums, terms):
            k.b.store(k.b.fadd(k.b.load(total), k.b.fpext(term(position), DOUBLE), flags=FAST), total)

    each_value(k, layer, count, channel, add)
    return [k.b.fptrunc(k.b.load(total), F32) for total in sums]


def batch_statistics(k: KernelBuilder, layer, source: Buffer, count, channel):
    """The channel's batch mean and biased variance (as PyTorch normalises with), in two
    passes: the mean first, so the variance is not a difference of large sums."""
    values = values_per_channel(k, layer, count)
    total, = channel_sums(k, layer, count, channel, lambda p: k.load(source, p))
    mean = k.fdiv(total, values)

    def square(position):
        deviation = k.fsub(k.load(source, position), mean)
        return k.fmul(deviation, deviation)

    squares, = channel_sums(k, layer, count, channel, square)
    return mean, k.fdiv(squares, values)


def inverse_deviation(k: KernelBuilder, layer, variance) -> ir.Value:
    return k.fdiv(1.0, k.intrinsic("llvm.sqrt", k.fadd(variance, layer.attrs.eps)))


def normalise(module: ir.Module, layer, weights, guarded: bool) -> ir.Function:
    """layer.NAME(source, target, weights, scratch, count, part, parts) over the whole
    batch, for share `part` of `parts` of the channels:
    y = (x - mean) / sqrt(var + eps) * weight + bias with the batch's statistics, and the
    running statistics moved towards them, the variance unbiased (n / (n - 1)) as PyTorch's.
    `weights` lays out the weights in PyTorch's layouts (training.GradientLayout)."""
    name = layer.node.name
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [F32_PTR] * 4 + [I64] * 3), f"layer.{name}")
    function.linkage = "internal"
    source, target, weight_base, _, count, part, parts = function.args
    k = KernelBuilder(function, name, guarded)
    own = weights.own(k, weight_base, name)
    floats = k.mul(count, prod(layer.input_shape))
    source, target = Buffer(source, floats), Buffer(target, floats)
    values = values_per_channel(k, layer, count)
    with k.loop("c", *channel_share(k, layer, part, parts)) as channel:
        mean, variance = batch_statistics(k, layer, source, count, channel)
        scale = k.fmul(inverse_deviation(k, layer, variance), k.load(own["weight"], channel))
        shift = k.load(own["bias"], channel)
        each_value(k, layer, count, channel, lambda p: k.store(
            k.fadd(k.fmul(k.fsub(k.load(source, p), mean), scale), shift), target, p))
        unbiased = k.fdiv(k.fmul(variance, values), k.fsub(values, 1.0))
        for suffix, statistic in (("running_mean", mean), ("running_var", unbiased)):
            running = k.fmul(k.load(own[suffix], channel), 1.0 - MOMENTUM)
            k.store(k.fadd(running, k.fmul(statistic, MOMENTUM)), own[suffix], channel)
    k.b.ret_void()
    return function
