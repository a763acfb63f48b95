"""Convolution as loop nests: the choice of schedule and register tile for each layer.

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

from . import KernelDef, Packing, conv_lanes, conv_rows
from .conv_weights import BLOCK, pack, stored_shape, unpack


SCHEDULES = {"rows": conv_rows, "lanes": conv_lanes}

# Measured per layer on ResNet-18, GoogLeNet and VGG-11, lanes run every convolution it
# applies to at least as fast as rows (up to 2.3x on 3x3 maps), so it is preferred unless
# its last tiles redo this much more of the work than the wide rows waste, or the layer
# has fewer taps (input channels x kernel) than LANES_TAPS: lanes store and transpose
# each tile's results, a cost paid per tile that a short sum does not repay (VGG-11's
# first layer, 9 taps, runs at half the speed of rows).
# Lanes' code is half again the size of rows' (the transposition, a window per position),
# which costs compile time; below LANES_MACS multiply-adds per example the time it saves
# is about a microsecond per example (LeNet-5's second layer, 0.24 M: 1 us of a 10 us
# call, for 65 ms more of compiling). Above, it pays even on small layers (GoogLeNet's
# 1x1 convolutions of 0.3-0.6 M: 1.1-2x rows).
LANES_SHARE = 0.9
LANES_TAPS = 32
LANES_MACS = 256_000


def accumulators(width: int) -> int:
    """Vector accumulators a register tile may hold: as many as the vector registers allow
    (32 with AVX-512, 16 otherwise) after the operands."""
    return 24 if width >= 16 else 12


def fixed_tile(layer, width: int) -> tuple[str, int, int]:
    """The tile by a fixed rule: each schedule's own rule, and lanes where it applies
    (see LANES_SHARE, LANES_TAPS and LANES_MACS)."""
    budget = accumulators(width)
    rows = ("rows", *conv_rows.fixed_tile(layer, width, budget))
    taps = layer.input_shape[0] * prod(layer.attrs.kernel)
    if not conv_lanes.applies(layer, width) or taps < LANES_TAPS or taps * prod(layer.output_shape) < LANES_MACS:
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


def tile_shape(layer, width: int, tile) -> tuple[str, int, int]:
    """The layer's register tile: the one chosen for it (LayerCode.tile), else the fixed rule's."""
    if tile is None:
        return fixed_tile(layer, width)
    if not valid_tile(layer, width, tile):
        raise ValueError(f"tile {tile} does not fit conv layer {layer.node.name}")
    return tile


def scratch_floats(layer) -> int:
    """Enough for either schedule at any vector width, so the tile chosen does not change the plan."""
    return max(conv_rows.scratch_floats(layer), conv_lanes.scratch_floats(layer, BLOCK))


def shared_code(layer, width: int, tile):
    """The code the layer's schedule shares with other layers (see KernelDef.shared_code)."""
    schedule, *shape = tile_shape(layer, width, tile)
    return SCHEDULES[schedule].shared_code(layer, width, tuple(shape))


def lower(c) -> None:
    schedule, *shape = tile_shape(c.layer, c.vector_width, c.tile)
    SCHEDULES[schedule].lower(c, tuple(shape))


KERNELS = {"conv": KernelDef(lower=lower, scratch_floats=scratch_floats, fuses_activation=True, divisible=True,
                             packing=Packing(stored_shape, pack, unpack), shared_code=shared_code)}
