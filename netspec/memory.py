"""Memory: aligned float32 buffers, and what a run needs before anything is allocated."""
from __future__ import annotations

import os
from dataclasses import dataclass
from math import prod

import numpy as np

from .errors import DataError

ALIGN_BYTES = 64


def aligned_zeros(count: int) -> np.ndarray:
    """A zeroed float32 array of `count` elements whose data starts on a 64-byte boundary."""
    raw = np.zeros(count + ALIGN_BYTES // 4, dtype=np.float32)
    start = (-raw.ctypes.data % ALIGN_BYTES) // 4
    return raw[start:start + count]


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


# By default a run may use at most this fraction of the machine's memory.
DEFAULT_MEMORY_FRACTION = 0.5


def default_limit() -> int:
    total = physical_memory()
    return int(total * DEFAULT_MEMORY_FRACTION) if total else 8 * 2**30


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes a run needs: the input and output batches, the weights (as given and as
    packed for the generated code) and one workspace per thread."""

    inputs: int
    outputs: int
    weights: int
    workspace: int

    @property
    def total(self) -> int:
        return self.inputs + self.outputs + self.weights + self.workspace


def memory_need(network, batch: int, threads: int) -> MemoryNeed:
    from .codegen.plan import memory_plan, weight_layout

    layout = weight_layout(network)
    weight_floats = sum(prod(shape) for shape in layout.shapes.values())
    return MemoryNeed(
        inputs=4 * batch * prod(network.input_shape),
        outputs=4 * batch * prod(network.output_shape),
        weights=4 * (weight_floats + layout.total_floats),
        workspace=4 * threads * memory_plan(network).workspace_floats,
    )


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count < 10**15 else f"{count:.1e} bytes"


def require_memory(network, batch: int, threads: int, limit: int) -> None:
    """Raise DataError, with the figures, when a run would need more than `limit` bytes."""
    need = memory_need(network, batch, threads)
    if need.total <= limit:
        return
    raise DataError(
        f"running {network.name} on a batch of {batch} needs {_megabytes(need.total)} (input {_megabytes(need.inputs)}, "
        f"output {_megabytes(need.outputs)}, weights {_megabytes(need.weights)}, workspace "
        f"{_megabytes(need.workspace)}), more than the limit of {_megabytes(limit)}; "
        f"use a smaller batch or raise --max-memory")
