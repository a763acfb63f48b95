"""The barrier that threads sharing one example's layers wait at between layers, in LLVM IR.

State: three i64 words shared by the threads, zero at first: how many have arrived,
the generation (how many times all have), and the ticket counter of a divided layer
(see `builder.Tickets`), which the barrier resets for the next layer.
"""
from __future__ import annotations

from llvmlite import ir

from . import jit
from .builder import I32, I64, index

BARRIER = "netspec.barrier"
ARRIVED, GENERATION, TICKETS = 0, 1, 2
STATE_WORDS = 3
# Spins between yields of the processor: a wait at a barrier between two layers is
# usually a few microseconds, but a thread descheduled by the system must not be
# spun against for a whole time slice.
SPINS = 2000


def barrier_function(module: ir.Module) -> ir.Function:
    """`netspec.barrier(state, parts)`: returns once `parts` threads have called it (at
    once: parts <= 1). A sense-reversing barrier: the last thread to arrive resets the
    count and the tickets, then bumps the generation the others spin on."""
    existing = module.globals.get(BARRIER)
    if existing is not None:
        return existing
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [ir.PointerType(I64), I64]), BARRIER)
    function.linkage = "internal"
    # Called after every layer: inlined, its spin loop would be optimized and compiled once
    # per layer (a fifth of GoogLeNet's compile time), for the saving of a call per layer.
    function.attributes.add("noinline")
    state, parts = function.args
    state.name, parts.name = "state", "parts"
    blocks = {name: function.append_basic_block(f"barrier.{name}") for name in ("entry", "arrive", "last", "done")}
    b = ir.IRBuilder(blocks["entry"])
    arrived_slot, generation_slot, tickets_slot = (b.gep(state, [index(word)], inbounds=True)
                                                   for word in (ARRIVED, GENERATION, TICKETS))
    b.cbranch(b.icmp_signed("<=", parts, index(1)), blocks["last"], blocks["arrive"])

    b.position_at_end(blocks["arrive"])
    generation = b.load_atomic(generation_slot, "acquire", 8)
    arrived = b.atomic_rmw("add", arrived_slot, index(1), "acq_rel")
    waits = function.append_basic_block("barrier.wait")
    b.cbranch(b.icmp_signed("==", arrived, b.sub(parts, index(1))), blocks["last"], waits)

    b.position_at_end(blocks["last"])
    b.store_atomic(index(0), arrived_slot, "monotonic", 8)
    b.store_atomic(index(0), tickets_slot, "monotonic", 8)
    b.store_atomic(b.add(b.load_atomic(generation_slot, "monotonic", 8), index(1)), generation_slot, "release", 8)
    b.branch(blocks["done"])

    b.position_at_end(waits)
    spin_until(module, b, function, "barrier.spin",
               lambda b: b.icmp_signed("!=", b.load_atomic(generation_slot, "acquire", 8), generation))
    b.branch(blocks["done"])

    b.position_at_end(blocks["done"])
    b.ret_void()
    return function


def spin_until(module: ir.Module, b: ir.IRBuilder, function: ir.Function, name: str, ready, limit=None):
    """Spin, pausing and yielding the processor every SPINS rounds, until `ready(b)` (an
    i1 built afresh each round) is true, or for `limit` rounds (an i64) when given. The
    builder is left where it is true; returns the block reached on the limit, or None."""
    start = b.block
    loop, wait, done = (function.append_basic_block(f"{name}.{part}") for part in ("loop", "wait", "done"))
    b.branch(loop)
    b.position_at_end(loop)
    spins = b.phi(I64, f"{name}.spins")
    spins.add_incoming(index(0), start)
    b.cbranch(ready(b), done, wait)
    b.position_at_end(wait)
    pause(module, b)
    following = b.add(spins, index(1))
    with b.if_then(b.icmp_signed("==", b.srem(following, index(SPINS)), index(0))):
        b.call(declare(module, "sched_yield", I32), [])
    spins.add_incoming(following, b.block)
    given_up = None
    if limit is None:
        b.branch(loop)
    else:
        given_up = function.append_basic_block(f"{name}.limit")
        b.cbranch(b.icmp_signed("<", following, index(limit)), loop, given_up)
    b.position_at_end(done)
    return given_up


def declare(module: ir.Module, name: str, result: ir.Type) -> ir.Function:
    return module.globals.get(name) or ir.Function(module, ir.FunctionType(result, []), name)


def pause(module: ir.Module, b: ir.IRBuilder) -> None:
    """The x86 spin-wait hint (it lets the other thread of a core run, and saves power)."""
    if jit.target_machine().triple.startswith(("x86_64", "i686", "i386")):
        b.call(declare(module, "llvm.x86.sse2.pause", ir.VoidType()), [])
