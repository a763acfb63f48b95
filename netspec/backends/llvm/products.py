"""Small matrix products with their accumulators in vector registers, the core of the
backward loop nests (a convolution's and a dense layer's gradients are such products).

A `Matrix` is a view of a buffer with any row and column strides, so the same two
loop nests serve transposed operands: `multiply_add` is vectorised along the result's
columns (which must be contiguous in both the result and `b`), `multiply_add_transposed`
along the summed index (contiguous in both operands), reducing each vector at the end.
"""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from .builder import F32, Buffer, KernelBuilder, constant, index, vector_type

# A tile of ROWS rows x VECTORS column vectors: 8 accumulators, two loads of `b` and
# four broadcasts of `a` a step, well inside 16 (AVX2) or 32 (AVX-512) vector registers.
ROWS, VECTORS = 4, 2
# multiply_add_transposed's tile: rows x columns of dot products sharing their loads.
DOT_ROWS, DOT_COLUMNS = 2, 4


@dataclass(frozen=True)
class Matrix:
    """Element (r, q) lies at buffer[r * row + q * column]."""

    buffer: Buffer
    row: object
    column: object = 1

    def position(self, k: KernelBuilder, r, q) -> ir.Value:
        return k.add(k.mul(r, self.row), k.mul(q, self.column))


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


def _column_tiles(k: KernelBuilder, columns: int, width: int, emit) -> None:
    """emit(first_column, vectors, last_lanes) over `columns`: tiles of VECTORS whole
    vectors, then the remaining whole vectors and a last one of `last_lanes` (None: whole)."""
    vectors, lanes = divmod(columns, width)
    whole = vectors - vectors % VECTORS
    if whole:
        with k.loop("j", 0, whole * width, VECTORS * width) as first:
            emit(first, VECTORS, None)
    rest = vectors % VECTORS + (1 if lanes else 0)
    if rest:
        emit(index(whole * width), rest, lanes or None)


def multiply_add(k: KernelBuilder, width: int, c: Matrix, a: Matrix, b: Matrix, rows, inner, columns: int,
                 accumulate: bool = True) -> None:
    """c[r, j] (+)= sum over q < inner of a[r, q] * b[q, j], for r < rows and j < columns;
    without `accumulate`, c is overwritten."""
    def tile(first_row, row_count, first_column, vectors, last_lanes):
        def lanes(v):
            return last_lanes if v == vectors - 1 else None

        def at(r, v):
            return c.position(k, k.add(first_row, r), k.add(first_column, v * width))

        sums = [[k.variable(f"sum{r}.{v}", k.vload(c.buffer, at(r, v), width, lanes(v)) if accumulate
                            else constant(vector_type(width), 0.0)) for v in range(vectors)]
                for r in range(row_count)]
        with k.loop("q", 0, inner) as q:
            right = [k.vload(b.buffer, b.position(k, q, k.add(first_column, v * width)), width, lanes(v))
                     for v in range(vectors)]
            for r in range(row_count):
                left = k.splat(k.load(a.buffer, a.position(k, k.add(first_row, r), q)), width)
                for v in range(vectors):
                    k.b.store(k.fadd(k.b.load(sums[r][v]), k.fmul(left, right[v])), sums[r][v])
        for r in range(row_count):
            for v in range(vectors):
                k.vstore(k.b.load(sums[r][v]), c.buffer, at(r, v), lanes(v))

    blocked(k, "r", rows, ROWS, lambda first_row, row_count: _column_tiles(
        k, columns, width, lambda first_column, vectors, last: tile(first_row, row_count, first_column, vectors,
                                                                     last)))


def multiply_add_transposed(k: KernelBuilder, width: int, c: Matrix, a: Matrix, b: Matrix, rows: int,
                            columns: int, inner: int) -> None:
    """c[r, j] += sum over q < inner of a[r, q] * b[j, q] (a and b contiguous along q)."""
    vectors, last_lanes = divmod(inner, width)

    def tile(first_row, row_count, first_column, column_count):
        sums = [[k.variable(f"dot{r}.{j}", constant(vector_type(width), 0.0)) for j in range(column_count)]
                for r in range(row_count)]

        def step(q, lanes):
            right = [k.vload(b.buffer, b.position(k, k.add(first_column, j), q), width, lanes)
                     for j in range(column_count)]
            for r in range(row_count):
                left = k.vload(a.buffer, a.position(k, k.add(first_row, r), q), width, lanes)
                for j in range(column_count):
                    k.b.store(k.fadd(k.b.load(sums[r][j]), k.fmul(left, right[j])), sums[r][j])

        if vectors:
            with k.loop("q", 0, vectors * width, width) as q:
                step(q, None)
        if last_lanes:
            step(index(vectors * width), last_lanes)
        for r in range(row_count):
            for j in range(column_count):
                position = c.position(k, k.add(first_row, r), k.add(first_column, j))
                total = _reduce(k, k.b.load(sums[r][j]), width)
                k.store(k.fadd(k.load(c.buffer, position), total), c.buffer, position)

    blocked(k, "r", rows, DOT_ROWS, lambda first_row, row_count: blocked(
        k, "j", columns, DOT_COLUMNS, lambda first_column, column_count: tile(first_row, row_count, first_column,
                                                                              column_count)))


def _reduce(k: KernelBuilder, vector: ir.Value, width: int) -> ir.Value:
    """The sum of a vector's lanes, in whatever order is fastest (reassociation allowed)."""
    name = f"llvm.vector.reduce.fadd.v{width}f32"
    function = k.function.module.globals.get(name) or ir.Function(
        k.function.module, ir.FunctionType(F32, [F32, vector_type(width)]), name)
    return k.b.call(function, [constant(F32, 0.0), vector], fastmath=("reassoc",))
