"""What a run needs in memory, estimated before anything is allocated, and the limit it must fit."""
from __future__ import annotations

import os
from dataclasses import dataclass
from math import prod

from ...check import ShapedGraph
from ...errors import DataError
from .layout import weight_layout
from .plan import memory_plan
from .rewrite import rewrite_for_inference


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


def memory_need(graph: ShapedGraph, batch: int, threads: int) -> MemoryNeed:
    """The weights as given, and what the code compiled for the rewritten graph packs and
    plans (the rewrite can change the tile of examples the workspace holds)."""
    code_graph = rewrite_for_inference(graph).graph
    given = weight_layout(graph)
    weight_floats = sum(prod(shape) for shape in given.shapes.values())
    layout = weight_layout(code_graph)
    plan = memory_plan(code_graph)
    return MemoryNeed(
        inputs=4 * batch * prod(graph.input_shape),
        outputs=4 * batch * prod(graph.output_shape),
        weights=4 * (weight_floats + layout.total_floats),
        workspace=4 * threads * (plan.workspace_floats + plan.scratch_floats),
    )


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count < 10**15 else f"{count:.1e} bytes"


def require_memory(graph: ShapedGraph, batch: int, threads: int, limit: int) -> None:
    """Raise DataError, with the figures, when a run would need more than `limit` bytes."""
    need = memory_need(graph, batch, threads)
    if need.total <= limit:
        return
    raise DataError(
        f"running {graph.name} on a batch of {batch} needs {_megabytes(need.total)} (input {_megabytes(need.inputs)}, "
        f"output {_megabytes(need.outputs)}, weights {_megabytes(need.weights)}, workspace "
        f"{_megabytes(need.workspace)}), more than the limit of {_megabytes(limit)}; "
        f"use a smaller batch or raise --max-memory")
