"""A model mapped over the chunks of a dask array (`Model.map_blocks`): lazy, one task per
chunk along the batch axis, the model sent to each worker once as a task of its own."""
from __future__ import annotations

import numpy as np

from ...errors import DataError
from ...ir import format_shape


def dask_modules():
    """dask and dask.array, or a DataError saying which extra brings them."""
    try:
        import dask
        import dask.array
    except ModuleNotFoundError:
        raise DataError("running on Dask needs dask[distributed]: pip install 'netspec[scale]'") from None
    return dask, dask.array


def run_block(model, examples: np.ndarray) -> np.ndarray:
    """One chunk's outputs; `model` arrives pickled and is compiled where this runs."""
    return model(examples)


def map_blocks(model, array):
    dask, da = dask_modules()
    shape = model.input_shape
    if not isinstance(array, da.Array):
        raise DataError(f"map_blocks takes a dask array, got {type(array).__name__}")
    if array.shape[1:] != shape or array.dtype.kind != "f":
        raise DataError(f"map_blocks takes a float dask array N x {format_shape(shape)}; got "
                        f"{format_shape(array.shape)} of {array.dtype}")
    # Chunks split the batch only: every example is whole in one chunk.
    whole = array.rechunk({axis: -1 for axis in range(1, array.ndim)})
    shipped = dask.delayed(model, pure=True)
    outputs = [da.from_delayed(dask.delayed(run_block, pure=True)(shipped, block), (rows, *model.output_shape),
                               np.float32)
               for block, rows in zip(whole.to_delayed().ravel(), whole.chunks[0])]
    return da.concatenate(outputs)
