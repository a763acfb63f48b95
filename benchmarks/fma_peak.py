"""The core's float32 FMA peak, measured: a generated loop of register-only fused multiply-adds.

The loop keeps `CHAINS` independent accumulators of the host's widest float vector, so
that the FMA units never wait for a result (latency 4 cycles × 2 units needs at least 8
chains); it touches no memory, so it runs at the instruction throughput the core allows.
"""
from __future__ import annotations

import ctypes
import threading
import time

from llvmlite import ir

from netspec.backends.llvm import jit

CHAINS = 12
UNROLL = 4  # loop bodies per branch: the loop counter and branch stay off the FMA ports
ROUNDS = 6

_F32 = ir.FloatType()
_I64 = ir.IntType(64)


def fma_loop_ir(width: int, chains: int = CHAINS) -> str:
    """`float fma_loop(i64 steps, float scale, float step)`: steps × UNROLL × chains FMAs
    acc = acc * scale + step on <width x float>, returning a lane of their sum so that none
    of them is dead code. scale and step are arguments so the compiler cannot fold them."""
    vector = ir.VectorType(_F32, width)
    module = ir.Module(name="fma_peak")
    fma = ir.Function(module, ir.FunctionType(vector, [vector] * 3), f"llvm.fma.v{width}f32")
    function = ir.Function(module, ir.FunctionType(_F32, [_I64, _F32, _F32]), "fma_loop")
    steps, scale_argument, step_argument = function.args
    entry, body, done = (function.append_basic_block(name) for name in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    scale, step = (b.shuffle_vector(b.insert_element(ir.Constant(vector, None), value, ir.Constant(ir.IntType(32), 0)),
                                    ir.Constant(vector, None), ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width))
                   for value in (scale_argument, step_argument))
    b.branch(body)
    b.position_at_end(body)
    counter = b.phi(_I64, "step")
    counter.add_incoming(ir.Constant(_I64, 0), entry)
    phis = [b.phi(vector, f"acc{i}") for i in range(chains)]
    for i, phi in enumerate(phis):
        phi.add_incoming(ir.Constant(vector, [float(i)] * width), entry)
    values = list(phis)
    for _ in range(UNROLL):
        values = [b.call(fma, [value, scale, step]) for value in values]
    following = b.add(counter, ir.Constant(_I64, 1))
    for phi, value in zip(phis, values):
        phi.add_incoming(value, b.block)
    counter.add_incoming(following, b.block)
    b.cbranch(b.icmp_signed("<", following, steps), body, done)
    b.position_at_end(done)
    total = values[0]
    for value in values[1:]:
        total = b.fadd(total, value)
    b.ret(b.extract_element(total, ir.Constant(ir.IntType(32), 0)))
    return str(module)


class FmaLoop:
    """The compiled loop for this host; calling it releases the GIL (ctypes)."""

    def __init__(self):
        self.width = jit.host_vector_width()
        self._compiled = jit.compile_object(f"fma peak {self.width} x {CHAINS} x {UNROLL}",
                                            lambda: fma_loop_ir(self.width), "fma_loop")
        signature = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64, ctypes.c_float, ctypes.c_float)
        self._function = signature(self._compiled.address)

    def flops(self, steps: int) -> int:
        return 2 * self.width * CHAINS * UNROLL * steps

    def __call__(self, steps: int) -> float:
        # acc * 1 + 1e-7: the values stay finite and normal however long the loop runs
        return self._function(steps, 1.0, 1e-7)


def fma_peak(threads: int, seconds: float = 0.6) -> float:
    """GFLOP/s of `threads` threads each running the FMA loop at once (the best of ROUNDS
    rounds: other processes on the cores can only make a round slower)."""
    loop = FmaLoop()
    steps = 1 << 16
    while True:  # calibrate, then size a round to `seconds / ROUNDS`
        start = time.perf_counter()
        loop(steps)
        elapsed = time.perf_counter() - start
        if elapsed > 0.01:
            break
        steps *= 2
    steps = int(steps * seconds / ROUNDS / elapsed)
    best = 0.0
    for _ in range(ROUNDS):
        workers = [threading.Thread(target=loop, args=(steps,)) for _ in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        best = max(best, threads * loop.flops(steps) / (time.perf_counter() - start) / 1e9)
    return best

if __name__ == "__main__":
    for count in (1, 2):
        print(f"FMA peak on {count} thread{'s' * (count > 1)}: {fma_peak(count):.0f} GFLOP/s")
