"""Convolution schedule "lanes": output channels across the vector lanes, positions in registers.

A register tile holds `positions` output positions x `vectors` vectors of output
channels. For each kernel tap (input channel, kh, kw) it loads one vector of weights
per channel vector (the stored layout keeps 16 output channels of a tap contiguous, see
`conv_weights.BLOCK`) and broadcasts one input value per position, so no lane is spent on a
position that does not exist: unlike the wide rows (`conv_rows`), which round each
channel's positions up to whole vectors and compute the padding columns too, this
schedule wastes nothing on small feature maps (a 6x6 map is 36 positions; as wide
rows it is 48 lanes of 8-wide rows). The positions of a tile are any `positions`
consecutive output positions, each with its own input offset, so strides need no
phase split. Results land position-major in scratch and are transposed into the
channel-major output a square of vectors at a time, applying the fused activation.
The sums and the write-out are functions shared by the layers of a module that differ
only in their channel counts (`_sums_function`, `_write_out_function`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from llvmlite import ir

from ..builder import F32_PTR, I64, Buffer, constant, lane_indices, vector_type
from .common import BUFFER, PIECES, call_shared, copy_padded, share_of, shared_function
from .conv_weights import BLOCK, channel_weights


# Positions per tile are at most the accumulators there are (24 with 32 vector registers).
MOST_POSITIONS = 24
# The weights one tile of channel vectors reads for a block of input channels are kept
# within this budget, so that they stay in L2 while every position uses them: without
# blocks, VGG-11's 512-channel 3x3 layers stream 1.2 MB of weights per tile of 6
# positions, beyond L2, and ran at 80 % of the blocked speed.
WEIGHT_BLOCK_BYTES = 192 * 1024


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
        # Room for the last tile's positions past the end (see `_register_tile`), and at least
        # one square of rows, so a map of fewer positions than lanes transposes whole vectors.
        self.result_rows = max(self.positions + MOST_POSITIONS, width)
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
    """(positions, channel vectors) by a fixed rule: for each number of channel vectors, as
    many positions as the accumulators allow, or up to two fewer when the last tile of
    positions, which runs past the end, would waste over 3 % of the work; then the pair
    that wastes least on the last tiles of positions and of channels, weighed by
    VECTOR_COSTS (a 3x3 map takes 9 positions x 2 vectors, not 5 x 4: 12 % faster)."""
    channel_vectors = layer.output_shape[0] // width
    total = _positions(layer)

    def computed(r: int) -> int:
        return -(-total // r) * r

    def positions(vectors: int) -> int:
        most = min(accumulators // vectors, total)
        if computed(most) <= 1.03 * total:
            return most
        return min(range(max(1, most - 2), most + 1), key=lambda r: (computed(r), -r))

    def cost(vectors: int) -> float:
        channels = -(-channel_vectors // vectors) * vectors / channel_vectors
        return VECTOR_COSTS[vectors] * channels * computed(positions(vectors)) / total

    vectors = min((v for v in VECTOR_COSTS if v <= channel_vectors and v * 2 <= accumulators), key=cost)
    return positions(vectors), vectors


def candidate_tiles(layer, width: int, accumulators: int) -> list[tuple[int, int]]:
    """The fixed rule's tile and the others that fill the accumulators, 1 to 6 channel vectors."""
    tiles = [fixed_tile(layer, width, accumulators)]
    for vectors in (1, 2, 3, 4, 6):
        tiles.append((min(accumulators // vectors, _positions(layer)), vectors))
    return tiles


def fits(layer, width: int, tile: tuple[int, int]) -> bool:
    """A tile never exceeds the positions or the channel vectors (the last tile of channels
    is moved back, the last of positions runs past the end)."""
    positions, vectors = tile
    return applies(layer, width) and positions <= _positions(layer) and vectors <= layer.output_shape[0] // width


def useful_share(layer, width: int, tile: tuple[int, int]) -> float:
    """The share of the multiply-adds that land in the output: the rest are the last tile
    of positions' past the end, or channel vectors recomputed by the last, overlapping tile."""
    positions, vectors = tile
    channel_vectors = layer.output_shape[0] // width
    return (_positions(layer) / (-(-_positions(layer) // positions) * positions)
            * channel_vectors / (-(-channel_vectors // vectors) * vectors))


@dataclass(frozen=True)
class _SumsShape:
    """What the code of a lanes layer's sums depends on beside its channel counts (which it
    takes as arguments): layers that agree on it share one function (see `_sums_function`).
    `height` and `width` are the padded input's, `columns` the output's."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    height: int
    width: int
    positions: int
    columns: int
    tile: tuple[int, int]
    bias: bool
    vector_width: int

    @classmethod
    def of(cls, layer, geometry: _Geometry, tile: tuple[int, int], vector_width: int) -> _SumsShape:
        a = layer.attrs
        return cls(a.kernel, a.stride, geometry.height, geometry.width, geometry.positions, layer.output_shape[2],
                   tile, a.bias, vector_width)

    @property
    def block_channels(self) -> int:
        """Input channels per block at most: as many as keep a tile's weights within WEIGHT_BLOCK_BYTES."""
        per_channel = 4 * self.tile[1] * self.vector_width * self.kernel[0] * self.kernel[1]
        return max(1, WEIGHT_BLOCK_BYTES // per_channel)

    @property
    def name(self) -> str:
        (k_h, k_w), (s_h, s_w), (positions, vectors) = self.kernel, self.stride, self.tile
        return (f"lanes.sums.{k_h}x{k_w}.stride{s_h}x{s_w}.in{self.height}x{self.width}"
                f".out{self.positions // self.columns}x{self.columns}"
                f".tile{positions}x{vectors}" + (".bias" if self.bias else ""))


def _input_offset(k, shape: _SumsShape, position):
    """Where output position `position`'s window starts in the (padded) input channel 0."""
    s_h, s_w = shape.stride
    row, column = k.b.udiv(position, k.add(shape.columns)), k.b.urem(position, k.add(shape.columns))
    return k.add(k.mul(row, s_h * shape.width), k.mul(column, s_w))


def _register_tile(k, shape: _SumsShape, source, weights_of, results, c_o, first_position, first_vector,
                   block) -> None:
    """results[p, channels] += the taps of input channels [start, stop) for a tile of
    positions from `first_position` (the results start as the bias, see `_start_results`).
    Positions past the last one (in the last tile) read the last position's window: their
    rows of results are never written out."""
    width, (positions, vectors), (k_h, k_w) = shape.vector_width, shape.tile, shape.kernel
    plane = shape.height * shape.width
    start_channel, stop_channel = block
    channels = [k.mul(k.add(first_vector, v), width) for v in range(vectors)]
    rows = [k.mul(k.add(first_position, r), c_o) for r in range(positions)]
    weights = [weights_of(channel) for channel in channels]
    accumulators = [[k.variable(f"acc{r}.{v}", k.vload(results, k.add(rows[r], channels[v]), width))
                     for v in range(vectors)] for r in range(positions)]
    last = shape.positions - 1
    windows = [_input_offset(k, shape, k.smin(k.add(first_position, r), last)) for r in range(positions)]
    with k.loop("ic", start_channel, stop_channel) as ic:
        with k.loop("kh", 0, k_h) as kh:
            line = k.add(k.mul(ic, plane), k.mul(kh, shape.width))
            # this kernel row's taps of each channel vector, from (ic, kh, 0) on
            tap_row = k.mul(k.add(k.mul(ic, k_h), kh), k_w * BLOCK)
            lines = [k.view(weights[v], tap_row, k_w * BLOCK) for v in range(vectors)]
            with k.loop("kw", 0, k_w) as kw:
                ws = [k.vload(lines[v], k.mul(kw, BLOCK), width) for v in range(vectors)]
                at = k.add(line, kw)
                for r in range(positions):
                    x = k.splat(k.load(source, k.add(windows[r], at)), width)
                    for v in range(vectors):
                        slot = accumulators[r][v]
                        k.b.store(k.intrinsic("llvm.fma", x, ws[v], k.b.load(slot)), slot)
    for r in range(positions):
        for v in range(vectors):
            k.vstore(k.b.load(accumulators[r][v]), results, k.add(rows[r], channels[v]))


def transpose(k, rows: list) -> list:
    """The transpose of a square of vectors (rows[i][j] -> result[j][i]), in log2(width)
    rounds of shuffles: each round swaps the off-diagonal b x b blocks of every 2b x 2b
    block, for b = width / 2, width / 4, ..., 1."""
    width = len(rows)
    rows = list(rows)
    block = width // 2
    while block:
        low = tuple(m if not m & block else width + m - block for m in range(width))
        high = tuple(m + block if not m & block else width + m for m in range(width))
        for i in (i for i in range(width) if not i & block):
            j = i + block
            rows[i], rows[j] = (k.b.shuffle_vector(rows[i], rows[j], lane_indices(low)),
                                k.b.shuffle_vector(rows[i], rows[j], lane_indices(high)))
        block //= 2
    return rows


def _start_results(k, shape: _SumsShape, bias, results, c_o, rows: tuple, first_vector) -> None:
    """results[p, channels of the tile] = bias (or 0) for the positions p in [first, stop):
    the sums of every block of input channels are added to them."""
    width, vectors = shape.vector_width, shape.tile[1]
    channels = [k.mul(k.add(first_vector, v), width) for v in range(vectors)]
    starts = [k.vload(bias, channel, width) if shape.bias else constant(vector_type(width), 0.0)
              for channel in channels]
    with k.loop("p.bias", *rows) as row:
        for channel, start in zip(channels, starts):
            k.vstore(start, results, k.add(k.mul(row, c_o), channel))


def _sums_function(module: ir.Module, shape: _SumsShape, guarded: bool) -> ir.Function:
    """`lanes.sums.…(source, weights, bias, results, input.channels, output.channels,
    first.vector, start, first.tile, stop.tile)`: results[p, channel vectors from
    first.vector] = the bias plus the sums of every input channel, for the position tiles
    in [first.tile, stop.tile) (positions from `start`). One per module and `shape`,
    shared by every layer of that shape whatever its channel counts: the counts only bound
    loops and scale offsets outside the loop over the taps, whose code is the same as with
    constants, and GoogLeNet's 54 lanes layers need 27 such functions."""
    def build(k, source, weights, bias, results, c_i, c_o, first_vector, start, first_tile, stop_tile):
        positions = shape.tile[0]
        _start_results(k, shape, bias, results, c_o, (start, k.mul(stop_tile, positions)), first_vector)
        weights_of = channel_weights(k, weights, k.mul(c_i, shape.kernel[0] * shape.kernel[1]))
        block = k.smin(c_i, shape.block_channels)
        with k.loop("icb", 0, c_i, step=block) as first_channel:
            with k.loop("p", first_tile, stop_tile) as position_tile:
                _register_tile(k, shape, source, weights_of, results, c_o, k.mul(position_tile, positions),
                               first_vector, (first_channel, k.smin(k.add(first_channel, block), c_i)))

    arguments = {"source": BUFFER, "weights": BUFFER, "bias": BUFFER, "results": BUFFER, "input.channels": I64,
                 "output.channels": I64, "first.vector": I64, "start": I64, "first.tile": I64, "stop.tile": I64}
    return shared_function(module, shape.name, arguments, guarded, build)


def _write_out(c, geometry: _Geometry, results, vectors: tuple, positions: tuple) -> None:
    """out[channel, p] = act(results[p, channel]) for the channel vectors in [first, stop)
    and the positions p in [start, end), by the module's write-out function for the
    layer's activation (see `_write_out_function`)."""
    k, width = c.k, c.vector_width
    lanes = geometry.positions if geometry.positions < width else None
    function = _write_out_function(k.function.module, width, c.fused, lanes, k.guarded)
    call_shared(k, function, results, c.target, c.layer.output_shape[0], geometry.positions, *vectors, *positions)


def _write_out_function(module: ir.Module, width: int, fused, lanes: int | None, guarded: bool) -> ir.Function:
    """`write_out.ACTIVATION(results, target, channels, positions, first.vector,
    stop.vector, start, end)`, one per module and activation (and `lanes`, for a map of
    fewer positions than lanes), shared by every lanes layer: it runs once per piece of
    work, not per tap, so taking the sizes as arguments costs nothing measurable, and
    emitting its transposition once instead of in every layer saves a third of a
    network's compile time. A square of width positions x width channels at a time: the
    last square moved back to end at `end` (a chunk of positions holds at least one
    square), or, when the whole map has only `lanes` positions, stored masked to those."""
    def build(k, results, target, c_o, total, first_vector, stop_vector, start, end):
        squares = k.b.udiv(k.add(k.b.sub(end, start), width - 1), k.add(width))
        with k.loop("v.out", first_vector, stop_vector) as vector:
            channel = k.mul(vector, width)
            with k.loop("p.out", 0, squares) as square:
                first = k.add(start, k.mul(square, width)) if lanes else \
                    k.smin(k.add(start, k.mul(square, width)), k.b.sub(end, k.add(width)))
                rows = [k.vload(results, k.add(k.mul(k.add(first, i), c_o), channel), width) for i in range(width)]
                for j, column in enumerate(transpose(k, rows)):
                    value = fused(k, column) if fused else column
                    k.vstore(value, target, k.add(k.mul(k.add(channel, j), total), first), lanes)

    # named after the activation's element function (mathfn.relu: write_out.relu)
    name = f"write_out.{fused.__name__ if fused else 'identity'}" + (f".lanes{lanes}" if lanes else "")
    arguments = {"results": BUFFER, "target": BUFFER, "channels": I64, "positions": I64, "first.vector": I64,
                 "stop.vector": I64, "start": I64, "end": I64}
    return shared_function(module, name, arguments, guarded, build)


def chunk_positions(layer, width: int, tile: tuple[int, int]) -> int:
    """Positions per chunk: a layer's work is cut into (channel tile, chunk of positions)
    pieces, at least PIECES of them when the positions allow, so that threads dividing
    one example share even a layer of one channel tile. A chunk is a whole number of
    position tiles and of transposition squares; the last chunk takes the rest."""
    positions, vectors = tile
    total = _positions(layer)
    unit = math.lcm(positions, width)
    channel_tiles = -(-layer.output_shape[0] // width // vectors)
    wanted = -(-PIECES // channel_tiles)
    return max(unit, -(-total // wanted // unit) * unit)


def shared_code(layer, width: int, tile: tuple[int, int]) -> _SumsShape:
    """The shape of the sums function the layer calls (see `_sums_function`)."""
    return _SumsShape.of(layer, _Geometry(layer, width), tile, width)


def lower(c, tile: tuple[int, int]) -> None:
    """Pieces of work of a tile of output channel vectors and a chunk of positions, each
    computed a block of input channels at a time (by the module's sums function for the
    layer's shape), then written out. Threads dividing a layer take pieces by ticket,
    each with its own copy of the padded input (when there is padding) and its own results."""
    k, width = c.k, c.vector_width
    geometry = _Geometry(c.layer, width)
    if geometry.padded:
        copy_padded(c, c.layer.input_shape[0], *c.layer.input_shape[1:], c.attrs.padding, 0.0)
        source = k.view(c.scratch, 0, geometry.input_floats)
    else:
        source = c.source
    results = k.view(c.scratch, geometry.input_floats, geometry.result_floats)
    positions, vectors = tile
    c_i, c_o = c.layer.input_shape[0], c.layer.output_shape[0]
    sums = _sums_function(k.function.module, _SumsShape.of(c.layer, geometry, tile, width), k.guarded)
    weights = c.weights["weight"]
    bias = c.weights["bias"] if c.attrs.bias else Buffer(ir.Constant(F32_PTR, None), 0)
    channel_vectors = c_o // width
    tiles = -(-channel_vectors // vectors)
    per_chunk = chunk_positions(c.layer, width, tile)
    chunks = max(1, geometry.positions // per_chunk)
    position_tiles = -(-geometry.positions // positions)
    with share_of(c, "piece", tiles * chunks) as piece:
        tile_number, chunk = k.b.udiv(piece, k.add(chunks)), k.b.urem(piece, k.add(chunks))
        # the last tile is moved back to end at the last vector (see conv_rows._overlapping_tiles)
        first_vector = k.smin(k.mul(tile_number, vectors), channel_vectors - vectors)
        last_chunk = k.b.icmp_signed("==", chunk, k.add(chunks - 1))
        start = k.mul(chunk, per_chunk)
        end = k.b.select(last_chunk, k.add(geometry.positions), k.add(start, per_chunk))
        # Tiles of positions do not overlap (a position computed twice would get a block's
        # sums twice): the last one runs past the end instead.
        tile_range = (k.b.udiv(start, k.add(positions)),
                      k.b.select(last_chunk, k.add(position_tiles), k.b.udiv(end, k.add(positions))))
        call_shared(k, sums, source, weights, bias, results, c_i, c_o, first_vector, start, *tile_range)
        _write_out(c, geometry, results, (k.mul(tile_number, vectors),
                                          k.smin(k.mul(k.add(tile_number, 1), vectors), channel_vectors)), (start, end))
