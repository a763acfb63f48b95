"""Convolution schedule "wide rows": stride phases read as long contiguous rows, with register tiles."""
from __future__ import annotations

from contextlib import contextmanager
from math import prod

from ..builder import constant, index, vector_type
from .common import share_of
from .conv_weights import BLOCK, channel_weights

# The padded input is split into its s_h x s_w stride phases: phase (a, b) holds
# padded rows a, a + s_h, ... and columns b, b + s_w, ... With that layout, output
# position (oh, ow) reads, for kernel tap (kh, kw), phase (kh % s_h, kw % s_w) at
# q + (kh // s_h) * W' + kw // s_w, where q = oh * W' + ow and W' is the phase
# width. Computing every q in [0, (o_h - 1) * W' + o_w) - the output rows laid
# end to end at the phase pitch, the columns past o_w discarded - turns the
# convolution into one long contiguous loop per (oc, ic, kh, kw), for any stride:
# ideal for vectors. (With stride 1 there is one phase: the padded input.)
# A register tile holds `channels` output channels x `vectors` vectors of q,
# so each input vector loaded is used `channels` times and each weight
# broadcast `vectors` times. The result is then compacted row by row into the
# output, applying the fused activation.

LANES = 16  # scratch is sized for vectors up to this width


class _Phases:
    """The geometry of the phase-split padded input and of the wide result."""

    def __init__(self, layer):
        c_i, n_h, n_w = layer.input_shape
        a = layer.attrs
        self.stride = a.stride
        padded_h, padded_w = n_h + a.padding.rows, n_w + a.padding.columns
        self.height, self.width = -(-padded_h // a.stride[0]), -(-padded_w // a.stride[1])
        self.plane = self.height * self.width
        self.channel = a.stride[0] * a.stride[1] * self.plane  # floats per input channel, all phases
        self.input_floats = c_i * self.channel + LANES
        _, o_h, o_w = layer.output_shape
        self.positions = (o_h - 1) * self.width + o_w
        # one extra vector so compaction may read a whole vector past the last row's end
        self.pitch = -(-self.positions // LANES) * LANES + LANES


def scratch_floats(layer) -> int:
    return _Phases(layer).input_floats + layer.output_shape[0] * _Phases(layer).pitch


def _split_phases(c, phases: _Phases, split) -> None:
    """scratch <- the input, zero-padded and split into stride phases."""
    k, a = c.k, c.attrs
    c_i, n_h, n_w = c.layer.input_shape
    s_h, s_w = a.stride
    k.fill("pad.i", split, phases.input_floats, 0.0)
    with k.loop("pad.c", 0, c_i) as ch:
        with k.loop("pad.h", 0, n_h) as h:
            row = k.add(h, a.padding.top)  # in the padded input
            row_phase, phase_row = k.b.urem(row, index(s_h)), k.b.udiv(row, index(s_h))
            source_row = k.offset((ch, h), (n_h * n_w, n_w))
            target_row = k.add(k.mul(ch, phases.channel), k.mul(row_phase, s_w * phases.plane),
                               k.mul(phase_row, phases.width))
            with k.loop("pad.w", 0, n_w) as w:
                column = k.add(w, a.padding.left)
                column_phase, phase_column = k.b.urem(column, index(s_w)), k.b.udiv(column, index(s_w))
                position = k.add(target_row, k.mul(column_phase, phases.plane), phase_column)
                k.store(k.load(c.source, k.add(source_row, w)), split, position)


def q_vectors(layer, width: int) -> int:
    """Vectors of wide-row positions the layer computes per output channel."""
    return -(-_Phases(layer).positions // width)


def fixed_tile(layer, width: int, accumulators: int) -> tuple[int, int]:
    """(output channels, q vectors) per register tile by a fixed rule: up to 4 vectors
    across (a divisor of the row's vectors when one fits), then as many channels as the
    accumulators allow."""
    vectors, channels = q_vectors(layer, width), layer.output_shape[0]
    across = next((r for r in (4, 3, 2) if vectors % r == 0), min(vectors, 4 if width >= 16 else 2))
    across = min(across, vectors)
    return max(1, min(channels, accumulators // across)), across


def candidate_tiles(layer, width: int, accumulators: int) -> list[tuple[int, int]]:
    """The fixed rule's tile and a few around it: 1 to 6 vectors across with as many
    channels as fit, and the fixed tile's channels halved."""
    channels, across = fixed_tile(layer, width, accumulators)
    shapes = [(channels, across), (max(1, channels // 2), across)]
    return shapes + [(min(layer.output_shape[0], accumulators // vectors), vectors) for vectors in (1, 2, 3, 4, 6)]


def fits(layer, width: int, tile: tuple[int, int]) -> bool:
    """A tile never exceeds the output channels or the row's vectors (the last tile is
    moved back, see `_overlapping_tiles`)."""
    channels, vectors = tile
    return channels <= layer.output_shape[0] and vectors <= q_vectors(layer, width)


def useful_share(layer, width: int, tile: tuple[int, int]) -> float:
    """The share of the multiply-adds a tile does that land in the output: the rest are
    the padding columns of the wide rows, the rows rounded up to whole tiles of vectors,
    and channels recomputed by the last, overlapping tile."""
    channels, vectors = tile
    _, o_h, o_w = layer.output_shape
    computed_q = -(-q_vectors(layer, width) // vectors) * vectors * width
    computed_channels = -(-layer.output_shape[0] // channels) * channels
    return o_h * o_w * layer.output_shape[0] / (computed_q * computed_channels)


def _wide_tile(c, phases: _Phases, source, wide, weights_of, first_channel, channels: int, first_q, vectors: int) -> None:
    k, a, width = c.k, c.attrs, c.vector_width
    c_i = c.layer.input_shape[0]
    k_h, k_w = a.kernel
    accumulators = []
    for r in range(channels):
        channel = k.add(first_channel, r)
        start = k.splat(k.load(c.weights["bias"], channel), width) if a.bias else constant(vector_type(width), 0.0)
        accumulators.append([k.variable(f"acc{r}.{v}", start) for v in range(vectors)])
    s_h, s_w = a.stride
    taps = [weights_of(k.add(first_channel, r)) for r in range(channels)]
    with k.loop("ic", 0, c_i) as ic:
        with k.loop("kh", 0, k_h) as kh:
            # kernel row kh reads phase row kh % s_h, shifted down by kh // s_h rows
            phase_row = k.mul(k.b.urem(kh, index(s_h)), s_w * phases.plane)
            line = k.add(k.mul(ic, phases.channel), phase_row, k.mul(k.b.udiv(kh, index(s_h)), phases.width), first_q)
            # this kernel row's taps of each channel, from (ic, kh, 0) on
            tap_row = k.mul(k.add(k.mul(ic, k_h), kh), k_w * BLOCK)
            lines = [k.view(taps[r], tap_row, k_w * BLOCK) for r in range(channels)]
            with k.loop("kw", 0, k_w) as kw:
                # tap kw reads phase column kw % s_w, shifted right by kw // s_w
                shift = k.add(k.mul(k.b.urem(kw, index(s_w)), phases.plane), k.b.udiv(kw, index(s_w)))
                at = k.add(line, shift)
                xs = [k.vload(source, k.add(at, v * width), width) for v in range(vectors)]
                for r in range(channels):
                    w = k.splat(k.load(lines[r], k.mul(kw, BLOCK)), width)
                    for x, slot in zip(xs, accumulators[r]):
                        k.b.store(k.intrinsic("llvm.fma", w, x, k.b.load(slot)), slot)
    for r in range(channels):
        row = k.add(k.mul(k.add(first_channel, r), phases.pitch), first_q)
        for v in range(vectors):
            k.vstore(k.b.load(accumulators[r][v]), wide, k.add(row, v * width))


@contextmanager
def _overlapping_tiles(k, var: str, total: int, size: int):
    """A loop over tiles of `size` covering [0, total): the last tile is moved back to end
    at `total`, overlapping its neighbour, so one copy of the tile's code serves every tile
    (the overlap recomputes a few identical results instead of emitting a remainder tile)."""
    with k.loop(var, 0, -(-total // size)) as tile:
        yield k.smin(k.mul(tile, size), total - size)


def _tiles_over_q(c, phases: _Phases, source, wide, weights_of, first_channel, shape: tuple[int, int]) -> None:
    width = c.vector_width
    vectors = -(-phases.positions // width)
    channels, across = shape
    with _overlapping_tiles(c.k, "q", vectors * width, across * width) as first_q:
        _wide_tile(c, phases, source, wide, weights_of, first_channel, channels, first_q, across)


def _compact(c, phases: _Phases, wide, channels: tuple) -> None:
    """out[oc, oh, :] = act(wide[oc, oh * W' : oh * W' + o_w]) for oc in [first, stop),
    a vector at a time."""
    k, width = c.k, c.vector_width
    _, o_h, o_w = c.layer.output_shape
    with k.loop("oc.out", *channels) as oc:
        with k.loop("oh.out", 0, o_h) as oh:
            source_row = k.add(k.mul(oc, phases.pitch), k.mul(oh, phases.width))
            target_row = k.offset((oc, oh), (o_h * o_w, o_w))
            for start in range(0, o_w, width):
                value = c.activate(k.vload(wide, k.add(source_row, start), width))
                k.vstore(value, c.target, k.add(target_row, start), min(width, o_w - start))


def shared_code(layer, width: int, shape: tuple[int, int]) -> None:
    """Nothing: each layer's code is its own."""
    return None


def lower(c, shape: tuple[int, int]) -> None:
    """Tiles of output channels, each computed over every position and then compacted.
    Threads dividing a layer take tiles by ticket; each splits the whole input into its
    own scratch (a copy, cheap beside the products)."""
    k = c.k
    c_o = c.layer.output_shape[0]
    phases = _Phases(c.layer)
    split = k.view(c.scratch, 0, phases.input_floats)
    wide = k.view(c.scratch, phases.input_floats, c_o * phases.pitch)
    _split_phases(c, phases, split)
    weights_of = channel_weights(k, c.weights["weight"], c.layer.input_shape[0] * prod(c.attrs.kernel))
    channels = shape[0]
    tiles = -(-c_o // channels)
    with share_of(c, "oc", tiles) as tile:
        # The last tile is moved back to end at c_o, overlapping its neighbour, so one copy
        # of the tile's code serves every tile; it compacts only the channels it adds.
        first_channel = k.smin(k.mul(tile, channels), c_o - channels)
        _tiles_over_q(c, phases, split, wide, weights_of, first_channel, shape)
        _compact(c, phases, wide, (k.mul(tile, channels), k.smin(k.mul(k.add(tile, 1), channels), c_o)))

