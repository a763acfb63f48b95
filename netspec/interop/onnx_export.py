"""Shaped graph + weights -> an ONNX model, built with `onnx.helper`.

One emitter per layer kind (`EXPORTERS`) turns a layer into ONNX nodes named after it
that read and write netspec's tensor names; the weights become initializers under
their netspec keys and batchnorm stays a `BatchNormalization`, so nothing is lost.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from math import prod
from typing import Callable

import numpy as np

from .. import __version__
from ..check import Layer, ShapedGraph
from ..errors import DataError
from ..ir import INPUT
from ..ops import OPS
from ..ops.params import Padding
from ..weights import weight_shapes
from .binding import resolve

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError("exporting to ONNX needs the onnx package: pip install 'netspec[onnx]'",
                              name=missing.name) from None

# The newest opset ONNX Runtime 1.32 implements (its CPU kernels reach opset 28), which
# onnx 1.23 is the first to define; `netspec[onnx]` asks for those versions. Every
# operator emitted here computes the same since opset 13, so a lower stamp would only
# let older runtimes read the file, without changing a node.
OPSET = 28

# The batch dimension is symbolic: the file runs on any number of examples.
BATCH = "N"


@dataclass(frozen=True)
class Emitted:
    """The ONNX nodes computing one layer (the last one writes the layer's tensor) and
    the constants they read besides the layer's weights."""

    nodes: tuple[onnx.NodeProto, ...]
    constants: tuple[onnx.TensorProto, ...] = ()


def _inputs(layer: Layer) -> list[str]:
    """The tensors a layer reads, then its weights in the order the op declares them,
    which is ONNX's order too (conv and dense: weight, bias; batchnorm: scale, bias, mean, variance)."""
    suffixes = OPS[layer.node.kind].weight_shapes(layer.attrs, layer.input_shape)
    return [*layer.node.inputs, *(f"{layer.node.name}.{suffix}" for suffix in suffixes)]


def _node(layer: Layer, op_type: str, **attributes) -> Emitted:
    name = layer.node.name
    return Emitted((helper.make_node(op_type, _inputs(layer), [name], name=name, **attributes),))


def _operator(op_type: str, **attributes) -> Callable[[Layer], Emitted]:
    """An emitter for a kind that is one ONNX operator with fixed attributes."""
    return lambda layer: _node(layer, op_type, **attributes)


def _window(kernel, stride, padding: Padding) -> dict:
    # ONNX lists the padding as all starts, then all ends: [top, left, bottom, right].
    return {"kernel_shape": list(kernel), "strides": list(stride),
            "pads": [padding.top, padding.left, padding.bottom, padding.right]}


def _conv(layer: Layer) -> Emitted:
    a = layer.attrs
    return _node(layer, "Conv", **_window(a.kernel, a.stride, a.padding))


def _pool(op_type: str, **attributes) -> Callable[[Layer], Emitted]:
    """MaxPool's padding never wins a maximum (PyTorch's -inf); AveragePool counts
    padded zeros (count_include_pad=1), as netspec does."""
    return lambda layer: _node(layer, op_type, **_window(layer.attrs.kernel, layer.attrs.step, layer.attrs.padding),
                               **attributes)


def averaging_matrix(n: int, out: int) -> np.ndarray:
    """The out x n matrix averaging PyTorch's adaptive windows: window i covers
    [floor(i*n/out), ceil((i+1)*n/out))."""
    matrix = np.zeros((out, n), np.float32)
    for i in range(out):
        start, end = i * n // out, -(-(i + 1) * n // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _adaptive(layer: Layer) -> Emitted:
    """ONNX has no adaptive pooling. When the output size divides the input size the
    windows are an ordinary AveragePool (kernel = stride = n / out); otherwise they
    overlap or differ in size, and the layer becomes rows @ x @ columns with averaging
    matrices (two MatMuls; a window's mean is the mean of its rows' means)."""
    (_, n_h, n_w), (out_h, out_w) = layer.input_shape, layer.attrs.size
    if n_h % out_h == 0 and n_w % out_w == 0:
        step = [n_h // out_h, n_w // out_w]
        return _node(layer, "AveragePool", kernel_shape=step, strides=step)
    name = layer.node.name
    _require_fits(4 * (out_h * n_h + out_w * n_w), f"{name}: ONNX has no adaptive pooling, and its averaging matrices")
    rows, columns, by_columns = f"{name}.rows", f"{name}.columns", f"{name}.column_means"
    return Emitted(
        (helper.make_node("MatMul", [layer.node.inputs[0], columns], [by_columns], name=by_columns),
         helper.make_node("MatMul", [rows, by_columns], [name], name=name)),
        (numpy_helper.from_array(averaging_matrix(n_h, out_h), rows),
         numpy_helper.from_array(averaging_matrix(n_w, out_w).T.copy(), columns)))


def _dropout(layer: Layer) -> Emitted:
    """Dropout keeps its probability as the `ratio` input; without `training_mode` it is
    the identity, as in netspec's inference."""
    name = layer.node.name
    ratio = f"{name}.ratio"
    return Emitted((helper.make_node("Dropout", [layer.node.inputs[0], ratio], [name], name=name),),
                   (numpy_helper.from_array(np.array(layer.attrs.p, np.float32), ratio),))


def _add(layer: Layer) -> Emitted:
    return _node(layer, "Add" if len(layer.node.inputs) == 2 else "Sum")


EXPORTERS: dict[str, Callable[[Layer], Emitted]] = {
    "conv": _conv,
    "maxpool": _pool("MaxPool"),
    "avgpool": _pool("AveragePool", count_include_pad=1),
    "globalavgpool": _operator("GlobalAveragePool"),
    "adaptiveavgpool": _adaptive,
    "flatten": _operator("Flatten", axis=1),
    "dense": _operator("Gemm", transB=1),  # y = x W^T + b with W stored out x in, as netspec does
    "relu": _operator("Relu"),
    "sigmoid": _operator("Sigmoid"),
    "tanh": _operator("Tanh"),
    "softmax": _operator("Softmax", axis=1),  # over the features of an N x F batch
    "batchnorm": lambda layer: _node(layer, "BatchNormalization", epsilon=layer.attrs.eps),
    "dropout": _dropout,
    "add": _add,
    "concat": _operator("Concat", axis=1),  # channels, or the features of flat vectors
}


def batched_value(name: str, shape) -> onnx.ValueInfoProto:
    """A float tensor `name` of N examples of `shape`, N left symbolic."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [BATCH, *shape])


def _require_fits(size: int, what: str) -> None:
    """A protobuf message, so an ONNX file, holds at most 2 GiB; refuse before allocating more."""
    if size >= onnx.checker.MAXIMUM_PROTOBUF:
        raise DataError(f"{what} take {size / 2**30:,.1f} GiB; an ONNX file holds at most 2 GiB")


def export_onnx(graph: ShapedGraph, weights=None, seed: int = 0) -> onnx.ModelProto:
    """The ONNX model computing a valid shaped graph. `weights` is a weight file's path, a
    mapping of arrays (in PyTorch's layouts) or None for seeded initialisation, as for
    `Network.compile`; wrong weights raise DataError."""
    graph.require_numbers()
    _require_fits(4 * sum(prod(shape) for shape in weight_shapes(graph).values()), f"the weights of {graph.name}")
    arrays, _ = resolve(graph, weights, seed)
    nodes, constants = [], []
    for layer in graph.layers:
        emitted = EXPORTERS[layer.node.kind](layer)
        nodes += emitted.nodes
        constants += emitted.constants
    initializers = [numpy_helper.from_array(np.asarray(arrays[key], np.float32), key) for key in weight_shapes(graph)]
    body = helper.make_graph(nodes, graph.name, [batched_value(INPUT, graph.input_shape)],
                             [batched_value(graph.output, graph.output_shape)], initializer=initializers + constants)
    model = helper.make_model(body, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="netspec", producer_version=__version__,
                              doc_string=f"{graph.name}, exported by netspec {__version__}")
    _require_fits(model.ByteSize(), f"the weights and constants of {graph.name}")
    return model


def save_onnx(model: onnx.ModelProto, path) -> None:
    try:
        onnx.save_model(model, os.fspath(path))
    except OSError as exc:
        raise DataError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from None
