"""Batch normalisation at inference, for a batchnorm the rewrite could not fold into its producer."""
from __future__ import annotations

from math import prod

from ..builder import real
from . import KernelDef
from .common import channels_of_share


def lower(c) -> None:
    """Per channel: scale = weight / sqrt(var + eps), shift = bias - mean * scale, then
    y = act(x * scale + shift), the fused activation (DenseNet's batchnorm -> relu) applied."""
    k, a = c.k, c.attrs
    channels = c.layer.input_shape[0]
    plane = prod(c.layer.input_shape[1:])
    with channels_of_share(c, channels) as channel:
        deviation = k.intrinsic("llvm.sqrt", k.b.fadd(k.load(c.weights["running_var"], channel), real(a.eps)))
        scale = k.b.fdiv(k.load(c.weights["weight"], channel), deviation)
        shift = k.b.fsub(k.load(c.weights["bias"], channel), k.b.fmul(k.load(c.weights["running_mean"], channel), scale))
        start = k.mul(channel, plane)
        with k.loop("i", 0, plane) as i:
            position = k.add(start, i)
            k.store(c.activate(k.fadd(k.fmul(k.load(c.source, position), scale), shift)), c.target, position)


KERNELS = {"batchnorm": KernelDef(lower=lower, fuses_activation=True, divisible=True)}
