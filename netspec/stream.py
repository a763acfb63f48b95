"""Runs over arrays larger than memory (`netspec run --input X.npy --output Y.npy`): the
input memory-mapped and run chunk by chunk, each chunk's outputs written to the `.npy`
output as it finishes and recorded with its checksum (resume.py), so that resident memory
stays at two chunks and the model whatever the file's size, and a stopped run continues
where it stopped. Chunks run here, or on a Dask cluster (distributed.py)."""
from __future__ import annotations

import mmap
import os
import time
from collections import deque
from dataclasses import dataclass
from math import prod
from typing import Protocol

import numpy as np
from numpy.lib import format as npy

from .errors import DataError
from .ir import format_shape
from .progress import progress_bar
from .resume import Progress, checksum, read_progress, remove_progress, write_progress

# A chunk's input is at most this large whatever the memory limit allows: --resume then
# redoes at most this much, and the progress bar moves. Larger chunks gain nothing: the
# cost of a chunk is well under a millisecond (docs/scale.md).
MAX_CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    stop: int

    @property
    def count(self) -> int:
        return self.stop - self.start

    def bytes_in(self, offset: int, example_bytes: int) -> tuple[int, int]:
        """Where the chunk's examples lie in a file whose examples start at `offset`."""
        return offset + self.start * example_bytes, offset + self.stop * example_bytes


def split(count: int, size: int) -> tuple[Chunk, ...]:
    return tuple(Chunk(i, start, min(start + size, count)) for i, start in enumerate(range(0, count, size)))


