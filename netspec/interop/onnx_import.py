"""An ONNX model -> spec text and weights, with one importer per ONNX operator (`IMPORTERS`).

An importer turns a node (and the nodes it absorbs, such as the Add after a MatMul)
into one netspec statement with its weights in PyTorch's layouts, or says why netspec
cannot express it; every node is tried, so one error lists everything unsupported.
Layers are named after the nodes, and each line states the shape ONNX infers, which
netspec's checker then verifies.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .. import __version__
from ..errors import DataError
from ..ir import INPUT, format_shape
from ..ops import OPS, Trait
from ..ops.params import MAX_SIZE, Padding, SamePadding
from ..ops.window import pair, resolve_padding
from .onnx_read import OnnxGraph, graph_of, node_label, printable, read_model  # first: it says how to install onnx
from .onnx_export import averaging_matrix

from onnx import AttributeProto, helper

# Names a layer cannot take: the network's input, a block's input, and the words the
# grammar reserves.
RESERVED = frozenset({INPUT, "in", "block", "repeat", "network"})

# Long enough for the paths PyTorch names nodes by (`features_features_0_Conv`).
MAX_NAME = 64

# `->` starts in this column at most, so that a few long names do not push every shape far right.
SHAPE_COLUMN = 48


class Unsupported(Exception):
    """Why netspec cannot express a node."""


class Follows(Unsupported):
    """A problem that follows when a node before was refused (an input without a shape,
    the second half of a pair the first half of which failed): reported only when the
    nodes writing `tensors` were imported."""

    def __init__(self, reason: str, tensors: tuple[str, ...]):
        super().__init__(reason)
        self.tensors = tensors


@dataclass(frozen=True)
class Statement:
    """One layer of the imported spec, before it is named."""

    kind: str
    inputs: tuple[str, ...]  # the ONNX tensors it reads: its input, or the operands of a join
    arguments: tuple[str, ...] = ()  # as written after the keyword: `6`, `kernel=5`
    weights: Mapping[str, np.ndarray] = field(default_factory=dict)  # by suffix, in PyTorch's layouts
    absorbs: tuple[int, ...] = ()  # the nodes after it that it computes too: its output is the last one's


@dataclass(frozen=True)
class Imported:
    """A spec's text and its weights, keyed `LAYER.SUFFIX` as netspec's weight files are."""

    spec: str
    weights: dict[str, np.ndarray]


Importer = Callable[[object, OnnxGraph], "Statement | None"]  # None: the node passes its input on unchanged


# -- Reading a node's attributes and inputs --------------------------------------

def _attribute(node, name: str, kind: int, default):
    """An attribute's value, refused when it is not of the type ONNX defines for it."""
    for attribute in node.attribute:
        if attribute.name == name:
            if attribute.type != kind:
                raise Unsupported(f"its attribute {name} is not of type {AttributeProto.AttributeType.Name(kind)}")
            value = helper.get_attribute_value(attribute)
            return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    return default


def _data(node, graph: OnnxGraph, index: int = 0) -> tuple[str, tuple]:
    """A tensor the network computes that the node reads, with its shape (batch first)."""
    name = node.input[index] if len(node.input) > index else ""
    if not name:
        raise Unsupported(f"it has no input {index + 1}")
    if name in graph.constants:
        raise Unsupported(f"its input `{printable(name)}` is a constant; netspec's layers compute on the network's tensors")
    shape = graph.shapes.get(name)
    if shape is None:
        raise Follows(f"ONNX's shape inference gives no shape for its input `{printable(name)}`", (name,))
    return name, shape


def _ranked(node, graph: OnnxGraph, ranks: tuple[int, ...], what: str) -> tuple[str, tuple]:
    name, shape = _data(node, graph)
    if len(shape) not in ranks:
        raise Unsupported(f"its input is {_shown(shape)}; netspec's {what}")
    return name, shape


def _image(node, graph: OnnxGraph, kind: str) -> tuple[str, tuple]:
    return _ranked(node, graph, (4,), f"{kind} takes N x C x H x W")


def _known(shape: tuple, what: str) -> tuple[int, ...]:
    if any(d is None for d in shape[1:]):
        raise Unsupported(f"ONNX's shape inference does not give the sizes of {what} as numbers")
    return shape


