"""Weight files read into named numpy arrays, in the order the file keeps them: one
reader per file suffix (`READERS`) for .npz, .safetensors and PyTorch checkpoints.

Nothing here unpickles arbitrary objects: .npz is read with `allow_pickle=False`,
checkpoints with `torch.load(weights_only=True)`. Errors name the file and the key.
"""
from __future__ import annotations

import os
import pickle
import re
import zipfile
from typing import Callable

import numpy as np

from ..errors import DataError


def read_npz(path: str) -> dict[str, np.ndarray]:
    """Every array of a .npz archive, in the archive's order."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"weights file {path} is a single .npy array; expected a .npz archive of named arrays")
            return {key: _npz_array(path, archive, key) for key in archive.files}
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"weights file {path} is not a valid .npz archive ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"weights file {path} is truncated or not a valid .npz archive ({exc})") from None


def _npz_array(path: str, archive, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"weights file {path}, array {key}: contains pickled Python objects; "
                            "netspec only loads numeric arrays") from None
        raise DataError(f"weights file {path}, array {key}: not a valid array ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"weights file {path}, array {key}: truncated or damaged ({exc})") from None


# Within one module PyTorch registers its tensors in this order (conv and dense: weight,
# bias; batchnorm: then its running statistics and counter).
_PYTORCH_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _definition_order(key: str) -> tuple:
    """A sort key giving a PyTorch state_dict's order back from names alone: numbered
    modules by number (`2.weight` before `10.weight`), a module's own tensors before its
    children's, and its tensors in PyTorch's order."""
    *path, last = key.split(".")
    numbered = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in path)
    rank = _PYTORCH_SUFFIXES.index(last) if last in _PYTORCH_SUFFIXES else len(_PYTORCH_SUFFIXES)
    return numbered, rank, last


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file, with the `safetensors` package's numpy loader.
    The format stores tensors sorted by name, not in the order a model defines them, so
    they come back in the order `_definition_order` rebuilds."""
    try:
        from safetensors import SafetensorError, safe_open
    except ModuleNotFoundError:
        raise DataError(f"weights file {path}: reading .safetensors needs the safetensors package: "
                        "pip install 'netspec[weights]'") from None
    try:
        with safe_open(path, framework="np") as tensors:
            keys = sorted(tensors.keys(), key=_definition_order)
            return {key: _safetensors_array(path, tensors, key) for key in keys}
    except DataError:
        raise
    except (SafetensorError, OSError) as exc:
        raise DataError(f"weights file {path} is truncated or not a valid .safetensors file ({exc})") from None


def _safetensors_array(path: str, tensors, key: str) -> np.ndarray:
    try:
        array = tensors.get_tensor(key)
    except TypeError as exc:  # a dtype numpy lacks, such as bfloat16 without ml_dtypes
        raise DataError(f"weights file {path}, tensor {key}: numpy cannot read its type ({exc}); "
                        "save it as float32") from None
    # Once ml_dtypes (which onnx installs) is imported, numpy knows bfloat16;
    # widening it to float32 is exact, as for checkpoints.
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


# Where training scripts commonly keep the state_dict inside a checkpoint dict.
_CHECKPOINT_KEYS = ("state_dict", "model")


def read_torch(path: str) -> dict[str, np.ndarray]:
    """The state_dict in a PyTorch checkpoint (or under "state_dict" or "model" in a
    checkpoint dict), loaded with `weights_only=True`: tensors and plain containers only."""
    try:
        import torch
    except ModuleNotFoundError:
        raise DataError(f"weights file {path}: reading a PyTorch checkpoint needs torch: "
                        "pip install 'netspec[torch]'") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise DataError(f"weights file {path} holds Python objects other than tensors ({_refusal(exc)}); "
                        "netspec loads checkpoints with weights_only=True and never unpickles arbitrary objects: "
                        "save the model's state_dict() instead") from None
    # A damaged checkpoint fails in the zip reader (RuntimeError), or, read as a legacy
    # pickle, with whatever the first bytes happen to mean (EOFError, KeyError, ValueError).
    except (RuntimeError, EOFError, KeyError, ValueError, OSError) as exc:
        raise DataError(f"weights file {path} is truncated or not a PyTorch checkpoint ({_first_line(exc)})") from None
    state = _state_dict(path, loaded)
    return {key: _torch_array(path, key, value) for key, value in state.items()}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _refusal(exc: Exception) -> str:
    """What PyTorch refused, without its advice on loading the file unrestricted."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    return f"it refers to {found.group(1)}" if found else _first_line(exc)


def _state_dict(path: str, loaded) -> dict:
    if isinstance(loaded, dict):
        for key in _CHECKPOINT_KEYS:
            if isinstance(loaded.get(key), dict):
                return loaded[key]
        if all(isinstance(key, str) for key in loaded):
            return loaded
    found = f"a dict with keys {', '.join(map(repr, list(loaded)[:8]))}" if isinstance(loaded, dict) \
        else type(loaded).__name__
    raise DataError(f"weights file {path} holds {found}; expected a state_dict (names to tensors), or a checkpoint "
                    f"dict holding one under {' or '.join(map(repr, _CHECKPOINT_KEYS))}")


def _torch_array(path: str, key: str, value) -> np.ndarray:
    import torch

    if not isinstance(value, torch.Tensor):
        raise DataError(f"weights file {path}, entry {key}: not a tensor but a value of type {type(value).__name__}")
    value = value.detach()
    if value.dtype == torch.bfloat16:
        value = value.float()  # numpy has no bfloat16; widening to float32 is exact
    return value.numpy()


READERS: dict[str, Callable[[str], dict[str, np.ndarray]]] = {
    ".npz": read_npz,
    ".safetensors": read_safetensors,
    ".pt": read_torch,
    ".pth": read_torch,
}


def read_weight_file(path) -> dict[str, np.ndarray]:
    """The named arrays of a weight file, chosen by its suffix, in the file's order."""
    path = os.fsdecode(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in READERS:
        raise DataError(f"weights file {path}: netspec reads {', '.join(READERS)} files, not "
                        f"{repr(suffix) if suffix else 'files without a suffix'}")
    if not os.path.exists(path):
        raise DataError(f"weights file {path} does not exist")
    if os.path.isdir(path):
        raise DataError(f"weights file {path} is a directory, not a {suffix} file")
    return READERS[suffix](path)