def chunk_examples(graph, threads: int, limit: int, in_flight: int = 2) -> int:
    """The most examples a chunk may have: the inputs and outputs of `in_flight` chunks (here
    the one running and the one read ahead) and the model within `limit`, and at most
    MAX_CHUNK_BYTES of input."""
    from .backends.llvm.memory import memory_need

    model = memory_need(graph, 0, threads).total
    per_example = memory_need(graph, 1, threads).total - model
    room = (limit - model) // (in_flight * per_example)
    if room < 1:
        raise DataError(f"the memory limit of {limit / 1e6:,.1f} MB leaves no room for a chunk beside the model "
                        f"({model / 1e6:,.1f} MB); raise --max-memory")
    return int(max(1, min(room, MAX_CHUNK_BYTES // (4 * prod(graph.input_shape)))))


class _Mapped:
    """A file mapped into memory, with its pages read ahead and dropped by
    byte range: dropping the pages of a finished chunk is what keeps resident memory bounded
    (the data stays in the file and the page cache, which the kernel may reclaim)."""

    def __init__(self, path: str, writable: bool):
        with open(path, "r+b" if writable else "rb") as handle:
            self.map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)

    def _pages(self, start: int, stop: int) -> tuple[int, int]:
        first = start - start % mmap.ALLOCATIONGRANULARITY
        return first, stop - first

    def read_ahead(self, start: int, stop: int) -> None:
        if stop > start and hasattr(mmap, "MADV_WILLNEED"):
            self.map.madvise(mmap.MADV_WILLNEED, *self._pages(start, stop))

    def drop(self, start: int, stop: int) -> None:
        if stop > start and hasattr(mmap, "MADV_DONTNEED"):
            self.map.madvise(mmap.MADV_DONTNEED, *self._pages(start, stop))


def _header(path: str) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """A .npy file's shape, dtype, Fortran order and where its data starts; never unpickles."""
    try:
        with open(path, "rb") as handle:
            version = npy.read_magic(handle)
            read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
            if read is None:
                raise ValueError(f"format version {version[0]}.{version[1]}")
            shape, fortran, dtype = read(handle)
            return shape, dtype, fortran, handle.tell()
    except FileNotFoundError:
        raise DataError(f"input file {path} does not exist") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise DataError(f"input file {path} is not a .npy array netspec can stream ({exc})") from None


class ArrayInput:
    """A .npy batch, memory-mapped: a chunk is a view of the file's pages, read ahead before
    it runs and dropped from this process's memory after."""

    def __init__(self, path: str, graph):
        from .backends.llvm.runtime import accepted_input_shapes, describe_input_shapes

        shape, dtype, fortran, self._offset = _header(path)
        if dtype.kind != "f" or dtype.hasobject:
            raise DataError(f"input file {path} has dtype {dtype}; expected float32 (float16 and float64 are converted)")
        accepted = next((s for s in accepted_input_shapes(graph)
                         if len(s) == len(shape) and all(a in (-1, b) for a, b in zip(s, shape))), None)
        if accepted is None:
            raise DataError(f"input file {path} has shape {format_shape(shape)}; network {graph.name} expects "
                            f"{describe_input_shapes(graph)}")
        self.count = shape[0] if accepted[0] == -1 else 1
        if self.count == 0:
            raise DataError(f"input file {path} is empty (N = 0)")
        if fortran and len(shape) > 1:
            raise DataError(f"input file {path} is stored in Fortran order; netspec streams C-order arrays "
                            "(save it with numpy.save(path, numpy.ascontiguousarray(x)))")
        self.path, self.dtype, self.shape = path, dtype, shape
        self._example_bytes = dtype.itemsize * prod(graph.input_shape)
        if os.path.getsize(path) < self._offset + self.count * self._example_bytes:
            raise DataError(f"input file {path} is truncated: its header says {format_shape(shape)} of {dtype}")
        self._mapped = _Mapped(path, writable=False)
        self._array = np.ndarray((self.count, *graph.input_shape), dtype, self._mapped.map, self._offset)
        self.notes = () if dtype == np.float32 else (f"input converted from {dtype} to float32",)

    def identity(self) -> dict:
        """What says it is the same file on --resume: its size, time of change and header."""
        status = os.stat(self.path)
        return {"bytes": status.st_size, "modified_ns": status.st_mtime_ns, "shape": list(self.shape),
                "dtype": self.dtype.str}

    def examples(self, chunk: Chunk) -> np.ndarray:
        return self._array[chunk.start:chunk.stop]

    def read_ahead(self, chunk: Chunk) -> None:
        self._mapped.read_ahead(*chunk.bytes_in(self._offset, self._example_bytes))

    def drop(self, chunk: Chunk) -> None:
        self._mapped.drop(*chunk.bytes_in(self._offset, self._example_bytes))


class ArrayOutput:
    """The .npy output, created at its full size by numpy's open_memmap and filled a chunk at
    a time, each chunk checksummed before it is recorded (the kernel writes the pages back)."""

    def __init__(self, path: str, count: int, output_shape, reopen: bool):
        shape = (count, *output_shape)
        try:
            if reopen:
                created = npy.open_memmap(path, mode="r+")
                if created.shape != shape or created.dtype != np.float32:
                    raise DataError(f"{path} holds {format_shape(created.shape)} of {created.dtype}, not the "
                                    f"{format_shape(shape)} of float32 this run writes; run without --resume")
            else:
                created = npy.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
            offset = created.offset
            del created
            self._mapped = _Mapped(path, writable=True)
        except OSError as exc:
            raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise DataError(f"{path} is not a .npy array netspec wrote ({exc}); run without --resume") from None
        self._array = np.ndarray(shape, np.float32, self._mapped.map, offset)
        self._offset, self._example_bytes = offset, 4 * prod(output_shape)

    def checksum(self, chunk: Chunk) -> str:
        digest = checksum(self._array[chunk.start:chunk.stop])
        self._mapped.drop(*chunk.bytes_in(self._offset, self._example_bytes))
        return digest

    def write(self, chunk: Chunk, outputs: np.ndarray) -> str:
        """Writes the chunk's outputs and returns the checksum of what the file now holds."""
        self._array[chunk.start:chunk.stop] = outputs
        return self.checksum(chunk)

    def finish(self) -> None:
        """Writes every page back to the disk, once the last chunk is in."""
        self._mapped.map.flush()


class Pending(Protocol):
    def result(self) -> np.ndarray: ...


class Runner(Protocol):
    """Where chunks run: `submit` starts one; up to `window` are running at once."""

    window: int

    def submit(self, examples: np.ndarray) -> Pending: ...


@dataclass(frozen=True)
class _Done:
    outputs: np.ndarray

    def result(self) -> np.ndarray:
        return self.outputs


@dataclass(frozen=True)
class LocalRunner:
    """Chunks run here, one after the other, each on the model's threads."""

    model: object
    window: int = 1

    def submit(self, examples: np.ndarray) -> _Done:
        return _Done(self.model(examples))


@dataclass(frozen=True)
class Streamed:
    examples: int
    chunks: int
    chunk_examples: int
    resumed: int  # chunks found written and verified, and skipped
    ran: int  # examples run by this run
    redone: tuple[int, ...]  # chunks recorded whose output no longer had its checksum
    seconds: float  # running the chunks that ran, writing and recording them


def _recorded(output: str, run: dict, resume: bool) -> Progress | None:
    """The record of an earlier run into `output` that this run continues, or None."""
    if not resume:
        remove_progress(output)
        return None
    progress = read_progress(output)
    if progress is None:
        return None
    if {key: value for key, value in progress.run.items() if key != "chunk"} != run:
        raise DataError(f"{output} was started with another network, other weights or another input; "
                        "run without --resume to start again")
    if not os.path.exists(output):
        raise DataError(f"{output} is gone but its progress record is there; run without --resume")
    chunk = progress.run.get("chunk")
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
        raise DataError(f"the progress record of {output} gives no chunk size; run without --resume")
    return progress


def _verified(output: ArrayOutput, chunks: tuple[Chunk, ...], progress: Progress,
              earlier: Progress | None) -> tuple[Progress, list[int]]:
    """`progress` with the chunks of the earlier record whose bytes still have their
    checksum, and the indices of those that no longer do (they run again)."""
    redone = []
    for index, digest in sorted((earlier.done if earlier else {}).items()):
        if 0 <= index < len(chunks) and output.checksum(chunks[index]) == digest:
            progress = progress.with_chunk(index, digest)
        else:
            redone.append(index)
    return progress, redone


def stream(source: ArrayInput, output_path: str, runner: Runner, model, chunk_size: int, resume: bool) -> Streamed:
    """Runs every chunk of `source` not already written and verified, in order, writing each
    into `output_path` and recording it. With `resume`, an earlier run's record (and chunk
    size) is continued when it is of the same model and input."""
    if os.path.exists(output_path) and os.path.samefile(source.path, output_path):
        raise DataError(f"--output {output_path} is the input file; write the outputs elsewhere")
    run = {"model": model.digest, "input": source.identity(), "output_shape": list(model.output_shape)}
    earlier = _recorded(output_path, run, resume)
    chunk_size = earlier.run["chunk"] if earlier else chunk_size
    chunks = split(source.count, chunk_size)
    output = ArrayOutput(output_path, source.count, model.output_shape, reopen=earlier is not None)
    progress, redone = _verified(output, chunks, Progress({**run, "chunk": chunk_size}), earlier)
    write_progress(output_path, progress)
    todo = [chunk for chunk in chunks if chunk.index not in progress.done]
    started = time.perf_counter()
    with progress_bar(source.count, "running") as bar:
        bar.update(source.count - sum(chunk.count for chunk in todo))
        running: deque = deque()

        def finish() -> None:
            nonlocal progress
            chunk, pending = running.popleft()
            progress = progress.with_chunk(chunk.index, output.write(chunk, pending.result()))
            write_progress(output_path, progress)
            source.drop(chunk)
            bar.update(chunk.count)

        for position, chunk in enumerate(todo):
            if position + 1 < len(todo):
                source.read_ahead(todo[position + 1])
            running.append((chunk, runner.submit(source.examples(chunk))))
            if len(running) >= runner.window:
                finish()
        while running:
            finish()
    output.finish()
    seconds = time.perf_counter() - started
    remove_progress(output_path)
    return Streamed(source.count, len(chunks), chunk_size, len(chunks) - len(todo),
                    sum(chunk.count for chunk in todo), tuple(redone), seconds)
