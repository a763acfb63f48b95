"""`batchnorm [eps=1e-5]`: batch normalisation in its inference form,
y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, per channel of a
CxHxW tensor (or per feature of a flat one). After a conv or dense layer that
only it reads, a backend may fold it into that layer's weights and bias."""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node, Shape
from . import Inference, OpDef, Param, Trait, params

STATISTICS = ("running_mean", "running_var")


@dataclass(frozen=True)
class BatchNormAttrs:
    eps: float


def infer(node: Node, input_shape: Shape) -> Inference:
    return Inference(input_shape, node.attrs)


def weight_shapes(a: BatchNormAttrs, input_shape: Shape) -> dict[str, Shape]:
    channels = (input_shape[0],)
    return {"weight": channels, "bias": channels, "running_mean": channels, "running_var": channels}


OP = OpDef(
    kind="batchnorm",
    usage="batchnorm [eps=1e-5]",
    params=(Param("eps", params.positive_real("eps"), default=1e-5),),
    attrs=BatchNormAttrs,
    infer=infer,
    weight_shapes=weight_shapes,
    buffers=STATISTICS,
    initial_values={"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0},
    traits=frozenset({Trait.AFFINE_PER_CHANNEL}),
)

OPS = (OP,)
