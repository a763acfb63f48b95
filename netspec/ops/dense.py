"""`dense OUT [bias=true|false]`: a fully connected layer on a flat vector.

Its weight is out x in (PyTorch's `nn.Linear` layout).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..diagnostics import Fix, error
from ..frontend.source import Span
from ..ir import Node, Shape, format_shape
from ..symbolic import Requirement, is_symbolic
from . import Inference, OpDef, Param, Trait, params


@dataclass(frozen=True)
class DenseAttrs:
    out_features: int
    bias: bool
    # The input features the spec states (`in_features=400`, as nn.Linear states them):
    # checked against the input, and what fixes the input size when its sizes are names.
    in_features: int | None = None


def needs_flat(node: Node, input_shape: Shape):
    """`dense`/`softmax` on CxHxW is surely a missing `flatten`."""
    if len(input_shape) == 1:
        return None
    insert = f"insert `flatten` before `{node.kind}` (it gives {prod(input_shape)} features)"
    return error(
        "E0303",
        f"{node.name}: {node.kind} needs a flat vector, but its input is {format_shape(input_shape)}",
        node.keyword_span,
        help=insert,
        fixes=_flatten_before(node, insert),
    )


def _flatten_before(node: Node, note: str) -> tuple[Fix, ...]:
    """A `flatten` line above the layer's, indented as it is. None when the layer names
    its input: a line above it would flatten the previous tensor, not that one."""
    if node.written("operand0"):
        return ()
    start = node.span
    indent = Span(start.source, start.line, 1, start.column).text
    return (Fix(Span(start.source, start.line, 1, 1), f"{indent}flatten\n", note),)


def infer(node: Node, input_shape: Shape) -> Inference:
    a: DenseAttrs = node.attrs
    # The output shape does not depend on the mistake, so checking goes on past it.
    problems = tuple(p for p in (needs_flat(node, input_shape), _stated_features(node, input_shape)) if p)
    features = prod(input_shape)
    requirements = ((Requirement(features, "==", a.in_features, f"{node.name} needs {a.in_features} features"),)
                    if a.in_features is not None and is_symbolic(features) else ())
    return Inference((a.out_features,), a, problems, requirements)


def _stated_features(node: Node, input_shape: Shape):
    features, stated = prod(input_shape), node.attrs.in_features
    if stated is None or is_symbolic(features) or features == stated:
        return None
    note = f"use in_features={features}, what the input gives"
    return error("E0307", f"{node.name}: in_features={stated}, but its input {format_shape(input_shape)} "
                          f"has {features} features", node.span_of("in_features"), help=note,
                 fixes=(Fix(node.span_of("in_features"), str(features), note),))


def weight_shapes(a: DenseAttrs, input_shape: Shape) -> dict[str, Shape]:
    shapes = {"weight": (a.out_features, a.in_features or prod(input_shape))}
    if a.bias:
        shapes["bias"] = (a.out_features,)
    return shapes


def macs(a: DenseAttrs, input_shape: Shape, output_shape: Shape) -> int:
    return a.out_features * prod(input_shape)


OP = OpDef(
    kind="dense",
    usage="dense OUT [bias=true|false] [in_features=N]",
    params=(
        Param("out_features", params.count("output features"), positional=True),
        Param("bias", params.boolean, default=True),
        Param("in_features", params.count("input features"), default=None),
    ),
    attrs=DenseAttrs,
    infer=infer,
    weight_shapes=weight_shapes,
    macs=macs,
    traits=frozenset({Trait.LINEAR_PER_CHANNEL}),
)

OPS = (OP,)
