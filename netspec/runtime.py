"""Compiled networks called on numpy arrays.

Every shape, dtype and layout is checked here, in Python, before generated code
runs: the generated loops trust their static shapes and never check bounds.
"""
from __future__ import annotations

import ctypes
import threading

import numpy as np

from . import jit
from .check import CheckedNetwork
from .codegen.generate import ENTRY, generate_module
from .codegen.plan import memory_plan, weight_layout
from .errors import DataError
from .ir import format_shape
from .memory import aligned_zeros
from .weights import resolve

_FORWARD = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)


def canonical_form(network: CheckedNetwork) -> str:
    """Everything the generated code depends on, as text (the cache key's content)."""
    lines = [f"network {network.name} input {network.input_shape}"]
    for layer in network.layers:
        node = layer.node
        lines.append(f"{node.name} {node.kind} {node.inputs} {layer.attrs!r} {layer.input_shape} -> {layer.output_shape}")
    return "\n".join(lines)


def llvm_ir(network: CheckedNetwork) -> str:
    module, _, _ = generate_module(network, jit.host_vector_width())
    return str(module)


def accepted_input_shapes(network: CheckedNetwork) -> list[tuple[int, ...]]:
    shape = network.input_shape
    single_channel_image = [shape[1:]] if len(shape) == 3 and shape[0] == 1 else []
    return [(-1, *shape), shape, *single_channel_image]


def describe_input_shapes(network: CheckedNetwork) -> str:
    return " or ".join("Nx" + format_shape(s[1:]) if s[0] == -1 else format_shape(s)
                       for s in accepted_input_shapes(network))


def as_batch(network: CheckedNetwork, x) -> tuple[np.ndarray, list[str]]:
    """The input as a C-contiguous float32 N x (input shape) array, plus notes on conversions made."""
    notes = []
    array = np.asarray(x)
    if array.dtype.kind != "f":
        raise DataError(f"input has dtype {array.dtype}; expected float32 (float16 and float64 are converted)")
    if array.dtype != np.float32:
        notes.append(f"input converted from {array.dtype} to float32")
    shape = network.input_shape
    if array.ndim == len(shape) + 1 and array.shape[1:] == shape:
        batch = array
    elif array.shape == shape:
        batch = array[None]
    elif len(shape) == 3 and shape[0] == 1 and array.shape == shape[1:]:
        batch = array[None, None]
    else:
        raise DataError(f"input has shape {format_shape(array.shape)}; network {network.name} expects "
                        f"{describe_input_shapes(network)}")
    if batch.shape[0] == 0:
        raise DataError("input batch is empty (N = 0)")
    return np.ascontiguousarray(batch, dtype=np.float32), notes


class Model:
    """A network compiled to native code with its weights; call it on a batch."""

    def __init__(self, network: CheckedNetwork, weights=None, seed: int = 0):
        self.network = network
        arrays, self.untrained = resolve(network, weights, seed)
        self._weights = weight_layout(network).pack(network, arrays)
        self._workspace_floats = memory_plan(network).workspace_floats
        compiled = jit.compile_object(canonical_form(network), lambda: llvm_ir(network), ENTRY)
        self._compiled = compiled  # keeps the native code alive as long as the model
        self._forward = _FORWARD(compiled.address)
        self.compile_seconds = compiled.seconds
        self.from_cache = compiled.from_cache
        self._local = threading.local()

    @property
    def input_shape(self):
        return self.network.input_shape

    @property
    def output_shape(self):
        return self.network.output_shape

    def _workspace(self) -> np.ndarray:
        # One workspace per thread: concurrent calls never share scratch memory.
        workspace = getattr(self._local, "workspace", None)
        if workspace is None:
            workspace = self._local.workspace = aligned_zeros(max(self._workspace_floats, 1))
        return workspace

    def run(self, x) -> tuple[np.ndarray, list[str]]:
        """Like calling the model, but also returns notes on input conversions."""
        batch, notes = as_batch(self.network, x)
        output = np.empty((batch.shape[0], *self.output_shape), dtype=np.float32)
        # ctypes releases the GIL for the duration of the call.
        self._forward(batch.ctypes.data, self._weights.ctypes.data, output.ctypes.data, batch.shape[0],
                      self._workspace().ctypes.data)
        return output, notes

    def __call__(self, x) -> np.ndarray:
        """N x C x H x W (or one C x H x W example) float32 -> N x output."""
        return self.run(x)[0]


def compile_network(network: CheckedNetwork, weights=None, seed: int = 0) -> Model:
    if not network.ok:
        raise DataError(f"network {network.name} has errors; check it first")
    return Model(network, weights, seed)
