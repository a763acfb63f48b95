"""`dense OUT [bias=true|false]`: a fully connected layer on a flat vector.

Its weight is out x in (PyTorch's `nn.Linear` layout).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from ..codegen.kernel import constant, index, vector_type
from ..diagnostics import error
from ..ir import Node, Shape, format_shape
from . import OpDef, Param, Inference, params
from .lowering import activate_rows


@dataclass(frozen=True)
class DenseAttrs:
    out_features: int
    bias: bool


def needs_flat(node: Node, input_shape: Shape):
    """`dense`/`softmax` on CxHxW is surely a missing `flatten`."""
    if len(input_shape) == 1:
        return None
    return error(
        f"{node.name}: {node.kind} needs a flat vector, but its input is {format_shape(input_shape)}",
        node.keyword_span,
        help=f"insert `flatten` before `{node.kind}` (it gives {prod(input_shape)} features)",
    )


def infer(node: Node, input_shape: Shape) -> Inference:
    a: DenseAttrs = node.attrs
    # The output shape does not depend on the mistake, so checking goes on past it.
    problem = needs_flat(node, input_shape)
    return Inference((a.out_features,), a, (problem,) if problem else ())


def weight_shapes(a: DenseAttrs, input_shape: Shape) -> dict[str, Shape]:
    shapes = {"weight": (a.out_features, prod(input_shape))}
    if a.bias:
        shapes["bias"] = (a.out_features,)
    return shapes


def macs(a: DenseAttrs, input_shape: Shape, output_shape: Shape) -> int:
    return a.out_features * prod(input_shape)


# Stored weights are padded to a multiple of this many outputs, so every vector
# width up to 16 reads whole vectors without leaving the buffer.
LANES = 16
# A register tile is ROWS examples x up to VECTORS output vectors of accumulators;
# inputs are taken BLOCK at a time (a 512 x 64-float weight panel is 128 KiB).
ROWS, VECTORS = 4, 4
BLOCK = 512


def _padded_outputs(a: DenseAttrs) -> int:
    return -(-a.out_features // LANES) * LANES


def stored_shape(a: DenseAttrs, input_shape: Shape, suffix: str, shape: Shape) -> Shape:
    """Weights transposed to in x outputs (padded) so a vector of outputs is contiguous."""
    return (prod(input_shape), _padded_outputs(a)) if suffix == "weight" else (_padded_outputs(a),)


def store_weight(a: DenseAttrs, input_shape: Shape, suffix: str, array: np.ndarray) -> np.ndarray:
    stored = np.zeros(stored_shape(a, input_shape, suffix, array.shape), np.float32)
    if suffix == "weight":
        stored[:, :a.out_features] = array.T
    else:
        stored[:a.out_features] = array
    return stored


def _register_tile(c, block, first_row, rows: int, first_vector, vectors: int, last_lanes: int) -> None:
    """out[n, o] (+)= sum over i in the block of x[n, i] * w[i, o] for `rows` examples from
    `first_row` and `vectors` output vectors from `first_vector`, starting from the bias
    in the first block and from the partial sums in `out` after it; the accumulators stay
    in registers across the loop over the block's inputs."""
    k, a, width = c.k, c.attrs, c.vector_width
    inputs, outputs, padded = prod(c.layer.input_shape), a.out_features, _padded_outputs(a)
    start, stop = block
    first_output = k.mul(first_vector, width)
    first_block = k.b.icmp_signed("==", start, index(0))
    accumulators = []
    for r in range(rows):
        out_row = k.add(k.mul(k.add(first_row, r), outputs), first_output)
        row = []
        for v in range(vectors):
            lanes = last_lanes if v == vectors - 1 else None
            bias = (k.vload(c.weights["bias"], k.add(first_output, v * width), width) if a.bias
                    else constant(vector_type(width), 0.0))
            partial = k.vload(c.target, k.add(out_row, v * width), width, lanes)
            row.append(k.variable(f"acc{r}.{v}", k.b.select(first_block, bias, partial)))
        accumulators.append(row)
    with k.loop("i", start, stop) as i:
        weight_row = k.add(k.mul(i, padded), first_output)
        weights = [k.vload(c.weights["weight"], k.add(weight_row, v * width), width) for v in range(vectors)]
        for r in range(rows):
            x = k.splat(k.load(c.source, k.add(k.mul(k.add(first_row, r), inputs), i)), width)
            for v in range(vectors):
                slot = accumulators[r][v]
                k.b.store(k.intrinsic("llvm.fma", x, weights[v], k.b.load(slot)), slot)
    for r in range(rows):
        out_row = k.add(k.mul(k.add(first_row, r), outputs), first_output)
        for v in range(vectors):
            k.vstore(k.b.load(accumulators[r][v]), c.target, k.add(out_row, v * width),
                     last_lanes if v == vectors - 1 else None)


def _examples(c, block, first_vector, vectors: int, last_lanes: int) -> None:
    """One panel of output vectors for every example of the tile, ROWS examples at a
    time: the panel's weights stay in cache while all the examples use them."""
    k = c.k
    grouped = k.mul(k.b.sdiv(c.count, index(ROWS)), ROWS)
    with k.loop("n", 0, grouped, step=ROWS) as first_row:
        _register_tile(c, block, first_row, ROWS, first_vector, vectors, last_lanes)
    with k.loop("n1", grouped, c.count) as row:
        _register_tile(c, block, row, 1, first_vector, vectors, last_lanes)


def lower(c) -> None:
    """Blocks of BLOCK inputs, so a panel of weights (BLOCK x VECTORS vectors) stays in
    L2 while every example of the tile uses it; within a block, output panels of
    VECTORS vectors in a loop, then the rest (which holds the last, possibly partial,
    vector, stored masked). Each weight vector loaded is used ROWS times."""
    k, width, outputs = c.k, c.vector_width, c.attrs.out_features
    inputs = prod(c.layer.input_shape)
    complete = outputs // width
    looped = complete - complete % VECTORS
    rest = -(-outputs // width) - looped
    with k.loop("block", 0, inputs, step=BLOCK) as start:
        block = (start, k.smin(k.add(start, BLOCK), inputs))
        if looped:
            with k.loop("o", 0, looped, step=VECTORS) as first_vector:
                _examples(c, block, first_vector, VECTORS, width)
        if rest:
            _examples(c, block, index(looped), rest, outputs - (looped + rest - 1) * width)
    activate_rows(c, c.count, outputs)


OP = OpDef(
    kind="dense",
    usage="dense OUT [bias=true|false]",
    params=(
        Param("out_features", params.count("output features"), positional=True),
        Param("bias", params.boolean, default=True),
    ),
    attrs=DenseAttrs,
    infer=infer,
    weight_shapes=weight_shapes,
    macs=macs,
    lower=lower,
    batched=True,
    store_weight=store_weight,
    stored_shape=stored_shape,
)
