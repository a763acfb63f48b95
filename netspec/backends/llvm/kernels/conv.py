"""Convolution as loop nests: the stored weight layout, the choice of schedule and register tile.

Two schedules compute a convolution (each explained in its module): "rows"
(`conv_rows`: positions across the vector lanes, the input read as long wide rows)
and "lanes" (`conv_lanes`: output channels across the lanes). Wide rows waste lanes
on the padding columns and on rows rounded up to whole vectors, which on small
feature maps is a quarter to a half of the work; lanes waste none but need the
output channels to fill whole vectors and transpose their results. A layer's tile
names its schedule: ("rows", output channels, q vectors) or ("lanes", positions,
channel vectors).
"""
from __future__ import annotations

from math import prod

import numpy as np

from ....ir import Shape
from . import KernelDef, Packing, conv_lanes, conv_rows

# Weights are stored in blocks of BLOCK output channels, each tap's channels contiguous:
# stored[channel // BLOCK, tap, channel % BLOCK] with tap = (input channel, kh, kw) in
# order, so a vector of up to BLOCK output channels of one tap is one load (lanes) and
# a channel's taps are BLOCK floats apart (rows). Output channels are padded with zeros
# to whole blocks.
BLOCK = 16
SCHEDULES = {"rows": conv_rows, "lanes": conv_lanes}
# Measured per layer on ResNet-18, GoogLeNet and VGG-11, lanes run every convolution it
# applies to at least as fast as rows (up to 2.3x on 3x3 maps), so it is preferred unless
# its last tiles redo this much more of the work than the wide rows waste, or the layer
# has fewer taps (input channels x kernel) than LANES_TAPS: lanes store and transpose
# each tile's results, a cost paid per tile that a short sum does not repay (VGG-11's
# first layer, 9 taps, runs at half the speed of rows).
LANES_SHARE = 0.9
LANES_TAPS = 32


def _blocks(channels: int) -> int:
    return -(-channels // BLOCK)


def stored_shape(attrs, input_shape: Shape, suffix: str, shape: Shape) -> Shape:
    return (_blocks(shape[0]), prod(shape[1:]), BLOCK) if suffix == "weight" else shape


def pack(attrs, input_shape: Shape, suffix: str, array: np.ndarray, out: np.ndarray) -> None:
    if suffix != "weight":
        out[...] = array
        return
    taps = array.reshape(array.shape[0], -1)
    for block in range(_blocks(array.shape[0])):
        channels = taps[block * BLOCK:(block + 1) * BLOCK]
        out[block, :, :len(channels)] = channels.T


def unpack(attrs, input_shape: Shape, suffix: str, stored: np.ndarray) -> np.ndarray:
    """The inverse of `pack`: PyTorch's out x in x kh x kw layout without the padding."""
    if suffix != "weight":
        return stored
    channels = attrs.out_channels
    taps = stored.transpose(0, 2, 1).reshape(-1, stored.shape[1])[:channels]
    return np.ascontiguousarray(taps.reshape(channels, input_shape[0], *attrs.kernel))


def weight_index(k, taps: int):
    """The stored position of (output channel, tap) as a function of IR values."""
    def position(channel, tap):
        block, lane = k.b.udiv(channel, k.add(BLOCK)), k.b.urem(channel, k.add(BLOCK))
        return k.add(k.mul(k.add(k.mul(block, taps), tap), BLOCK), lane)
    return position


def accumulators(width: int) -> int:
    """Vector accumulators a register tile may hold: as many as the vector registers allow
    (32 with AVX-512, 16 otherwise) after the operands."""
    return 24 if width >= 16 else 12


def fixed_tile(layer, width: int) -> tuple[str, int, int]:
    """The tile by a fixed rule: each schedule's own rule, and lanes where it applies
    (see LANES_SHARE and LANES_TAPS)."""
    budget = accumulators(width)
    rows = ("rows", *conv_rows.fixed_tile(layer, width, budget))
    if not conv_lanes.applies(layer, width) or layer.input_shape[0] * prod(layer.attrs.kernel) < LANES_TAPS:
        return rows
    lanes = ("lanes", *conv_lanes.fixed_tile(layer, width, budget))
    return lanes if useful_share(layer, width, lanes) >= LANES_SHARE * useful_share(layer, width, rows) else rows


def useful_share(layer, width: int, tile) -> float:
    schedule, *shape = tile
    return SCHEDULES[schedule].useful_share(layer, width, tuple(shape))


def valid_tile(layer, width: int, tile) -> bool:
    """Whether `tile` names a schedule, fits the layer (see each schedule's `fits`) and the
    accumulator budget."""
    if not isinstance(tile, tuple) or len(tile) != 3 or tile[0] not in SCHEDULES:
        return False
    shape = tile[1:]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape):
        return False
    return shape[0] * shape[1] <= accumulators(width) and SCHEDULES[tile[0]].fits(layer, width, shape)


def candidate_tiles(layer, width: int) -> tuple[tuple[str, int, int], ...]:
    """The fixed rule's tile and a few around it in each schedule that applies, for an
    autotuner to time."""
    budget = accumulators(width)
    shapes = [fixed_tile(layer, width)]
    for schedule, module in SCHEDULES.items():
        if schedule == "rows" or conv_lanes.applies(layer, width):
            shapes += [(schedule, *shape) for shape in module.candidate_tiles(layer, width, budget)]
    return tuple(dict.fromkeys(shape for shape in shapes if valid_tile(layer, width, shape)))


def describe_tile(tile) -> str:
    """A tile as `netspec tune` shows it: rows:6x4, lanes:6x4."""
    schedule, first, second = tile
    return f"{schedule}:{first}x{second}"


def tile_shape(c) -> tuple[str, int, int]:
    """The layer's register tile: the one chosen for it (LayerCode.tile), else the fixed rule's."""
    if c.tile is None:
        return fixed_tile(c.layer, c.vector_width)
    if not valid_tile(c.layer, c.vector_width, c.tile):
        raise ValueError(f"tile {c.tile} does not fit conv layer {c.layer.node.name}")
    return c.tile


def scratch_floats(layer) -> int:
    """Enough for either schedule at any vector width, so the tile chosen does not change the plan."""
    return max(conv_rows.scratch_floats(layer), conv_lanes.scratch_floats(layer, BLOCK))


def lower(c) -> None:
    schedule, *shape = tile_shape(c)
    taps = prod(c.layer.input_shape[:1]) * prod(c.attrs.kernel)
    SCHEDULES[schedule].lower(c, tuple(shape), weight_index(c.k, taps))


KERNELS = {"conv": KernelDef(lower=lower, scratch_floats=scratch_floats, fuses_activation=True, divisible=True,
                             packing=Packing(stored_shape, pack, unpack))}
