"""The convolution's register tile chosen per host by timing: each distinct conv layer is
compiled alone with a few candidate tiles, run, and the fastest tile kept in a file.

The fastest tile differs between CPUs (AMD Zen and Intel cores differ in load ports and
FMA latency), so the choice is measured on the host once per layer shape and stored
keyed by the host (its CPU and features, `jit._host_key`), as TVM's autotuners record
theirs. The file lives in the compile cache's directory and is written atomically; a file
that cannot be read, is corrupt, or was written by another format is ignored (and
replaced by the next tuning), never an error.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ...check import ShapedGraph, check
from ...ir import INPUT, Graph, format_shape
from . import jit
from .kernels import KERNELS, conv

# Compiles a graph with the given tiles (layer name -> tile) into a model run on one thread:
# the runtime's, passed in so that the runtime may call tuning without a circle.
CompileModel = Callable[[ShapedGraph, Mapping[str, tuple[str, int, int]]], Callable]

FILE_NAME = "tiles.json"
FORMAT = 2  # 2: tiles name their schedule
# Each candidate: the best of REPEATS runs of at least SECONDS_PER_REPEAT (and 2 calls), the
# candidates taking turns, so that a burst of other work on the machine slows one round of
# every candidate rather than all the runs of one.
REPEATS = 5
SECONDS_PER_REPEAT = 0.03
# A candidate replaces the fixed rule's tile only when at least this much faster: smaller
# differences are within the timing noise of a machine shared with other work.
MARGIN = 0.03


@dataclass(frozen=True)
class Choice:
    """The tile chosen for a layer shape and what it and the fixed rule's tile took
    (seconds per call at batch 1 on one thread, measured in the same run)."""

    tile: tuple[str, int, int]
    seconds: float
    fixed_seconds: float


def tuned_layers(graph: ShapedGraph) -> list:
    """The layers of a (rewritten) graph that the convolution kernel lowers."""
    return [layer for layer in graph.layers if KERNELS[layer.node.kind] is conv.KERNELS["conv"]]


def signature(layer, width: int) -> str:
    """What a layer's best tile depends on: its input, channels, kernel, stride, padding,
    bias, and the vector width (as a spec would write the layer)."""
    a, p = layer.attrs, layer.attrs.padding
    return (f"input {format_shape(layer.input_shape)} conv {a.out_channels} kernel={a.kernel[0]}x{a.kernel[1]} "
            f"stride={a.stride[0]}x{a.stride[1]} padding={p.top},{p.bottom},{p.left},{p.right} "
            f"bias={str(a.bias).lower()} width={width}")


def _alone(layer) -> ShapedGraph:
    """A network of this one layer, reading the input (nothing fused into it)."""
    node = replace(layer.node, inputs=(INPUT,), attrs=layer.attrs, expectations=())
    return check(Graph("tile", layer.input_shape, (node,), node.name))


def _choice(entry) -> Choice | None:
    """A stored choice, or None when it is not one (a file edited or written by another tool)."""
    try:
        schedule, first, second = entry["tile"]
        choice = Choice((schedule, first, second), float(entry["seconds"]), float(entry["fixed_seconds"]))
    except (KeyError, TypeError, ValueError):
        return None
    return choice if isinstance(choice.tile[0], str) else None


def _read_document(path: Path) -> dict:
    """The whole file (every host's choices), or an empty one when it is absent or not ours."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):  # unreadable, or not JSON (UnicodeDecodeError is a ValueError)
        return {"format": FORMAT, "hosts": {}}
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(document.get("hosts"), dict):
        return {"format": FORMAT, "hosts": {}}
    return document


def tiles_file() -> Path:
    return jit.cache_dir() / FILE_NAME


def load_choices() -> dict[str, Choice]:
    """This host's stored choices by signature; what cannot be read is left out."""
    entries = _read_document(tiles_file())["hosts"].get(jit._host_key())
    if not isinstance(entries, dict):
        return {}
    choices = {key: _choice(entry) for key, entry in entries.items()}
    return {key: choice for key, choice in choices.items() if choice is not None}


def store_choices(choices: dict[str, Choice]) -> None:
    """Write this host's choices (other hosts' are kept) atomically: temporary file + rename."""
    path = tiles_file()
    document = _read_document(path)
    document["hosts"][jit._host_key()] = {key: asdict(choice) for key, choice in choices.items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "w") as out:
            json.dump(document, out, indent=1)
        os.replace(temporary, path)
    except OSError:
        pass  # an unwritable cache only costs tuning again next time


def _seconds_per_call(model, x) -> float:
    calls, start = 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - start < SECONDS_PER_REPEAT:
        model(x)
        calls += 1
    return (time.perf_counter() - start) / calls


def time_tiles(layer, width: int, compile_model: CompileModel) -> dict[tuple[str, int, int], float]:
    """Seconds per call at batch 1 on one thread of the layer alone, for each candidate tile."""
    graph = _alone(layer)
    name = layer.node.name
    x = np.random.default_rng(0).random((1, *graph.input_shape), dtype=np.float32)
    models = {tile: compile_model(graph, {name: tile}) for tile in conv.candidate_tiles(layer, width)}
    for model in models.values():
        model(x)  # the first call touches new memory
    best = dict.fromkeys(models, float("inf"))
    for _ in range(REPEATS):
        for tile, model in models.items():
            best[tile] = min(best[tile], _seconds_per_call(model, x))
    return best


def choose(layer, width: int, compile_model: CompileModel) -> Choice:
    """The fastest candidate tile for the layer, unless the fixed rule's is within MARGIN."""
    times = time_tiles(layer, width, compile_model)
    fixed = conv.fixed_tile(layer, width)
    best = min(times, key=times.get)
    if times[best] > (1 - MARGIN) * times[fixed]:
        best = fixed
    return Choice(best, times[best], times[fixed])


def tune(graph: ShapedGraph, compile_model: CompileModel) -> dict[str, Choice]:
    """Each conv layer's choice by layer name, timing the layer shapes this host has no
    valid stored choice for yet (and storing those); `compile_model` compiles the
    one-layer networks timed."""
    width = jit.host_vector_width()
    stored = load_choices()
    chosen = {}
    timed = False
    for layer in tuned_layers(graph):
        key = signature(layer, width)
        if key not in stored or not conv.valid_tile(layer, width, stored[key].tile):
            stored[key] = choose(layer, width, compile_model)
            timed = True
        chosen[layer.node.name] = stored[key]
    if timed:
        store_choices(stored)
    return chosen


def tuned_tiles(graph: ShapedGraph, compile_model: CompileModel) -> dict[str, tuple[str, int, int]]:
    """The tile of each conv layer of a rewritten graph, as `codegen` takes them."""
    return {name: choice.tile for name, choice in tune(graph, compile_model).items()}
