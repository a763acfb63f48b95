"""Convolution schedule "lanes": output channels across the vector lanes, positions in registers.

A register tile holds `positions` output positions x `vectors` vectors of output
channels. For each kernel tap (input channel, kh, kw) it loads one vector of weights
per channel vector (the stored layout keeps 16 output channels of a tap contiguous, see
`conv.BLOCK`) and broadcasts one input value per position, so no lane is spent on a
position that does not exist: unlike the wide rows (`conv_rows`), which round each
channel's positions up to whole vectors and compute the padding columns too, this
schedule wastes nothing on small feature maps (a 6x6 map is 36 positions; as wide
rows it is 48 lanes of 8-wide rows). The positions of a tile are any `positions`
consecutive output positions, each with its own input offset, so strides need no
phase split. Results land position-major in scratch and are transposed into the
channel-major output a square of vectors at a time, applying the fused activation.
"""
from __future__ import annotations

from llvmlite import ir

from ..builder import I32, constant, vector_type
from .common import copy_padded, share_of


class _Geometry:
    """The (padded) input read and the scratch the results are transposed from."""

    def __init__(self, layer, width: int):
        c_i, n_h, n_w = layer.input_shape
        a = layer.attrs
        self.padded = a.padding.rows + a.padding.columns > 0
        self.height, self.width = n_h + a.padding.rows, n_w + a.padding.columns
        self.plane = self.height * self.width
        self.input_floats = c_i * self.plane if self.padded else 0
        c_o, o_h, o_w = layer.output_shape
        self.positions = o_h * o_w
        # at least one square of rows, so a map of fewer positions than lanes transposes whole vectors
        self.result_rows = max(self.positions, width)
        self.result_floats = self.result_rows * c_o


def scratch_floats(layer, width: int) -> int:
    geometry = _Geometry(layer, width)
    return geometry.input_floats + geometry.result_floats


def applies(layer, width: int) -> bool:
    """Whether the layer's output channels fill whole vectors (the schedule's precondition)."""
    return layer.output_shape[0] % width == 0


def _positions(layer) -> int:
    return layer.output_shape[1] * layer.output_shape[2]


# Channel vectors per tile in order of preference (each weight vector loaded serves every
# position of the tile; with 2, loads are 14 per 24 multiply-adds), and what each costs
# beside 4 for the same useful work.
VECTOR_COSTS = {4: 1.0, 3: 1.02, 5: 1.02, 6: 1.04, 2: 1.08, 1: 1.3}


