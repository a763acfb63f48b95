"""Dense layers as register-tiled loop nests over examples x outputs, with transposed weights."""
from __future__ import annotations

from math import prod

import numpy as np

from ....ir import Shape
from ....ops.dense import DenseAttrs
from ..builder import constant, index, vector_type
from . import KernelDef, Packing
from .common import share_of


# Stored biases are padded to a multiple of this many outputs, so every vector width up
# to 16 reads whole vectors without leaving the buffer.
LANES = 16
# A register tile is ROWS examples x up to VECTORS output vectors of accumulators;
# inputs are taken BLOCK at a time (a 512 x 64-float weight panel is 128 KiB).
ROWS, VECTORS = 4, 4
BLOCK = 512
# Weights are stored transposed in panels of PANEL outputs (the widest panel a tile
# reads): stored[output // PANEL, input, output % PANEL], so that a panel's weights are
# one contiguous stream. At batch 1 a dense layer only streams its weights: with rows
# of all the outputs, a panel read 256 bytes every 16 KiB (VGG-11's 4096 outputs) and
# reached 19 GB/s; contiguous, the prefetchers keep up.
PANEL = LANES * VECTORS


def _padded_outputs(a: DenseAttrs) -> int:
    return -(-a.out_features // LANES) * LANES


def _panels(a: DenseAttrs) -> int:
    return -(-a.out_features // PANEL)


def stored_shape(a: DenseAttrs, input_shape: Shape, suffix: str, shape: Shape) -> Shape:
    return (_panels(a), prod(input_shape), PANEL) if suffix == "weight" else (_padded_outputs(a),)


def pack(a: DenseAttrs, input_shape: Shape, suffix: str, array: np.ndarray, out: np.ndarray) -> None:
    if suffix != "weight":
        out[:a.out_features] = array
        return
    for panel in range(_panels(a)):
        outputs = array[panel * PANEL:(panel + 1) * PANEL]
        out[panel, :, :len(outputs)] = outputs.T


def unpack(a: DenseAttrs, input_shape: Shape, suffix: str, stored: np.ndarray) -> np.ndarray:
    """The inverse of `pack`: PyTorch's out x in layout without the padding."""
    if suffix != "weight":
        return np.ascontiguousarray(stored[:a.out_features])
    return np.ascontiguousarray(stored.transpose(0, 2, 1).reshape(-1, stored.shape[1])[:a.out_features])


def _register_tile(c, block, first_row, rows: int, first_vector, vectors: int, last_lanes: int) -> None:
    """out[n, o] (+)= sum over i in the block of x[n, i] * w[i, o] for `rows` examples from
    `first_row` and `vectors` output vectors from `first_vector`, starting from the bias
    in the first block and from the partial sums in `out` after it; the accumulators stay
    in registers across the loop over the block's inputs."""
    k, a, width = c.k, c.attrs, c.vector_width
    inputs, outputs = prod(c.layer.input_shape), a.out_features
    start, stop = block
    first_output = k.mul(first_vector, width)
    # (a tile's vectors lie in one stored panel: tiles start at multiples of VECTORS vectors)
    panel = k.add(k.mul(k.b.udiv(first_output, index(PANEL)), inputs * PANEL), k.b.urem(first_output, index(PANEL)))
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
        weight_row = k.add(panel, k.mul(i, PANEL))
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


def _activate_panel(c, first_vector, vectors: int, last_lanes: int) -> None:
    """Apply the fused activation (if any) to a panel's outputs of every example, in
    place: a loop, so that the activation's code appears twice, not once per register."""
    if not c.fused:
        return
    k, width, outputs = c.k, c.vector_width, c.attrs.out_features
    with k.loop("act.n", 0, c.count) as row:
        start = k.add(k.mul(row, outputs), k.mul(first_vector, width))
        with k.loop("act.v", 0, (vectors - 1) * width, step=width) as column:
            position = k.add(start, column)
            k.vstore(c.activate(k.vload(c.target, position, width)), c.target, position)
        position = k.add(start, (vectors - 1) * width)
        k.vstore(c.activate(k.vload(c.target, position, width, last_lanes)), c.target, position, last_lanes)


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
    """Output panels of VECTORS vectors (the last one holds the rest, its last vector
    stored masked); for each, blocks of BLOCK inputs, so a panel of weights (BLOCK x
    VECTORS vectors) stays in L2 while every example of the tile uses it. Each weight
    vector loaded is used ROWS times; then the fused activation over the panel. Threads
    dividing a layer take panels by ticket."""
    k, width, outputs = c.k, c.vector_width, c.attrs.out_features
    inputs = prod(c.layer.input_shape)
    complete = outputs // width
    looped = complete - complete % VECTORS
    rest = -(-outputs // width) - looped
    whole = looped // VECTORS
    rest_lanes = outputs - (looped + rest - 1) * width  # in the last vector

    def panel(first_vector, vectors: int, last_lanes: int):
        with k.loop("block", 0, inputs, step=BLOCK) as start:
            _examples(c, (start, k.smin(k.add(start, BLOCK), inputs)), first_vector, vectors, last_lanes)
        _activate_panel(c, first_vector, vectors, last_lanes)

    with share_of(c, "o", whole + (1 if rest else 0)) as number:
        if not rest:
            panel(k.mul(number, VECTORS), VECTORS, width)
        elif not whole:
            panel(index(looped), rest, rest_lanes)
        else:
            with k.b.if_else(k.b.icmp_signed("<", number, index(whole))) as (full, last):
                with full:
                    panel(k.mul(number, VECTORS), VECTORS, width)
                with last:
                    panel(index(looped), rest, rest_lanes)

KERNELS = {"dense": KernelDef(lower=lower, batched=True, fuses_activation=True, divisible=True,
                              packing=Packing(stored_shape=stored_shape, pack=pack, unpack=unpack))}
