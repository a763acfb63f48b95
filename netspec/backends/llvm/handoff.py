"""Handing a share of a call to a pool thread in native code, without waking a Python thread.

A pool thread that has run a share of a call stays in `netspec.serve` for a moment,
spinning on its block of eight-byte words: a caller that `netspec.claim`s the block
while it is awake writes the next share there with `netspec.post` and waits for it
with `netspec.finish`, a hand-off of about a microsecond, where waking a Python
thread costs 20-50 us (more than a small network's whole call). A thread that waits
SERVE_SPINS spins in vain gives the block up and returns to Python, so an idle model
burns no processor; the caller then submits the share to the pool as before.

A call whose servers are all awake hands its shares out with `netspec.share_out`: it
claims the blocks, posts the shares, runs its own and waits for the others in one
native call (from Python, each of those steps would cost a microsecond).

Block words: AWAKE (0: no server, 1: a server spins, 2: claimed by a caller), JOB and
DONE (shares posted and finished), then the share: MODE (0: a slice of the batch on
the server's own workspace; 1: a part of a divided call on the caller's workspace
and barrier), INPUT, OUTPUT, COUNT, WORKSPACE, BARRIER, PART, PARTS.
"""
from __future__ import annotations

from llvmlite import ir

from .barrier import spin_until
from .builder import F32_PTR, I64, KernelBuilder, index

AWAKE, JOB, DONE, MODE, INPUT, OUTPUT, COUNT, WORKSPACE, BARRIER, PART, PARTS = range(11)
BLOCK_WORDS = 16  # a block per pool thread, each on cache lines of its own
SLICE, PART_OF_CALL = 0, 1
# How long a server spins for the next share before it returns to Python (a few
# hundred microseconds): long enough for back-to-back calls, short enough to idle.
SERVE_SPINS = 20_000
SERVE, CLAIM, RELEASE, POST, FINISH, SHARE_OUT = "netspec.serve", "netspec.claim", "netspec.release", \
    "netspec.post", "netspec.finish", "netspec.share_out"
NO_SERVER, SERVING, CLAIMED = 0, 1, 2


def _word(b: ir.IRBuilder, block, number: int):
    return b.gep(block, [index(number)], inbounds=True)


def _load(b, block, number: int, ordering: str = "monotonic"):
    return b.load_atomic(_word(b, block, number), ordering, 8)


def _store(b, value, block, number: int, ordering: str = "monotonic") -> None:
    b.store_atomic(value, _word(b, block, number), ordering, 8)


def handoff_functions(module: ir.Module, forward: ir.Function) -> None:
    """Define serve, claim, release (a claim not used), post and finish (see the module's
    docstring) beside `forward`."""
    block_type = ir.PointerType(I64)
    _serve(module, forward, block_type)

    # claim(block) -> AWAKE as it was: 1 and now claimed, 0 (no server) or 2 (busy)
    claim = ir.Function(module, ir.FunctionType(I64, [block_type]), CLAIM)
    b = ir.IRBuilder(claim.append_basic_block("claim"))
    exchanged = b.cmpxchg(_word(b, claim.args[0], AWAKE), index(1), index(2), "acq_rel", "monotonic")
    b.ret(b.extract_value(exchanged, 0))

    release = ir.Function(module, ir.FunctionType(ir.VoidType(), [block_type]), RELEASE)
    b = ir.IRBuilder(release.append_basic_block("release"))
    _store(b, index(1), release.args[0], AWAKE, "release")
    b.ret_void()

    post = ir.Function(module, ir.FunctionType(I64, [block_type] + [I64] * 8), POST)
    block, *share = post.args
    b = ir.IRBuilder(post.append_basic_block("post"))
    for number, value in zip((MODE, INPUT, OUTPUT, COUNT, WORKSPACE, BARRIER, PART, PARTS), share):
        _store(b, value, block, number)
    b.ret(b.add(b.atomic_rmw("add", _word(b, block, JOB), index(1), "release"), index(1)))

    finish = ir.Function(module, ir.FunctionType(ir.VoidType(), [block_type, I64]), FINISH)
    block, job = finish.args
    b = ir.IRBuilder(finish.append_basic_block("finish"))
    spin_until(module, b, finish, "finish", lambda b: b.icmp_signed(">=", _load(b, block, DONE, "acquire"), job))
    b.ret_void()
    _share_out(module, forward, claim, release, post, finish)


