"""Loop-nest helpers shared by the lowerings of several layer kinds."""
from __future__ import annotations

from math import prod

from ..builder import LayerCode


def copy_padded(c: LayerCode, channels: int, height: int, width: int, padding, fill: float, extra: int = 0):
    """Copy the CxHxW input into scratch with `padding` added around each channel,
    the border (and `extra` floats after the end) filled with `fill`; returns the
    padded height and width."""
    k = c.k
    padded_h, padded_w = height + padding.rows, width + padding.columns
    k.fill("pad.i", c.scratch, channels * padded_h * padded_w + extra, fill)
    with k.loop("pad.c", 0, channels) as ch:
        with k.loop("pad.h", 0, height) as h:
            source_row = k.offset((ch, h), (height * width, width))
            target_row = k.offset((ch, k.add(h, padding.top), padding.left), (padded_h * padded_w, padded_w, 1))
            with k.loop("pad.w", 0, width) as w:
                k.store(k.load(c.source, k.add(source_row, w)), c.scratch, k.add(target_row, w))
    return padded_h, padded_w


def map_elements(c: LayerCode, count: int, function) -> None:
    """target[i] = function(source[i]) for i < count."""
    k = c.k
    with k.loop("i", 0, count) as i:
        k.store(function(k, k.load(c.source, i)), c.target, i)


def copy_input(c: LayerCode) -> None:
    """target = source (for identity layers the plan could not turn into views)."""
    map_elements(c, prod(c.layer.input_shape), lambda k, x: x)


def activate_rows(c: LayerCode, rows, length: int) -> None:
    """Apply the fused activation (if any) to target[0 : rows * length] in place,
    a vector at a time: one copy of the activation's code per function."""
    if not c.fused:
        return
    k, width = c.k, c.vector_width
    whole = length - length % width
    with k.loop("act.row", 0, rows) as row:
        start = k.mul(row, length)
        with k.loop("act", 0, whole, step=width) as column:
            position = k.add(start, column)
            k.vstore(c.activate(k.vload(c.target, position, width)), c.target, position)
        if whole < length:
            position = k.add(start, whole)
            value = c.activate(k.vload(c.target, position, width, length - whole))
            k.vstore(value, c.target, position, length - whole)
