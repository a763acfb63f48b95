"""Layers that move no numbers at inference (views, identities), as copies.

The plan shares storage for views and the rewrite removes identities, so these
loops are emitted only when neither can: the layer reads the network's input and
is its output.
"""
from __future__ import annotations

from . import KernelDef
from .common import copy_input

KERNELS = {"flatten": KernelDef(lower=copy_input), "dropout": KernelDef(lower=copy_input)}
