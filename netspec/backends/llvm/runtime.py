"""Compiled networks called on numpy arrays.

Every shape, dtype and layout is checked here, in Python, before generated code
runs: the generated loops trust their static shapes and never check bounds.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from math import prod

import numpy as np

from ...check import ShapedGraph
from ...errors import DataError
from ...ir import format_shape
from ...interop.binding import resolve
from . import handoff, jit
from .barrier import STATE_WORDS
from .buffers import aligned_copy, aligned_zeros
from .builder import OUT_OF_BOUNDS
from .codegen import ENTRY, Tiles, canonical_form, llvm_ir
from .layout import weight_layout
from .memory import default_limit, require_memory
from .plan import memory_plan
from .rewrite import rewrite_for_inference
from .kernels.conv import valid_tile
from .tuning import tuned_layers, tuned_tiles

# forward(input, weights, output, batch, workspace, scratch, part, parts, barrier)
_FORWARD = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                            ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)
# The hand-off functions beside it (see `handoff`); ctypes releases the GIL while they run.
_HANDOFF = {
    handoff.SERVE: ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 5, ctypes.c_int64),
    handoff.CLAIM: ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p),
    handoff.RELEASE: ctypes.CFUNCTYPE(None, ctypes.c_void_p),
    handoff.POST: ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, *[ctypes.c_int64] * 8),
    handoff.FINISH: ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64),
    handoff.SHARE_OUT: ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, *[ctypes.c_void_p] * 3,
                                        ctypes.c_int64, *[ctypes.c_void_p] * 3, *[ctypes.c_int64] * 3),
}


def accepted_input_shapes(graph: ShapedGraph) -> list[tuple[int, ...]]:
    shape = graph.input_shape
    single_channel_image = [shape[1:]] if len(shape) == 3 and shape[0] == 1 else []
    return [(-1, *shape), shape, *single_channel_image]


def describe_input_shapes(graph: ShapedGraph) -> str:
    return " or ".join("Nx" + format_shape(s[1:]) if s[0] == -1 else format_shape(s)
                       for s in accepted_input_shapes(graph))


def _address(array: np.ndarray) -> int:
    """Where an array's data starts. Through ctypes' buffer protocol when the array is
    writable: a third of the time of `array.ctypes.data`, which matters for small calls."""
    if array.flags.writeable:
        return ctypes.addressof(ctypes.c_byte.from_buffer(array))
    return array.ctypes.data


def as_batch(graph: ShapedGraph, x) -> tuple[np.ndarray, list[str]]:
    """The input as a C-contiguous float32 N x (input shape) array, plus notes on conversions made."""
    if (type(x) is np.ndarray and x.dtype == np.float32 and x.shape[1:] == graph.input_shape
            and x.ndim == len(graph.input_shape) + 1 and x.shape[0] > 0 and x.flags.c_contiguous):
        return x, []  # the common case, checked first because small calls are dominated by overhead
    notes = []
    array = np.asarray(x)
    if array.dtype.kind != "f":
        raise DataError(f"input has dtype {array.dtype}; expected float32 (float16 and float64 are converted)")
    if array.dtype != np.float32:
        notes.append(f"input converted from {array.dtype} to float32")
    shape = graph.input_shape
    if array.ndim == len(shape) + 1 and array.shape[1:] == shape:
        batch = array
    elif array.shape == shape:
        batch = array[None]
    elif len(shape) == 3 and shape[0] == 1 and array.shape == shape[1:]:
        batch = array[None, None]
    else:
        raise DataError(f"input has shape {format_shape(array.shape)}; network {graph.name} expects "
                        f"{describe_input_shapes(graph)}")
    if batch.shape[0] == 0:
        raise DataError("input batch is empty (N = 0)")
    return np.ascontiguousarray(batch, dtype=np.float32), notes


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Compile time grows with the number of layers; past this a spec is surely not a CNN to run.
MAX_LAYERS = 5000

# A thread gets at least this much work (multiply-accumulates plus tensor
# elements; LeNet-5 is about 0.43 million per example): below that, handing work
# to another thread costs more than it saves. A share handed to a pool thread that
# must first be woken in Python (20-50 us) needs MIN_WORK_PER_THREAD; one posted to
# a server already spinning (about a microsecond, see `handoff`) needs MIN_WORK_HANDED.
MIN_WORK_PER_THREAD = 6_000_000
MIN_WORK_HANDED = 100_000
# STREAM_CALLS small calls each within STREAM_GAP seconds of the one before (while a
# server would still be spinning, see handoff.SERVE_SPINS) are a stream, worth waking
# the pool for.
STREAM_CALLS, STREAM_GAP = 8, 0.0002


# A network is compiled in up to this many parts at once (one per core); a bounds-checked
# build is compiled whole (its one violation counter would be defined in every part).
MAX_COMPILE_PARTS = 4


def parts_to_compile(bounds_check: bool) -> int:
    return 1 if bounds_check else min(available_cores(), MAX_COMPILE_PARTS)


class DivisionChoice:
    """Whether to divide a call's examples between threads layer by layer, decided by
    how fast each way has been: the threads wait for each other after every layer, so a
    thread whose core another process is using slows them all, and one thread alone is
    then faster. Keeps an estimate of seconds per example for each way, uses the faster,
    and tries the other now and then in case the machine has changed: after EXPLORE
    calls, and after twice as many each time the same way is still the faster (up to
    EXPLORE_MOST), since a try costs a slow call and, for a small call, a pool thread's
    wake-up. The first call each way (which starts threads and touches new memory) is
    not counted; a way's estimate is the fastest of its last RECENT calls (interference
    only ever slows a call down: a few slow calls change nothing, a slower machine
    shows once all of them are slow)."""

    EXPLORE, EXPLORE_MOST = 64, 1024
    RECENT = 16

    def __init__(self):
        self.recent = {way: deque(maxlen=self.RECENT) for way in (True, False)}  # seconds per example
        self.seconds: dict[bool, float | None] = {True: None, False: None}  # the estimates
        self.warm: set[bool] = set()
        self.calls = 0
        self.interval = self.EXPLORE
        self.next_try = self.EXPLORE  # the call that tries the slower way
        self.faster_at_try: bool | None = None
        self._before = None

    def divide(self) -> bool:
        self._before = (self.calls, self.interval, self.next_try, self.faster_at_try)
        self.calls += 1
        for way in (True, False):  # measure each way, dividing first
            if self.seconds[way] is None:
                return way
        faster = self.seconds[True] <= self.seconds[False]
        if self.calls < self.next_try:
            return faster
        self.interval = min(2 * self.interval, self.EXPLORE_MOST) if faster == self.faster_at_try else self.EXPLORE
        self.next_try, self.faster_at_try = self.calls + self.interval, faster
        return not faster

    def postpone(self) -> None:
        """The way `divide` chose could not be taken: the next call chooses as this one did."""
        self.calls, self.interval, self.next_try, self.faster_at_try = self._before

    def record(self, divided: bool, seconds: float) -> None:
        if divided not in self.warm:
            self.warm.add(divided)
            return
        self.recent[divided].append(seconds)
        self.seconds[divided] = min(self.recent[divided])


class Model:
    """A network compiled to native code with its weights; call it on a batch.

    Batches are split across `threads` threads (default: every core this process
    may use), each with its own workspace; a batch too small to split but with work
    enough for several threads (one image of a large network) is divided layer by
    layer instead: the threads share the calling thread's tensors, each computes a
    share of every convolution and dense layer, and they wait for each other between
    layers (see `DivisionChoice` for when). The GIL
    is released while generated code runs, so a model may also be called from
    several threads. `tiles` maps conv layers of the rewritten graph to the register
    tile shapes chosen for them (see `tuning`); the others get the kernel's fixed rule."""

    def __init__(self, graph: ShapedGraph, weights=None, seed: int = 0, threads: int | None = None,
                 bounds_check: bool = False, max_memory: int | None = None, tiles: Tiles | None = None):
        self.threads = threads or available_cores()
        if len(graph.layers) > MAX_LAYERS:
            raise DataError(f"network {graph.name} has {len(graph.layers)} layers; netspec compiles at most {MAX_LAYERS}")
        require_memory(graph, 1, self.threads, max_memory or default_limit())
        arrays, untrained = resolve(graph, weights, seed)
        # The code is generated for the rewritten graph (dropout gone, batchnorm folded).
        rewritten = rewrite_for_inference(graph)
        packed = weight_layout(rewritten.graph).pack(rewritten.graph, rewritten.weights(arrays))
        del arrays  # only the packed copy is kept: a large network's weights are not held twice
        self._build(graph, rewritten.graph, packed, untrained, bounds_check, tiles)

    @classmethod
    def _from_packed(cls, graph: ShapedGraph, packed: np.ndarray, untrained: bool, threads: int, bounds_check: bool,
                     tiles: Tiles | None) -> Model:
        """A model whose weights are already in the generated code's layout (sent by another
        process). Tiles tuned on the sending host that do not fit this one (a tile for 32
        vector registers on a host with 16) give way to the fixed rule's."""
        code_graph = rewrite_for_inference(graph).graph
        expected = weight_layout(code_graph).total_floats
        if packed.dtype != np.float32 or packed.shape != (expected,):
            raise DataError(f"network {graph.name} was sent with {packed.size} packed weights of {packed.dtype}; "
                            f"it has {expected} float32")
        if tiles:
            layers = {layer.node.name: layer for layer in tuned_layers(code_graph)}
            width = jit.host_vector_width()
            tiles = {name: tile for name, tile in tiles.items()
                     if name in layers and valid_tile(layers[name], width, tile)}
        model = cls.__new__(cls)
        model.threads = threads
        model._build(graph, code_graph, aligned_copy(packed), untrained, bounds_check, tiles)
        return model

    def _build(self, graph: ShapedGraph, code_graph: ShapedGraph, packed: np.ndarray, untrained: bool,
               bounds_check: bool, tiles: Tiles | None) -> None:
        """`code_graph`: the graph rewritten for inference, which the code is generated for."""
        self.graph = graph
        self.untrained = untrained
        self._weights = packed
        self._shipped = (bounds_check, tiles)  # what another process compiles it from (__reduce__)
        self._weights_address = self._weights.ctypes.data
        self._input_bytes = 4 * prod(graph.input_shape)
        self._output_bytes = 4 * prod(graph.output_shape)
        plan = memory_plan(code_graph)
        self._workspace_floats = plan.workspace_floats
        self._scratch_floats = plan.scratch_floats
        self._canonical = canonical_form(code_graph, bounds_check, tiles)
        parts = parts_to_compile(bounds_check)
        compiled = jit.compile_parts(self._canonical,
                                     lambda part: llvm_ir(code_graph, bounds_check, part, parts, tiles), parts, ENTRY)
        # A bounds-checked build counts accesses outside their buffers (a test mode).
        self._violations = None
        if bounds_check:
            address = compiled.engine.get_global_value_address(OUT_OF_BOUNDS)
            if not address:
                raise RuntimeError("bounds-checked code without its violation counter")
            self._violations = ctypes.c_int64.from_address(address)
        self._compiled = compiled  # keeps the native code alive as long as the model
        self._forward = _FORWARD(compiled.address)
        self._handoff = {name: prototype(compiled.engine.get_function_address(name))
                         for name, prototype in _HANDOFF.items()}
        # one block of hand-off words per pool thread (see `handoff`), two float32 per int64 word
        self._blocks = aligned_zeros(2 * max(self.threads - 1, 1) * handoff.BLOCK_WORDS).view(np.int64)
        self._blocks_address = self._blocks.ctypes.data
        self._awake_words = [worker * handoff.BLOCK_WORDS + handoff.AWAKE for worker in range(self.threads - 1)]
        self.compile_seconds = compiled.seconds
        self.from_cache = compiled.from_cache
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._plan_tile = plan.tile
        self._work = graph.macs + sum(prod(layer.output_shape) for layer in graph.layers)
        self._examples_per_thread = {awake: -(-least // max(self._work, 1))
                                     for awake, least in ((False, MIN_WORK_PER_THREAD), (True, MIN_WORK_HANDED))}
        self._waking: set[int] = set()  # pool threads asked to start serving, not yet started
        self._last_small_call, self._stream = -STREAM_GAP, 0  # the last call too small to wait for a wake-up
        self._division = DivisionChoice()
        self._dividing = threading.Lock()
        _MODELS.add(self)

    @property
    def input_shape(self):
        return self.graph.input_shape

    @property
    def output_shape(self):
        return self.graph.output_shape

    def _memory(self) -> tuple[int, int, int]:
        """This thread's workspace, scratch and barrier addresses: concurrent calls never
        share memory (the barrier is used by the threads a call from this thread divides into)."""
        addresses = getattr(self._local, "addresses", None)
        if addresses is None:
            self._local.workspace = aligned_zeros(self._workspace_floats + max(self._scratch_floats, 1))
            self._local.barrier = np.zeros(STATE_WORDS, dtype=np.int64)
            workspace = self._local.workspace.ctypes.data
            addresses = self._local.addresses = (workspace, workspace + 4 * self._workspace_floats,
                                                 self._local.barrier.ctypes.data)
        return addresses

    def _run_slice(self, input_address: int, output_address: int, start: int, stop: int) -> None:
        # ctypes releases the GIL for the duration of the call.
        workspace, scratch, barrier = self._memory()
        self._forward(input_address + start * self._input_bytes, self._weights_address,
                      output_address + start * self._output_bytes, stop - start, workspace, scratch, 0, 1, barrier)

    def _run_part(self, input_address: int, output_address: int, count: int, workspace: int, barrier: int,
                  part: int, parts: int) -> None:
        """Part `part` of a call divided between `parts` threads, on the caller's tensors."""
        _, scratch, _ = self._memory()
        self._forward(input_address, self._weights_address, output_address, count, workspace, scratch, part, parts,
                      barrier)

    def _slice_size(self, count: int, per_thread: int) -> int:
        """Examples per slice of [0, count) when split into one slice per thread of at least
        `per_thread` examples, cut at tile boundaries."""
        threads = max(1, min(self.threads, count // per_thread))
        tile = self._plan_tile if count >= threads * self._plan_tile else 1
        return -(-count // (threads * tile)) * tile

    def _shared_out(self, input_address: int, output_address: int, count: int, share: int) -> bool:
        """The call handed out in native code to servers all awake (`handoff.SHARE_OUT`):
        divided between the threads (`share` 0) or in slices of `share` examples. False,
        having done nothing, when a server was not awake."""
        workspace, scratch, barrier = self._memory()
        return bool(self._handoff[handoff.SHARE_OUT](
            self._blocks_address, self.threads - 1, input_address, self._weights_address, output_address, count,
            workspace, scratch, barrier, share, self._input_bytes // 4, self._output_bytes // 4))

    @property
    def out_of_bounds_accesses(self) -> int:
        """In a bounds-checked build: how many accesses fell outside their buffer so far."""
        if self._violations is None:
            raise ValueError("compile with bounds_check=True to count out-of-bounds accesses")
        return self._violations.value

    def run(self, x) -> tuple[np.ndarray, list[str]]:
        """Run on a batch and return `(outputs, notes)`: the N x output array, and a list of
        what was done to the input to make it fit (e.g. "input converted from float64 to
        float32"), empty when nothing was. `model(x)` returns the outputs alone."""
        batch, notes = as_batch(self.graph, x)
        count = batch.shape[0]
        output = np.empty((count, *self.output_shape), dtype=np.float32)
        input_address, output_address = _address(batch), _address(output)
        work = count * self._work
        if self.threads == 1 or work < 2 * MIN_WORK_HANDED:
            self._run_slice(input_address, output_address, 0, count)
            return output, notes
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads - 1, thread_name_prefix="netspec")
        # A small call is not worth waking a pool thread through Python: it runs alone when
        # no server is spinning, or when its server gave up its block since the look here.
        small = work < 2 * MIN_WORK_PER_THREAD
        awake = self._servers_awake()
        if small and not awake:
            self._run_waking(input_address, output_address, count)
            return output, notes
        per_thread = self._examples_per_thread[awake]
        if count < 2 * per_thread:
            self._run_divided(input_address, output_address, count, small)
            return output, notes
        share = self._slice_size(count, per_thread)
        if awake and self._shared_out(input_address, output_address, count, share):
            return output, notes
        if small:
            self._run_slice(input_address, output_address, 0, count)
            return output, notes
        slices = [(start, min(start + share, count)) for start in range(0, count, share)]
        waiting = []
        for worker, (start, stop) in enumerate(slices[1:]):
            state = self._handoff[handoff.CLAIM](self._block(worker))
            if state == handoff.CLAIMED:  # serving another caller of this model: this thread does the slice
                waiting.append(functools.partial(self._run_slice, input_address, output_address, start, stop))
                continue
            share = (handoff.SLICE, input_address + start * self._input_bytes,
                     output_address + start * self._output_bytes, stop - start, 0, 0, 0, 1)
            waiting.append(self._hand(worker, state, share, self._run_slice, input_address, output_address, start,
                                      stop))
        self._run_slice(input_address, output_address, *slices[0])
        for wait in waiting:
            wait()
        return output, notes

    def _run_waking(self, input_address: int, output_address: int, count: int) -> None:
        """A call with too little work to wait for a pool thread's Python wake-up: this
        thread runs it alone. Once STREAM_CALLS such calls have come back to back, the
        pool threads are then woken to serve their blocks, so that the calls after it
        can post their shares - unless dividing such calls has been the slower way (then
        the pool stays asleep, and this call is measured alone). A wake-up starts a
        thread or takes the GIL for a moment, which a lone call or a few would pay for
        and not win back."""
        started = time.perf_counter()
        self._stream = self._stream + 1 if started - self._last_small_call < STREAM_GAP else 1
        self._last_small_call = started
        streaming = self._stream >= STREAM_CALLS
        sliced = count >= 2 * self._examples_per_thread[True]
        wake = streaming and (sliced or self._division.divide())
        self._run_slice(input_address, output_address, 0, count)
        if wake:
            if not sliced:
                self._division.postpone()
            self._wake_servers()
        elif streaming:
            self._division.record(False, (time.perf_counter() - started) / count)

    def _servers_awake(self) -> bool:
        """Whether every pool thread is spinning on its block (a hint: `claim` decides)."""
        return all(self._blocks[word] != handoff.NO_SERVER for word in self._awake_words)

    def _wake_servers(self) -> None:
        for worker, word in enumerate(self._awake_words):
            if worker not in self._waking and self._blocks[word] == handoff.NO_SERVER:
                self._waking.add(worker)
                self._pool.submit(self._serving, worker, Future(), self._waking.discard, worker)

    def _block(self, worker: int) -> int:
        return self._blocks_address + worker * handoff.BLOCK_WORDS * 8

    def _hand(self, worker: int, state: int, share: tuple, run, *arguments):
        """A share of a call handed to the worker's block (see `handoff`): posted there when
        this thread has claimed its spinning server (`state` SERVING), else `run(*arguments)`
        in a pool thread, which then serves the block for the shares of the calls that
        follow. Returns the wait for the share."""
        if state == handoff.SERVING:
            block = self._block(worker)
            return functools.partial(self._handoff[handoff.FINISH], block, self._handoff[handoff.POST](block, *share))
        finished = Future()
        self._pool.submit(self._serving, worker, finished, run, *arguments)
        return finished.result

    def _serving(self, worker: int, finished: Future, share, *arguments) -> None:
        try:
            share(*arguments)
        except BaseException as problem:  # the caller's wait raises it
            finished.set_exception(problem)
            return
        finished.set_result(None)
        workspace, scratch, barrier = self._memory()
        self._handoff[handoff.SERVE](self._block(worker), self._weights_address, workspace, scratch, barrier,
                                     handoff.SERVE_SPINS)

    def _run_divided(self, input_address: int, output_address: int, count: int, small: bool) -> None:
        """The examples divided between the threads layer by layer, or run by this thread
        alone when that has been faster (see `DivisionChoice`) or, for a `small` call,
        when a pool thread is not spinning on its block."""
        # One divided call at a time: each needs every pool thread at its barriers, and two
        # callers' parts interleaved in the pool's queue would wait for each other forever.
        divide = self._division.divide() and self._dividing.acquire(blocking=False)
        started = time.perf_counter()
        if divide:
            try:
                divide = self._divide(input_address, output_address, count, small)
            finally:
                self._dividing.release()
        if not divide:
            self._run_slice(input_address, output_address, 0, count)
        self._division.record(divide, (time.perf_counter() - started) / count)

    def _divide(self, input_address: int, output_address: int, count: int, small: bool) -> bool:
        """Every thread's part of the call, handed to the pool threads' blocks (see
        `handoff`); False, having done nothing, when a pool thread is busy with another
        caller (the parts must all run at once: they wait for each other between layers)
        or, for a `small` call, not spinning on its block."""
        if self._shared_out(input_address, output_address, count, 0):
            return True
        if small:
            return False
        blocks = [self._block(worker) for worker in range(self.threads - 1)]
        states = [self._handoff[handoff.CLAIM](block) for block in blocks]
        if handoff.CLAIMED in states:
            for block, state in zip(blocks, states):
                if state == handoff.SERVING:
                    self._handoff[handoff.RELEASE](block)
            return False
        workspace, _, barrier = self._memory()
        waiting = []
        for part, state in enumerate(states, start=1):
            arguments = (input_address, output_address, count, workspace, barrier, part, self.threads)
            waiting.append(self._hand(part - 1, state, (handoff.PART_OF_CALL, *arguments), self._run_part, *arguments))
        self._run_part(input_address, output_address, count, workspace, barrier, 0, self.threads)
        for wait in waiting:
            wait()
        return True

    def __call__(self, x) -> np.ndarray:
        """N x C x H x W (or one C x H x W example) float32 -> N x output."""
        return self.run(x)[0]

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 of what the model computes: its canonical form and its packed weights."""
        return hashlib.sha256(self._canonical.encode() + self._weights.tobytes()).hexdigest()

    def __dask_tokenize__(self) -> str:
        return self.digest

    def __reduce__(self):
        # Pickled as its graph and packed weights: the process that unpickles it (a Dask
        # worker) compiles it once, from its own cache, and reuses it for every chunk it is
        # sent. The packed layout is netspec's own, so the receiver must be the same netspec.
        return _received, (jit.compiler_digest(), self.digest, self.graph, self._weights, self.untrained,
                           *self._shipped, self.threads)

    def map_blocks(self, array):
        """The outputs for a dask array of inputs (N x input shape, chunked along N) as a lazy
        dask array: one task per chunk, run wherever Dask runs it (docs/scale.md)."""
        from .blocks import map_blocks

        return map_blocks(self, array)


# A child forked from this process has none of its pool threads: its models start
# new pools, and no block may look served by a thread that is not there.
_MODELS: weakref.WeakSet = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for model in _MODELS:
        model._pool = None
        model._blocks[:] = 0
        model._dividing = threading.Lock()
        model._waking = set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# The models this process received pickled, by digest and threads: a Dask worker is sent
# the model with its tasks and compiles it once, not once per chunk.
_RECEIVED: dict[tuple[str, int], Model] = {}
_RECEIVING = threading.Lock()


def _received(producer: str, digest: str, graph: ShapedGraph, packed: np.ndarray, untrained: bool,
              bounds_check: bool, tiles, threads: int) -> Model:
    if producer != jit.compiler_digest():
        raise DataError(f"network {graph.name} was sent by a process running another netspec (its code differs "
                        "from this one's); install the same netspec everywhere the model runs")
    with _RECEIVING:
        model = _RECEIVED.get((digest, threads))
        if model is None:
            model = _RECEIVED[digest, threads] = Model._from_packed(graph, packed, untrained, threads, bounds_check,
                                                                    tiles)
    return model


def _whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def single_threaded(graph: ShapedGraph, tiles: Tiles) -> Model:
    """The graph compiled with these tiles for one thread, seeded weights: what tuning times."""
    return Model(graph, threads=1, tiles=tiles)


def compile_network(graph: ShapedGraph, weights=None, seed: int = 0, threads: int | None = None,
                    bounds_check: bool = False, max_memory: int | None = None, tuned: bool = False) -> Model:
    """The model (see `Model`); with `tuned`, its conv layers get the tile shapes timed
    fastest on this host (timing those not chosen yet, see `tuning.tuned_tiles`)."""
    if not graph.ok:
        raise DataError(f"network {graph.name} has errors; check it first")
    graph.require_numbers()
    if threads is not None and (not _whole_number(threads) or threads < 1):
        raise DataError(f"threads must be a whole number of at least 1, got {threads!r}")
    if max_memory is not None and (not _whole_number(max_memory) or max_memory < 1):
        raise DataError(f"max_memory must be a positive number of bytes, got {max_memory!r}")
    tiles = tuned_tiles(rewrite_for_inference(graph).graph, single_threaded) if tuned else None
    return Model(graph, weights, seed, threads, bounds_check, max_memory, tiles)
