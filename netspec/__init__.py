"""netspec: a compiler and shape checker for convolutional networks written as `.net` files.

    import netspec
    net = netspec.load("examples/lenet5.net")
    print(net.summary())
    model = net.compile()          # or compile(weights="w.npz")
    y = model(x)                   # x: N x C x H x W float32

docs/api.md describes every public name.
"""
from __future__ import annotations

from .diagnostics import Diagnostic, Fix, render_text
from .errors import DataError, SpecError
from .explanations import explain
from .fixer import Fixed, fix_file, fix_text
from .network import Network, load, load_onnx, loads

__version__ = "0.1.0"

__all__ = ["Network", "SpecError", "DataError", "Diagnostic", "Fix", "Fixed", "load", "loads", "load_onnx", "fix_file",
           "fix_text", "explain", "render_text", "__version__"]
