"""The LLVM backend's kernels: how each layer kind is lowered to a loop nest, keyed by kind.

A `KernelDef` says how the code generator calls a kind's lowering and what the
plan and the weight layout need to know about it; what the kind computes is in
`netspec.ops`. `KERNELS` has one entry per kind of the registry (a test checks it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable

import numpy as np

from ....ir import Shape


def _no_scratch(layer) -> int:
    return 0


def _nothing_shared(layer, width: int, tile) -> None:
    return None


def _stored_as_given(attrs, input_shape: Shape, suffix: str, shape: Shape) -> Shape:
    return shape


def _copy_as_given(attrs, input_shape: Shape, suffix: str, array: np.ndarray, out: np.ndarray) -> None:
    out[...] = array


def _as_given(attrs, input_shape: Shape, suffix: str, array: np.ndarray) -> np.ndarray:
    return array


@dataclass(frozen=True)
class Packing:
    """How a weight is stored for the kernel: its stored shape (known without converting
    anything), PyTorch's layout -> the stored layout, written into `out` (zeros of the
    stored shape: a view of the one weight buffer, so that converting the largest weight
    makes no temporary copy of it), and back."""

    stored_shape: Callable[[object, Shape, str, Shape], Shape] = _stored_as_given
    pack: Callable[[object, Shape, str, np.ndarray, np.ndarray], None] = _copy_as_given
    unpack: Callable[[object, Shape, str, np.ndarray], np.ndarray] = _as_given


AS_GIVEN = Packing()


@dataclass(frozen=True)
class KernelDef:
    # Emits the layer's loop nest into its function (see builder.LayerCode).
    lower: Callable[[object], None]
    # Floats of temporary storage the loop nest needs (per call, not per example).
    scratch_floats: Callable[[object], int] = _no_scratch
    # True when `lower` handles a whole tile of examples (LayerCode.count); otherwise
    # the generator calls it inside a loop over the tile, one example at a time.
    batched: bool = False
    # True when the loop nest applies LayerCode.activate as it stores, so a following
    # elementwise layer can be fused into it.
    fuses_activation: bool = False
    # True when operands that their producers already wrote into place get no source
    # buffer and are skipped (concat): the plan may then let producers write straight
    # into the output.
    in_place_operands: bool = False
    # True when `lower` can do a share of one example's work (LayerCode.part of
    # LayerCode.parts), so that threads divide a layer between them; the shares must
    # write disjoint outputs (scratch is private to each thread).
    divisible: bool = False
    # Elementwise kinds: the scalar-or-vector function, for fusing into a producer.
    element: Callable | None = None
    # What a layer's code shares with other layers of the module (a function defined once
    # per module that their functions call; see conv_lanes), as a key equal for layers
    # sharing it, None for nothing: given the layer, the vector width and its tile
    # (LayerCode.tile). The parts a module is compiled in keep such layers together.
    shared_code: Callable[[object, int, object], Hashable | None] = _nothing_shared
    packing: Packing = AS_GIVEN


def _table() -> dict[str, KernelDef]:
    from . import activation, batchnorm, conv, copy, dense, join, pool

    tables = (conv.KERNELS, pool.KERNELS, dense.KERNELS, activation.KERNELS, batchnorm.KERNELS, join.KERNELS,
              copy.KERNELS)
    return {kind: kernel for table in tables for kind, kernel in table.items()}


KERNELS: dict[str, KernelDef] = _table()
