"""Loop-nest helpers shared by the lowerings of several layer kinds."""
from __future__ import annotations

from contextlib import contextmanager
from math import prod

from ..builder import LayerCode, index


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


@contextmanager
def _taken_tickets(c: LayerCode, count: int):
    """The loop over the pieces of this example's work that this thread takes tickets for
    (see `builder.Tickets`): example n's pieces are tickets [n * count, (n + 1) * count),
    so a ticket past them waits in the slot for the next example."""
    k, share = c.k, c.tickets
    b = k.b
    condition, body, end = (k.function.append_basic_block(k.name(f"ticket.{part}")) for part in ("cond", "body", "end"))
    b.branch(condition)
    b.position_at_end(condition)
    ticket = b.load(share.ticket)
    first = k.mul(share.example, count)
    b.cbranch(b.icmp_signed("<", ticket, k.add(first, count)), body, end)
    b.position_at_end(body)
    yield b.sub(ticket, first)
    b.store(b.atomic_rmw("add", share.counter, index(1), "monotonic"), share.ticket)
    b.branch(condition)
    b.position_at_end(end)


# The pieces a divisible layer is cut into at least (where it allows), for threads dividing
# one example to take by ticket: a thread slowed by another process takes fewer, and even
# a layer of 64 channels (one tile of four 16-channel vectors) is shared.
PIECES = 16


def share_of(c: LayerCode, var: str, count: int):
    """A loop over `count` pieces of a layer's work (tiles of output channels, panels of
    outputs): all of them, or, when threads divide the layer, those this thread takes."""
    return _taken_tickets(c, count) if c.tickets else c.k.loop(var, 0, count)


@contextmanager
def channels_of_share(c: LayerCode, channels: int):
    """A loop over the channels this thread does: all of them, or, when threads divide the
    layer, those of the pieces of channels (at least PIECES of them) it takes."""
    k = c.k
    group = max(1, channels // PIECES)
    with share_of(c, "piece", -(-channels // group)) as piece, \
            k.loop("c", k.mul(piece, group), k.smin(k.mul(k.add(piece, 1), group), channels)) as channel:
        yield channel
