"""Loop-nest helpers shared by the lowerings of several layer kinds."""
from __future__ import annotations

from contextlib import contextmanager
from math import prod

from llvmlite import ir

from ..builder import F32_PTR, I64, Buffer, KernelBuilder, LayerCode, index


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
def channel_range_of_share(c: LayerCode, channels: int):
    """The range [first, stop) of channels of each piece this thread does: all of them, or,
    when threads divide the layer, those of the pieces of channels (at least PIECES of
    them) it takes."""
    k = c.k
    group = max(1, channels // PIECES)
    with share_of(c, "piece", -(-channels // group)) as piece:
        yield k.mul(piece, group), k.smin(k.mul(k.add(piece, 1), group), channels)


@contextmanager
def channels_of_share(c: LayerCode, channels: int):
    """A loop over the channels this thread does (see `channel_range_of_share`)."""
    with channel_range_of_share(c, channels) as (first, stop), c.k.loop("c", first, stop) as channel:
        yield channel


# The kind of a shared function's argument that is a buffer: passed as its pointer (noalias)
# and its extent (`NAME.floats`), which bounds-checked code tests accesses against.
BUFFER = "buffer"


def shared_function(module: ir.Module, name: str, arguments: dict, guarded: bool, build) -> ir.Function:
    """The module's function `name`, of `arguments` (name -> an IR type or BUFFER), its body
    written by `build(k, *arguments)` the first time it is asked for: code that the
    functions of several layers call (see `call_shared`), so that it is compiled once per
    module. Internal and never inlined (inlined, it would be compiled once per caller again)."""
    function = module.globals.get(name)
    if function is not None:
        return function
    types = [t for kind in arguments.values() for t in ((F32_PTR, I64) if kind == BUFFER else (kind,))]
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), types), name)
    function.linkage = "internal"
    function.attributes.add("noinline")
    given, values = iter(function.args), []
    for argument_name, kind in arguments.items():
        value = next(given)
        value.name = argument_name
        if kind == BUFFER:
            value.add_attribute("noalias")
            extent = next(given)
            extent.name = f"{argument_name}.floats"
            value = Buffer(value, extent)
        values.append(value)
    k = KernelBuilder(function, name, guarded)
    build(k, *values)
    k.b.ret_void()
    return function


def call_shared(k: KernelBuilder, function: ir.Function, *arguments) -> None:
    """Call a shared function (see `shared_function`): a Buffer as its pointer and extent."""
    flat = [value for argument in arguments
            for value in ((argument.pointer, index(argument.extent)) if isinstance(argument, Buffer) else (index(argument),))]
    k.b.call(function, flat)