def _serve(module: ir.Module, forward: ir.Function, block_type) -> None:
    """serve(block, weights, workspace, scratch, barrier, spins): become the block's
    server (unless it has one), then run the shares posted to it until `spins` spins
    pass without one."""
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [block_type, F32_PTR, F32_PTR, F32_PTR,
                                                                   block_type, I64]), SERVE)
    block, weights, workspace, scratch, barrier, limit = function.args
    b = ir.IRBuilder(function.append_basic_block("serve"))
    became = b.cmpxchg(_word(b, block, AWAKE), index(0), index(1), "acq_rel", "monotonic")
    outer, run, leave = (function.append_basic_block(f"serve.{part}") for part in ("next", "run", "leave"))
    b.cbranch(b.extract_value(became, 1), outer, leave)

    b.position_at_end(outer)
    done = _load(b, block, DONE, "acquire")

    def posted(b):
        return b.icmp_signed("!=", _load(b, block, JOB, "acquire"), done)

    given_up = spin_until(module, b, function, "serve.wait", posted, limit)
    b.branch(run)
    # Spun in vain: give the block up, unless a caller claimed it meanwhile (its share is coming).
    b.position_at_end(given_up)
    released = b.cmpxchg(_word(b, block, AWAKE), index(1), index(0), "acq_rel", "monotonic")
    hold = function.append_basic_block("serve.hold")
    b.cbranch(b.extract_value(released, 1), leave, hold)
    b.position_at_end(hold)
    spin_until(module, b, function, "serve.hold", posted)
    b.branch(run)

    b.position_at_end(run)
    # Only the caller that claimed the block posts to it, and only once before DONE catches up.
    job = _load(b, block, JOB, "acquire")
    _run_share(b, forward, block, weights, workspace, scratch, barrier)
    _store(b, index(1), block, AWAKE, "release")
    _store(b, job, block, DONE, "release")
    b.branch(outer)

    b.position_at_end(leave)
    b.ret_void()


def _run_share(b, forward: ir.Function, block, weights, workspace, scratch, barrier) -> None:
    """forward() on the posted share: a slice on this thread's own workspace and barrier,
    or a part of a divided call on the caller's."""
    def pointer(number: int, kind):
        return b.inttoptr(_load(b, block, number), kind)

    source, target, count = pointer(INPUT, F32_PTR), pointer(OUTPUT, F32_PTR), _load(b, block, COUNT)
    divided = b.icmp_signed("==", _load(b, block, MODE), index(PART_OF_CALL))
    shared_workspace = b.select(divided, pointer(WORKSPACE, F32_PTR), workspace)
    shared_barrier = b.select(divided, pointer(BARRIER, barrier.type), barrier)
    part = b.select(divided, _load(b, block, PART), index(0))
    parts = b.select(divided, _load(b, block, PARTS), index(1))
    b.call(forward, [source, weights, target, count, shared_workspace, scratch, part, parts, shared_barrier])



def _share_out(module: ir.Module, forward: ir.Function, claim, release, post, finish) -> None:
    """share_out(blocks, servers, input, weights, output, count, workspace, scratch, barrier,
    share, input_floats, output_floats) -> 1 when the call was done, 0 (having done nothing)
    when a server was not awake. `share` 0: the call divided between this thread and
    `servers` servers (part i + 1 to the server of block i); else slices of `share`
    examples (of `input_floats` and `output_floats` floats each), the first one here and
    the others to the servers of the first blocks (count <= share * (servers + 1))."""
    block_type = ir.PointerType(I64)
    function = ir.Function(module, ir.FunctionType(I64, [block_type, I64, F32_PTR, F32_PTR, F32_PTR, I64, F32_PTR,
                                                         F32_PTR, block_type, I64, I64, I64]), SHARE_OUT)
    (blocks, servers, source, weights, target, count, workspace, scratch, barrier, share, input_floats,
     output_floats) = function.args
    k = KernelBuilder(function, "share_out")
    b = k.b
    divided = b.icmp_signed("==", share, index(0))
    step = b.select(divided, index(1), share)
    used = b.select(divided, servers, b.sub(b.sdiv(b.add(count, b.sub(step, index(1))), step), index(1)))
    parts = b.select(divided, b.add(servers, index(1)), index(1))
    refused = function.append_basic_block("share_out.refused")

    def block_of(i):
        return b.gep(blocks, [b.mul(i, index(BLOCK_WORDS))], inbounds=True)

    with k.loop("claim", 0, used) as claimed:  # refused at block `claimed`: the ones before it are claimed
        taken = function.append_basic_block("share_out.taken")
        b.cbranch(b.icmp_signed("==", b.call(claim, [block_of(claimed)]), index(SERVING)), taken, refused)
        b.position_at_end(taken)
    with k.loop("post", 0, used) as i:
        first = b.mul(b.add(i, index(1)), share)  # 0 when divided: every part reads the whole call

        def at(pointer, floats):
            return b.ptrtoint(b.gep(pointer, [b.mul(first, floats)], inbounds=True), I64)

        b.call(post, [block_of(i), b.select(divided, index(PART_OF_CALL), index(SLICE)),
                      at(source, input_floats), at(target, output_floats),
                      b.select(divided, count, b.sub(k.smin(b.add(first, share), count), first)),
                      b.ptrtoint(workspace, I64), b.ptrtoint(barrier, I64),
                      b.select(divided, b.add(i, index(1)), index(0)), parts])
    b.call(forward, [source, weights, target, b.select(divided, count, k.smin(share, count)), workspace, scratch,
                     index(0), parts, barrier])
    with k.loop("finish", 0, used) as i:
        b.call(finish, [block_of(i), _load(b, block_of(i), JOB)])
    b.ret(index(1))

    b.position_at_end(refused)  # give back the blocks claimed before the one refused
    with k.loop("release", 0, claimed) as i:
        b.call(release, [block_of(i)])
    b.ret(index(0))
