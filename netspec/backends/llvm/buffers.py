"""Host memory for generated code: float32 buffers aligned to cache lines."""
from __future__ import annotations

import numpy as np

ALIGN_BYTES = 64
# Offsets inside a buffer are rounded to this many floats (64 bytes, one cache line
# and one AVX-512 register) so every region starts aligned.
ALIGN_FLOATS = ALIGN_BYTES // 4


def aligned(count: int) -> int:
    """`count` floats rounded up to whole aligned regions."""
    return -(-count // ALIGN_FLOATS) * ALIGN_FLOATS


def aligned_zeros(count: int) -> np.ndarray:
    """A zeroed float32 array of `count` elements whose data starts on a 64-byte boundary."""
    raw = np.zeros(count + ALIGN_FLOATS, dtype=np.float32)
    start = (-raw.ctypes.data % ALIGN_BYTES) // 4
    return raw[start:start + count]


def aligned_copy(array: np.ndarray) -> np.ndarray:
    """A copy of a float32 array in an aligned buffer (an unpickled array is not aligned)."""
    copy = aligned_zeros(array.size)
    copy[:] = array.ravel()
    return copy