def fixed_tile(layer, width: int, accumulators: int) -> tuple[int, int]:
    """(positions, channel vectors) by a fixed rule: the channel vectors per tile that
    waste least on the last, overlapping tile (weighed by VECTOR_COSTS), then as many
    positions as the accumulators allow, fewer when that wastes less."""
    channel_vectors = layer.output_shape[0] // width

    def cost(vectors: int) -> float:
        return VECTOR_COSTS[vectors] * -(-channel_vectors // vectors) * vectors / channel_vectors

    vectors = min((v for v in VECTOR_COSTS if v <= channel_vectors and v * 2 <= accumulators), key=cost)
    most = min(accumulators // vectors, _positions(layer))
    positions = min(range(max(1, most - 2), most + 1), key=lambda r: (-(-_positions(layer) // r) * r, -r))
    return positions, vectors


def candidate_tiles(layer, width: int, accumulators: int) -> list[tuple[int, int]]:
    """The fixed rule's tile and the others that fill the accumulators, 1 to 6 channel vectors."""
    tiles = [fixed_tile(layer, width, accumulators)]
    for vectors in (1, 2, 3, 4, 6):
        tiles.append((min(accumulators // vectors, _positions(layer)), vectors))
    return tiles


def fits(layer, width: int, tile: tuple[int, int]) -> bool:
    """A tile never exceeds the positions or the channel vectors (the last tile is moved back)."""
    positions, vectors = tile
    return applies(layer, width) and positions <= _positions(layer) and vectors <= layer.output_shape[0] // width


def useful_share(layer, width: int, tile: tuple[int, int]) -> float:
    """The share of the multiply-adds that land in the output: the rest are recomputed by
    the last, overlapping tile of positions or of channel vectors."""
    positions, vectors = tile
    channel_vectors = layer.output_shape[0] // width
    return (_positions(layer) / (-(-_positions(layer) // positions) * positions)
            * channel_vectors / (-(-channel_vectors // vectors) * vectors))


def _input_offset(c, geometry: _Geometry, position):
    """Where output position `position`'s window starts in the (padded) input channel 0."""
    k, (s_h, s_w) = c.k, c.attrs.stride
    o_w = c.layer.output_shape[2]
    row, column = k.b.udiv(position, k.add(o_w)), k.b.urem(position, k.add(o_w))
    return k.add(k.mul(row, s_h * geometry.width), k.mul(column, s_w))


def _register_tile(c, geometry: _Geometry, source, weight_of, results, first_position, positions: int,
                   first_vector, vectors: int) -> None:
    k, a, width = c.k, c.attrs, c.vector_width
    c_i = c.layer.input_shape[0]
    c_o = c.layer.output_shape[0]
    k_h, k_w = a.kernel
    channels = [k.mul(k.add(first_vector, v), width) for v in range(vectors)]
    accumulators = []
    for r in range(positions):
        row = []
        for v in range(vectors):
            start = (k.vload(c.weights["bias"], channels[v], width) if a.bias
                     else constant(vector_type(width), 0.0))
            row.append(k.variable(f"acc{r}.{v}", start))
        accumulators.append(row)
    windows = [_input_offset(c, geometry, k.add(first_position, r)) for r in range(positions)]
    with k.loop("ic", 0, c_i) as ic:
        with k.loop("kh", 0, k_h) as kh:
            line = k.add(k.mul(ic, geometry.plane), k.mul(kh, geometry.width))
            tap_row = k.mul(k.add(k.mul(ic, k_h), kh), k_w)
            with k.loop("kw", 0, k_w) as kw:
                tap = k.add(tap_row, kw)
                ws = [k.vload(c.weights["weight"], weight_of(channels[v], tap), width) for v in range(vectors)]
                at = k.add(line, kw)
                for r in range(positions):
                    x = k.splat(k.load(source, k.add(windows[r], at)), width)
                    for v in range(vectors):
                        slot = accumulators[r][v]
                        k.b.store(k.intrinsic("llvm.fma", x, ws[v], k.b.load(slot)), slot)
    for r in range(positions):
        row = k.mul(k.add(first_position, r), c_o)
        for v in range(vectors):
            k.vstore(k.b.load(accumulators[r][v]), results, k.add(row, channels[v]))


def transpose(k, rows: list) -> list:
    """The transpose of a square of vectors (rows[i][j] -> result[j][i]), in log2(width)
    rounds of shuffles: each round swaps the off-diagonal b x b blocks of every 2b x 2b
    block, for b = width / 2, width / 4, ..., 1."""
    width = len(rows)
    rows = list(rows)
    block = width // 2
    while block:
        low = [m if not m & block else width + m - block for m in range(width)]
        high = [m + block if not m & block else width + m for m in range(width)]
        for i in (i for i in range(width) if not i & block):
            j = i + block
            rows[i], rows[j] = (k.b.shuffle_vector(rows[i], rows[j], _lanes(low)),
                                k.b.shuffle_vector(rows[i], rows[j], _lanes(high)))
        block //= 2
    return rows


def _lanes(indices) -> ir.Constant:
    return ir.Constant(ir.VectorType(I32, len(indices)), indices)


def _write_out(c, geometry: _Geometry, results, vectors: tuple) -> None:
    """out[channel, position] = act(results[position, channel]) for the channel vectors in
    [first, stop), a square of width positions x width channels at a time (the last square
    moved back to end at the last position, or masked when the map is smaller than one)."""
    k, width = c.k, c.vector_width
    c_o = c.layer.output_shape[0]
    total = geometry.positions
    lanes = min(width, total)
    with k.loop("v.out", *vectors) as vector:
        channel = k.mul(vector, width)
        with k.loop("p.out", 0, -(-total // width)) as square:
            first = k.smin(k.mul(square, width), max(total - width, 0))
            rows = [k.vload(results, k.add(k.mul(k.add(first, i), c_o), channel), width) for i in range(width)]
            for j, column in enumerate(transpose(k, rows)):
                k.vstore(c.activate(column), c.target, k.add(k.mul(k.add(channel, j), total), first), lanes)


def lower(c, tile: tuple[int, int], weight_of) -> None:
    """Tiles of output channel vectors, each computed over every position, then written
    out. Threads dividing a layer take channel tiles by ticket, each with its own copy of
    the padded input (when there is padding) and its own results."""
    k, width = c.k, c.vector_width
    geometry = _Geometry(c.layer, width)
    if geometry.padded:
        copy_padded(c, c.layer.input_shape[0], *c.layer.input_shape[1:], c.attrs.padding, 0.0)
        source = k.view(c.scratch, 0, geometry.input_floats)
    else:
        source = c.source
    results = k.view(c.scratch, geometry.input_floats, geometry.result_floats)
    positions, vectors = tile
    channel_vectors = c.layer.output_shape[0] // width
    tiles = -(-channel_vectors // vectors)
    with share_of(c, "oc", tiles) as tile_number:
        # the last tile is moved back to end at the last vector (see conv_rows._overlapping_tiles)
        first_vector = k.smin(k.mul(tile_number, vectors), channel_vectors - vectors)
        with k.loop("p", 0, -(-geometry.positions // positions)) as square:
            first_position = k.smin(k.mul(square, positions), geometry.positions - positions)
            _register_tile(c, geometry, source, weight_of, results, first_position, positions, first_vector, vectors)
        _write_out(c, geometry, results, (k.mul(tile_number, vectors),
                                          k.smin(k.mul(k.add(tile_number, 1), vectors), channel_vectors)))