def _constant(node, graph: OnnxGraph, index: int, what: str) -> np.ndarray:
    name = node.input[index] if len(node.input) > index else ""
    if not name:
        raise Unsupported(f"it has no {what}")
    if name not in graph.constants:
        raise Unsupported(f"its {what} `{printable(name)}` is computed, not a constant; netspec's weights are constants")
    return graph.constants[name]


def _optional_constant(node, graph: OnnxGraph, index: int, what: str) -> np.ndarray | None:
    """An input ONNX lets a node leave out (a bias, a dropout ratio): None when it is."""
    return _constant(node, graph, index, what) if len(node.input) > index and node.input[index] else None


def _weight(array: np.ndarray, what: str, shape: tuple[int, ...]) -> np.ndarray:
    """A weight as float32, refused when it is not floating point or not of `shape`."""
    if not np.issubdtype(array.dtype, np.floating):
        raise Unsupported(f"its {what} is {array.dtype}; netspec's weights are floating point")
    if array.shape != shape:
        raise Unsupported(f"its {what} is {_shown(array.shape)}, where {_shown(shape)} was expected")
    return np.ascontiguousarray(array, dtype=np.float32)


def _shown(shape) -> str:
    return " x ".join("N" if d is None else str(d) for d in shape) if len(shape) else "a scalar"


def _real(value: float) -> str:
    """The shortest text that reads back as the same float32 (`1e-05`, `0.5`)."""
    return str(np.float32(value))


def _sizes(node, name: str, default, smallest: int) -> tuple[int, int]:
    values = _attribute(node, name, AttributeProto.INTS, default)
    if values is None:
        raise Unsupported(f"it has no {name}")
    if len(values) != 2 or not all(smallest <= v <= MAX_SIZE for v in values):
        raise Unsupported(f"its {name} {list(values)[:8]} are not two sizes from {smallest} to {MAX_SIZE}")
    return tuple(values)


# -- Windows: Conv, MaxPool, AveragePool -----------------------------------------

@dataclass(frozen=True)
class _Window:
    """What a windowed node reads and how it slides."""

    input: str
    shape: tuple  # the input's, batch first
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: Padding

    def arguments(self, default_stride: tuple[int, int]) -> tuple[str, ...]:
        """`kernel=`, and `stride=` and `padding=` where they are not the kind's defaults."""
        return (f"kernel={pair(self.kernel)}",
                *((f"stride={pair(self.stride)}",) if self.stride != default_stride else ()),
                *((f"padding={self.padding.text()}",) if self.padding != Padding(0, 0, 0, 0) else ()))


def _window(node, graph: OnnxGraph, kind: str, kernel: tuple[int, int]) -> _Window:
    name, shape = _image(node, graph, kind)
    dilations = _sizes(node, "dilations", [1, 1], 1)
    if dilations != (1, 1):
        raise Unsupported(f"dilations={list(dilations)}; netspec's windows are not dilated")
    stride = _sizes(node, "strides", [1, 1], 1)
    return _Window(name, shape, kernel, stride, _padding(node, shape, kernel, stride))


