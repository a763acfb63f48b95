"""`batchnorm [eps=1e-5]`: batch normalisation in its inference form,
y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, per channel of a
CxHxW tensor (or per feature of a flat one). After a convolution it is folded
into the convolution's weights at compile time (see codegen/rewrite.py)."""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from ..codegen.kernel import real
from ..ir import Node, Shape
from . import Inference, OpDef, Param, params

STATISTICS = ("running_mean", "running_var")


@dataclass(frozen=True)
class BatchNormAttrs:
    eps: float


def infer(node: Node, input_shape: Shape) -> Inference:
    return Inference(input_shape, node.attrs)


def weight_shapes(a: BatchNormAttrs, input_shape: Shape) -> dict[str, Shape]:
    channels = (input_shape[0],)
    return {"weight": channels, "bias": channels, "running_mean": channels, "running_var": channels}


def lower(c) -> None:
    """Per channel: scale = weight / sqrt(var + eps), shift = bias - mean * scale, then y = x * scale + shift."""
    k, a = c.k, c.attrs
    channels = c.layer.input_shape[0]
    plane = prod(c.layer.input_shape[1:])
    with k.loop("c", 0, channels) as channel:
        deviation = k.intrinsic("llvm.sqrt", k.b.fadd(k.load(c.weights["running_var"], channel), real(a.eps)))
        scale = k.b.fdiv(k.load(c.weights["weight"], channel), deviation)
        shift = k.b.fsub(k.load(c.weights["bias"], channel), k.b.fmul(k.load(c.weights["running_mean"], channel), scale))
        start = k.mul(channel, plane)
        with k.loop("i", 0, plane) as i:
            position = k.add(start, i)
            k.store(k.fadd(k.fmul(k.load(c.source, position), scale), shift), c.target, position)


def fold_into_conv(weight, bias, arrays: dict, eps: float):
    """The conv weight and bias that compute conv followed by this batchnorm (in float64)."""
    with np.errstate(invalid="ignore", divide="ignore"):  # a negative variance gives NaN, as in PyTorch
        scale = arrays["weight"].astype(np.float64) / np.sqrt(arrays["running_var"].astype(np.float64) + eps)
    shift = arrays["bias"].astype(np.float64) - arrays["running_mean"].astype(np.float64) * scale
    folded_weight = weight.astype(np.float64) * scale[:, None, None, None]
    folded_bias = (bias.astype(np.float64) if bias is not None else 0.0) * scale + shift
    return folded_weight.astype(np.float32), folded_bias.astype(np.float32)


OP = OpDef(
    kind="batchnorm",
    usage="batchnorm [eps=1e-5]",
    params=(Param("eps", params.positive_real("eps"), default=1e-5),),
    attrs=BatchNormAttrs,
    infer=infer,
    weight_shapes=weight_shapes,
    buffers=STATISTICS,
    initial_values={"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0},
    lower=lower,
)
