"""Aligned float32 buffers for weights and workspaces."""
from __future__ import annotations

import numpy as np

ALIGN_BYTES = 64


def aligned_zeros(count: int) -> np.ndarray:
    """A zeroed float32 array of `count` elements whose data starts on a 64-byte boundary."""
    raw = np.zeros(count + ALIGN_BYTES // 4, dtype=np.float32)
    start = (-raw.ctypes.data % ALIGN_BYTES) // 4
    return raw[start:start + count]