def _padding(node, shape, kernel, stride) -> Padding:
    """ONNX pads [top, left, bottom, right], or auto_pad: SAME_UPPER puts the odd row
    at the bottom as netspec's `same` does, SAME_LOWER at the top."""
    auto_pad = _attribute(node, "auto_pad", AttributeProto.STRING, "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        _, _, n_h, n_w = _known(shape, "its input")
        upper = resolve_padding(SamePadding(), n_h, n_w, kernel, stride)
        if auto_pad == "SAME_UPPER":
            return upper
        return Padding(upper.bottom, upper.top, upper.right, upper.left)
    if auto_pad == "VALID":
        return Padding(0, 0, 0, 0)
    if auto_pad != "NOTSET":
        raise Unsupported(f"auto_pad={printable(auto_pad)} is none of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
    pads = _attribute(node, "pads", AttributeProto.INTS, [0, 0, 0, 0])
    if len(pads) != 4 or not all(0 <= p <= MAX_SIZE for p in pads):
        raise Unsupported(f"its pads {list(pads)[:8]} are not four paddings from 0 to {MAX_SIZE}")
    top, left, bottom, right = pads
    return Padding(top, bottom, left, right)


def _conv(node, graph: OnnxGraph) -> Statement:
    weight = _constant(node, graph, 1, "weight")
    if weight.ndim != 4:
        raise Unsupported(f"its weight is {_shown(weight.shape)}; a 2-D convolution's is out x in x kH x kW")
    group = _attribute(node, "group", AttributeProto.INT, 1)
    if group != 1:
        raise Unsupported(f"group={group}: netspec's conv connects every input channel to every output "
                          "channel (group=1)")
    window = _window(node, graph, "conv", _sizes(node, "kernel_shape", list(weight.shape[2:]), 1))
    out_channels = weight.shape[0]
    weights = {"weight": _weight(weight, "weight", (out_channels, window.shape[1], *window.kernel))}
    bias = _optional_constant(node, graph, 2, "bias")
    if bias is not None:
        weights["bias"] = _weight(bias, "bias", (out_channels,))
    arguments = (str(out_channels), *window.arguments((1, 1)), *(() if bias is not None else ("bias=false",)))
    return Statement("conv", (window.input,), arguments, weights)


def _fits_pooling(window: _Window) -> None:
    """netspec pools as PyTorch does: padding at most half the kernel on every side."""
    p, (k_h, k_w) = window.padding, window.kernel
    for side, padding, kernel in (("top", p.top, k_h), ("bottom", p.bottom, k_h), ("left", p.left, k_w),
                                  ("right", p.right, k_w)):
        if padding > kernel // 2:
            raise Unsupported(f"it pads the {side} by {padding}, more than half the kernel {kernel}; netspec's "
                              "pooling pads at most half the kernel, as PyTorch's does")


def _floor_rounding(node, window: _Window) -> None:
    """ceil_mode=1 computes as floor when every window fits exactly; otherwise it adds a
    last window over the bottom or right edge, which netspec (as PyTorch by default) does not."""
    if not _attribute(node, "ceil_mode", AttributeProto.INT, 0):
        return
    _, _, n_h, n_w = _known(window.shape, "its input")
    paddings = (window.padding.rows, window.padding.columns)
    if any((n + p - k) % s for n, p, k, s in zip((n_h, n_w), paddings, window.kernel, window.stride)):
        raise Unsupported("ceil_mode=1 adds a last window past the bottom or right edge here; netspec's pooling "
                          "rounds down (PyTorch's ceil_mode=False); pad the input so that the windows fit")


def _pool(kind: str) -> Importer:
    def importer(node, graph: OnnxGraph) -> Statement:
        window = _window(node, graph, kind, _sizes(node, "kernel_shape", None, 1))
        _fits_pooling(window)
        _floor_rounding(node, window)
        if kind == "avgpool" and window.padding != Padding(0, 0, 0, 0) \
                and not _attribute(node, "count_include_pad", AttributeProto.INT, 0):
            raise Unsupported("count_include_pad=0 divides a window at the border by the cells inside the input; "
                              "netspec's avgpool counts the padded zeros (count_include_pad=1, PyTorch's default)")
        return Statement(kind, (window.input,), window.arguments(window.kernel))  # pooling's stride defaults to the kernel

    return importer


def _global_average(node, graph: OnnxGraph) -> Statement:
    name, _ = _image(node, graph, "globalavgpool")
    return Statement("globalavgpool", (name,))


# -- Dense layers: Gemm, MatMul (+ Add) ------------------------------------------

def _bias(array: np.ndarray, out: int) -> np.ndarray:
    """A bias ONNX broadcasts over the batch: (out,), (1, out) or one value."""
    if array.size == 1:
        return _weight(np.repeat(array.reshape(1), out), "bias", (out,))
    if array.size == out and array.ndim <= 2 and (array.ndim < 2 or array.shape[0] == 1):
        return _weight(array.reshape(out), "bias", (out,))
    raise Unsupported(f"its bias is {_shown(array.shape)}; a dense layer's is one value per output ({out})")


def _dense(name: str, weight: np.ndarray, bias: np.ndarray | None, absorbs: tuple[int, ...] = ()) -> Statement:
    weights = {"weight": weight, **({"bias": bias} if bias is not None else {})}
    return Statement("dense", (name,), (str(weight.shape[0]), *(() if bias is not None else ("bias=false",))),
                     weights, absorbs)


def _gemm(node, graph: OnnxGraph) -> Statement:
    """Y = alpha * A B + beta * C, with B transposed when transB=1 (PyTorch's out x in)."""
    name, shape = _ranked(node, graph, (2,), "dense takes N x F")
    if _attribute(node, "transA", AttributeProto.INT, 0):
        raise Unsupported("transA=1 transposes the batch of inputs; netspec's dense reads one example a row")
    matrix = _constant(node, graph, 1, "weight")
    if matrix.ndim != 2:
        raise Unsupported(f"its weight is {_shown(matrix.shape)}, not a matrix")
    alpha = _attribute(node, "alpha", AttributeProto.FLOAT, 1.0)
    beta = _attribute(node, "beta", AttributeProto.FLOAT, 1.0)
    oriented = matrix if _attribute(node, "transB", AttributeProto.INT, 0) else matrix.T
    weight = _weight(oriented, "weight", (oriented.shape[0], shape[1]))
    bias = _optional_constant(node, graph, 2, "bias")
    bias = None if bias is None else _bias(bias, weight.shape[0])
    # Scaled only when asked, so that the usual alpha = beta = 1 keeps the weights bit for bit.
    return _dense(name, weight * np.float32(alpha) if alpha != 1.0 else weight,
                  bias if bias is None or beta == 1.0 else bias * np.float32(beta))


def _sole_reader(node, graph: OnnxGraph, op_type: str) -> tuple[int, object] | None:
    """The one node reading this node's output, when it is of `op_type` (and the output
    is not the network's own)."""
    readers = graph.readers.get(node.output[0], ())
    if len(readers) != 1 or node.output[0] == graph.output:
        return None
    reader = graph.nodes[readers[0]]
    return (readers[0], reader) if reader.op_type == op_type and reader.domain in ("", "ai.onnx") else None


def _matmul(node, graph: OnnxGraph) -> Statement:
    """x W, with W constant in x out, is a dense layer; an Add of a constant right after it is its bias."""
    if node.input and node.input[0] in graph.constants:
        raise Follows("it multiplies a constant by a tensor; netspec reads that only as the last step of "
                      "adaptiveavgpool's averaging, after a MatMul by its column matrix", tuple(node.input[1:2]))
    name, shape = _data(node, graph)
    matrix = _constant(node, graph, 1, "second operand")
    if len(shape) == 4:
        return _adaptive(node, graph, name, shape, matrix)
    if len(shape) != 2 or matrix.ndim != 2:
        raise Unsupported(f"it multiplies {_shown(shape)} by {_shown(matrix.shape)}; netspec's dense multiplies "
                          "N x F by a constant F x OUT matrix")
    weight = _weight(matrix.T, "second operand", (matrix.shape[1], shape[1]))
    add = _sole_reader(node, graph, "Add")
    if add is not None:
        index, reader = add
        other = [t for t in reader.input if t != node.output[0]]
        if len(reader.input) == 2 and len(other) == 1 and other[0] in graph.constants:
            return _dense(name, weight, _bias(graph.constants[other[0]], weight.shape[0]), (index,))
    return _dense(name, weight, None)


def _adaptive(node, graph: OnnxGraph, name: str, shape, columns: np.ndarray) -> Statement:
    """netspec's export of adaptive pooling with uneven windows: rows @ (x @ columns),
    with the averaging matrices of PyTorch's windows."""
    reader = _sole_reader(node, graph, "MatMul")
    if reader is None or list(reader[1].input[1:]) != [node.output[0]] or reader[1].input[0] not in graph.constants:
        raise Unsupported("it multiplies N x C x H x W by a matrix; netspec reads that only as the averaging "
                          "matrices of adaptiveavgpool (rows @ x @ columns)")
    _, _, n_h, n_w = _known(shape, "its input")
    rows = graph.constants[reader[1].input[0]]
    if rows.ndim != 2 or columns.ndim != 2 or rows.shape[1] != n_h or columns.shape[0] != n_w \
            or not np.allclose(rows, averaging_matrix(n_h, rows.shape[0])) \
            or not np.allclose(columns, averaging_matrix(n_w, columns.shape[1]).T):
        raise Unsupported("its matrices are not the averaging matrices of adaptiveavgpool")
    return Statement("adaptiveavgpool", (name,), (pair((rows.shape[0], columns.shape[1])),), absorbs=(reader[0],))


# -- Joins: Add, Sum, Concat ------------------------------------------------------

def _operands(node, graph: OnnxGraph) -> tuple[tuple[str, ...], list[tuple]]:
    if any(name in graph.constants for name in node.input):
        # A MatMul before takes the constant as its bias, unless that MatMul was refused.
        after_matmul = tuple(n.output[0] for n in graph.nodes if n.op_type == "MatMul" and n.output[0] in node.input)
        raise Follows(f"it {node.op_type.lower()}s a constant; netspec joins tensors the network computes "
                      "(a bias belongs to a conv or dense layer)", after_matmul)
    if len(node.input) < 2:
        raise Unsupported(f"it has {len(node.input)} operand; netspec joins two or more tensors")
    found = [_data(node, graph, index) for index in range(len(node.input))]
    return tuple(name for name, _ in found), [shape for _, shape in found]


def _add(node, graph: OnnxGraph) -> Statement:
    names, shapes = _operands(node, graph)
    if any(shape != shapes[0] for shape in shapes):
        raise Unsupported(f"its operands are {' and '.join(_shown(s) for s in shapes)}; ONNX broadcasts them, "
                          "netspec's add takes tensors of one shape")
    return Statement("add", names)


def _concat(node, graph: OnnxGraph) -> Statement:
    names, shapes = _operands(node, graph)
    rank = len(shapes[0])
    axis = _attribute(node, "axis", AttributeProto.INT, None)
    if rank not in (2, 4) or axis not in (1, 1 - rank):
        raise Unsupported(f"it joins {_shown(shapes[0])} tensors along axis {axis}; netspec's concat joins along "
                          "the channels (axis 1)")
    return Statement("concat", names)


# -- One input, one output ------------------------------------------------------

def _elementwise(kind: str) -> Importer:
    def importer(node, graph: OnnxGraph) -> Statement:
        name, _ = _data(node, graph)
        return Statement(kind, (name,))

    return importer


def _softmax(node, graph: OnnxGraph) -> Statement:
    name, _ = _ranked(node, graph, (2,), "softmax normalises N x F over the features")
    if _attribute(node, "axis", AttributeProto.INT, -1 if graph.opset >= 13 else 1) not in (1, -1):
        raise Unsupported("it normalises over the batch; netspec's softmax normalises each example's features")
    return Statement("softmax", (name,))


def _flatten(node, graph: OnnxGraph) -> Statement | None:
    name, shape = _ranked(node, graph, (2, 4), "flatten takes N x C x H x W")
    if _attribute(node, "axis", AttributeProto.INT, 1) not in (1, 1 - len(shape)):
        raise Unsupported("it flattens at an axis other than 1; netspec keeps the batch and flattens the rest")
    return Statement("flatten", (name,)) if len(shape) == 4 else None


def _reshape(node, graph: OnnxGraph) -> Statement | None:
    """A Reshape that keeps the batch and flattens the rest: to (0, -1), (-1, F), (N, -1)
    or (N, F), where F is C*H*W and N the batch the model fixes."""
    name, shape = _ranked(node, graph, (2, 4), "flatten takes N x C x H x W")
    target = _constant(node, graph, 1, "shape")
    features = prod(_known(shape, "its input")[1:])
    batches = {-1, *([graph.batch] if graph.batch else []),
               *([] if _attribute(node, "allowzero", AttributeProto.INT, 0) else [0])}
    if target.ndim != 1 or target.size != 2 or target.dtype.kind not in "iu" \
            or int(target[0]) not in batches or int(target[1]) not in (-1, features) or list(target) == [-1, -1]:
        raise Unsupported(f"it reshapes {_shown(shape)} to {[int(v) for v in target.ravel()[:8]]}; netspec reshapes "
                          f"only by flattening to N x {features}")
    return Statement("flatten", (name,)) if len(shape) == 4 else None


def _batchnorm(node, graph: OnnxGraph) -> Statement:
    name, shape = _ranked(node, graph, (2, 4), "batchnorm takes N x C x H x W or N x F")
    if _attribute(node, "training_mode", AttributeProto.INT, 0):
        raise Unsupported("training_mode=1 normalises with the batch's statistics; netspec's batchnorm is the "
                          "inference form, with the running statistics")
    eps = _attribute(node, "epsilon", AttributeProto.FLOAT, 1e-5)
    if not 0 < eps < float("inf"):
        raise Unsupported(f"epsilon={eps}; netspec's batchnorm takes a positive eps")
    weights = {}
    for index, suffix in enumerate(("weight", "bias", "running_mean", "running_var"), start=1):
        what = suffix.replace("_", " ")
        weights[suffix] = _weight(_constant(node, graph, index, what), what, (shape[1],))
    arguments = () if np.float32(eps) == np.float32(1e-5) else (f"eps={_real(eps)}",)
    return Statement("batchnorm", (name,), arguments, weights)


def _dropout(node, graph: OnnxGraph) -> Statement:
    """The ratio is an input since opset 12 (an attribute before); only inference
    (no training_mode, or a constant false) is the identity netspec computes."""
    name, _ = _data(node, graph)
    if graph.opset >= 12:
        ratio = _optional_constant(node, graph, 1, "ratio")
        training = _optional_constant(node, graph, 2, "training_mode")
        if training is not None and (training.size != 1 or training.ravel()[0]):
            raise Unsupported("its training_mode is not false; netspec computes dropout at inference, as the identity")
        if ratio is not None and (ratio.size != 1 or ratio.dtype.kind != "f"):
            raise Unsupported(f"its ratio is {_shown(ratio.shape)} of {ratio.dtype}, not one number")
        p = 0.5 if ratio is None else float(ratio.ravel()[0])
    else:
        p = _attribute(node, "ratio", AttributeProto.FLOAT, 0.5)
    if not 0 <= np.float32(p) < 1:
        raise Unsupported(f"its ratio {p} is outside 0 <= p < 1")
    return Statement("dropout", (name,), (_real(p),))


def _identity(node, graph: OnnxGraph) -> None:
    _data(node, graph)


def _constant_node(node, graph: OnnxGraph) -> None:
    raise Unsupported("netspec reads Constant nodes holding a tensor, floats or ints; this one holds none of them")


IMPORTERS: dict[str, Importer] = {
    "Conv": _conv,
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global_average,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Relu": _elementwise("relu"),
    "Sigmoid": _elementwise("sigmoid"),
    "Tanh": _elementwise("tanh"),
    "Softmax": _softmax,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "BatchNormalization": _batchnorm,
    "Dropout": _dropout,
    "Identity": _identity,
    "Add": _add,
    "Sum": _add,
    "Concat": _concat,
    "Constant": _constant_node,
}


# -- The spec --------------------------------------------------------------------

def valid_name(onnx_name: str) -> str:
    """A node's name as a netspec name: each run of other characters becomes `_`
    (`/features/features.0/Conv` -> `features_features_0_Conv`), and a name starting with
    a digit, as PyTorch's nn.Sequential gives, starts with `layer`. Empty when nothing is left."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", onnx_name).strip("_")[:MAX_NAME].rstrip("_")
    return f"layer{name}" if name[:1].isdigit() else name


def _unique(wanted: str, taken: set[str]) -> str:
    name, number = wanted, 1
    while name in taken or name in RESERVED:
        number += 1
        name = f"{wanted}_{number}"
    taken.add(name)
    return name


@dataclass(frozen=True)
class _Line:
    text: str  # the statement
    shape: str  # the shape it gives, for its `->`


def _statements(graph: OnnxGraph) -> tuple[list[tuple[object, Statement]], dict[str, str]]:
    """Every node's statement, with the node writing its tensor, and the ONNX tensors
    that are another's under a new name; raises DataError listing every node that
    netspec cannot express (a node that only lacks the shape of what a refused node
    wrote is left out: its cause is listed)."""
    statements, same, problems, absorbed, refused = [], {}, [], set(), set()
    for index, node in enumerate(graph.nodes):
        if index in absorbed:
            continue
        try:
            statement = _statement(node, graph)
        except Unsupported as reason:
            if not (isinstance(reason, Follows) and refused.intersection(reason.tensors)):
                problems.append(f"{node_label(node)}: {reason}")
            refused.update(node.output)
            continue
        if statement is None:
            same[node.output[0]] = node.input[0]
            continue
        absorbed.update(statement.absorbs)
        statements.append((graph.nodes[statement.absorbs[-1]] if statement.absorbs else node, statement))
    if problems:
        count = f"{len(problems)} of the model's {len(graph.nodes)} nodes" if len(graph.nodes) > 1 else "the model's node"
        raise DataError(f"netspec cannot express {count}:\n  " + "\n  ".join(problems))
    if not statements:
        raise DataError("the model computes nothing but its input; netspec needs at least one layer")
    return statements, same


def _statement(node, graph: OnnxGraph) -> Statement | None:
    """The node's statement, with the shape of what it writes known (each line states it)."""
    if node.domain not in ("", "ai.onnx"):
        raise Unsupported(f"its operator is from the domain `{printable(node.domain)}`; netspec reads standard ONNX")
    if node.op_type not in IMPORTERS:
        raise Unsupported(f"netspec has no layer computing {printable(node.op_type)}")
    statement = IMPORTERS[node.op_type](node, graph)
    computed = (node, *(graph.nodes[index] for index in statement.absorbs)) if statement else (node,)
    for each in computed:
        _one_output_used(each, graph)
    if statement is not None and _example(graph.shapes.get(computed[-1].output[0])) is None:
        found = graph.inference_problems.get(computed[-1].name)
        raise Unsupported("ONNX's shape inference gives no shape for its output" + (f" ({found})" if found else ""))
    return statement


def _one_output_used(node, graph: OnnxGraph) -> None:
    """A layer has one output: refuse a node whose others (MaxPool's indices, Dropout's
    mask, the statistics of training BatchNormalization) are read."""
    for number, name in enumerate(node.output[1:], start=2):
        if name and (name in graph.readers or name == graph.output):
            raise Unsupported(f"its output {number}, `{printable(name)}`, is used; a netspec layer has one output")


def _lines(graph: OnnxGraph, statements, same: dict[str, str]) -> tuple[list[_Line], dict[str, np.ndarray]]:
    """Each statement as a line, named after the node writing its tensor (no label where
    that is the name netspec would give anyway), and the weights under those names."""
    names, taken, counts = {graph.input: INPUT}, {INPUT}, Counter()
    lines, weights, previous = [], {}, INPUT
    for node, statement in statements:
        counts[statement.kind] += 1
        default = f"{statement.kind}{counts[statement.kind]}"
        name = _unique(valid_name(node.name) or default, taken)
        operands = [names[_resolved(tensor, same)] for tensor in statement.inputs]
        text = _text(name if name != default else None, statement, operands, previous)
        names[node.output[0]] = previous = name
        lines.append(_Line(text, _example(graph.shapes.get(node.output[0]))))
        weights.update({f"{name}.{suffix}": array for suffix, array in statement.weights.items()})
    return lines, weights


def _text(label: str | None, statement: Statement, operands: list[str], previous: str) -> str:
    """`[label:] kind [operands] [arguments] [input=NAME]`: a join names its operands; another
    layer names its input only when it is not the tensor of the line before."""
    joins = OPS[statement.kind].has(Trait.JOINS)
    words = [f"{label}:"] if label else []
    words += [statement.kind, *(operands if joins else ()), *statement.arguments]
    if not joins and operands[0] != previous:
        words.append(f"input={operands[0]}")
    return " ".join(words)


def _resolved(tensor: str, same: dict[str, str]) -> str:
    while tensor in same:
        tensor = same[tensor]
    return tensor


def _example(shape) -> str | None:
    """One example's shape, as a `->` states it; None when ONNX does not know it."""
    if shape is None or len(shape) < 2 or any(d is None for d in shape[1:]):
        return None
    return format_shape(shape[1:])


def import_onnx(path, name: str | None = None) -> Imported:
    """The spec and weights of the ONNX model in a file. The network is called `name`
    (default: the file's name made valid); external data is read from the model's
    folder only. Raises OSError when the file cannot be read and DataError, naming the
    file, when it cannot be imported."""
    path = Path(path)
    try:
        return import_model(read_model(str(path)), name or path.stem, path.parent, path.name)
    except DataError as problem:
        raise DataError(f"cannot import {path}: {problem}") from None


def import_model(model, name: str = "imported", folder: Path | None = None, origin: str = "an ONNX model") -> Imported:
    """The spec and weights of an `onnx.ModelProto`; `folder` is where its external data
    may be (None: nowhere), `origin` what the spec's first comment says it came from."""
    graph = graph_of(model, folder)
    statements, same = _statements(graph)
    lines, weights = _lines(graph, statements, same)
    width = min(max(len(line.text) for line in lines), SHAPE_COLUMN)
    body = [f"{line.text:{width}} -> {line.shape}" for line in lines]
    header = [f"# Imported by netspec {__version__} from {printable(origin)} ({graph.description}).",
              f"network {valid_name(name) or 'imported'}", f"input {format_shape(graph.example_shape)}", ""]
    return Imported("\n".join(header + body) + "\n", weights)
