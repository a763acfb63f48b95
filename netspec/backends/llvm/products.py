"""Small matrix products with their accumulators in vector registers, the core of the
backward loop nests (a convolution's and a dense layer's gradients are such products).

A `Matrix` is a view of a buffer with any row and column strides, so one loop nest
serves transposed operands; it is vectorised along the result's columns, which must
be contiguous in both the result and `b`.
"""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from .builder import Buffer, KernelBuilder, constant, index, vector_type


def tile_shape(width: int) -> tuple[int, int]:
    """Rows x column vectors of a register tile: with AVX-512's 32 vector registers, 18
    accumulators (three loads of `b` and six broadcasts of `a` a step); with the 16 of
    narrower vectors, 8."""
    return (6, 3) if width >= 16 else (4, 2)


@dataclass(frozen=True)
class Matrix:
    """Element (r, q) of group g lies at buffer[g * group + r * row + q * column] (a
    product may sum over several groups, such as the examples of a batch)."""

    buffer: Buffer
    row: object
    column: object = 1
    group: object = 0

    def position(self, k: KernelBuilder, r, q, g=0) -> ir.Value:
        return k.add(k.mul(g, self.group) if self.group else 0, k.mul(r, self.row), k.mul(q, self.column))


def blocked(k: KernelBuilder, name: str, count, block: int, emit) -> None:
    """emit(first, size) over [0, count) in blocks of `block`, then the rest: one static
    block when `count` is known here, else one at a time."""
    if isinstance(count, int):
        whole = count - count % block
        if whole:
            with k.loop(name, 0, whole, block) as first:
                emit(first, block)
        if count % block:
            emit(index(whole), count % block)
        return
    whole = k.b.mul(k.b.sdiv(count, index(block)), index(block))
    with k.loop(name, 0, whole, block) as first:
        emit(first, block)
    with k.loop(f"{name}.rest", whole, count) as first:
        emit(first, 1)


def _column_tiles(k: KernelBuilder, columns: int, width: int, tile: int, emit) -> None:
    """emit(first_column, vectors, last_lanes) over `columns`: tiles of `tile` whole
    vectors, then the remaining whole vectors and a last one of `last_lanes` (None: whole)."""
    vectors, lanes = divmod(columns, width)
    whole = vectors - vectors % tile
    if whole:
        with k.loop("j", 0, whole * width, tile * width) as first:
            emit(first, tile, None)
    rest = vectors % tile + (1 if lanes else 0)
    if rest:
        emit(index(whole * width), rest, lanes or None)


def multiply_add(k: KernelBuilder, width: int, c: Matrix, a: Matrix, b: Matrix, rows, inner, columns: int,
                 accumulate: bool = True, groups=1) -> None:
    """c[r, j] (+)= sum over groups g and q < inner of a[g; r, q] * b[g; q, j], for
    r < rows and j < columns; without `accumulate`, c is overwritten. Summing over
    groups in the same loop nest reads and writes c once for all of them."""
    def tile(first_row, row_count, first_column, vectors, last_lanes):
        def lanes(v):
            return last_lanes if v == vectors - 1 else None

        def at(r, v):
            return c.position(k, k.add(first_row, r), k.add(first_column, v * width))

        sums = [[k.variable(f"sum{r}.{v}", k.vload(c.buffer, at(r, v), width, lanes(v)) if accumulate
                            else constant(vector_type(width), 0.0)) for v in range(vectors)]
                for r in range(row_count)]
        with k.loop("g", 0, groups) as g:
            with k.loop("q", 0, inner) as q:
                right = [k.vload(b.buffer, b.position(k, q, k.add(first_column, v * width), g), width, lanes(v))
                         for v in range(vectors)]
                for r in range(row_count):
                    left = k.splat(k.load(a.buffer, a.position(k, k.add(first_row, r), q, g)), width)
                    for v in range(vectors):
                        k.b.store(k.fadd(k.b.load(sums[r][v]), k.fmul(left, right[v])), sums[r][v])
        for r in range(row_count):
            for v in range(vectors):
                k.vstore(k.b.load(sums[r][v]), c.buffer, at(r, v), lanes(v))

    tile_rows, tile_vectors = tile_shape(width)
    blocked(k, "r", rows, tile_rows, lambda first_row, row_count: _column_tiles(
        k, columns, width, tile_vectors,
        lambda first_column, vectors, last: tile(first_row, row_count, first_column, vectors, last)))
