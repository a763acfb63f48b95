"""An ONNX file read without trusting it: the graph the importer walks.

Whatever a file holds (garbage, a truncated model, tensors nobody defines, a cycle,
absurd sizes, external data outside the model's folder) ends here in one DataError;
what comes out is one input, one output, the nodes the output needs in an order that
computes them, their constant inputs as arrays and the shapes ONNX infers.
"""
from __future__ import annotations

import heapq
import os
import re
import stat
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import DataError
from ..frontend.build import MAX_NODES
from ..ops.params import MAX_SIZE

try:
    import onnx
    from google.protobuf.message import DecodeError
    from onnx import TensorProto, helper, numpy_helper
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError("importing ONNX models needs the onnx package: pip install 'netspec[onnx]'",
                              name=missing.name) from None

# Constants up to this many elements go to ONNX's shape inference as they are, so that
# it can read a Reshape's target; larger ones (weights) are declared by type and shape
# only, so inference never copies them.
SMALL = 4096

@dataclass(frozen=True)
class OnnxGraph:
    """The part of a model's graph that computes its output, checked for consistency."""

    description: str  # who made the model and with which opset, for the imported spec's header
    opset: int  # the version of the standard operators the model uses
    input: str  # the tensor holding the network's input
    example_shape: tuple[int, ...]  # one example: C x H x W or F
    batch: int | None  # a batch size the model fixes, None when the batch is a name
    output: str  # the tensor holding the network's output
    nodes: tuple  # onnx.NodeProto, in an order that computes them, constants folded away
    constants: Mapping[str, np.ndarray]  # initializers and folded constants the nodes read
    shapes: Mapping[str, tuple]  # tensor -> dims, batch first; None for a dim that is not a known number
    inference_problems: Mapping[str, str]  # node name -> what ONNX's shape inference found wrong with it
    readers: Mapping[str, tuple[int, ...]]  # tensor -> the indices in `nodes` of the nodes reading it


def read_model(path: str) -> onnx.ModelProto:
    """The model in an ONNX file, its external data left where it is; raises OSError
    when the file cannot be read and DataError when it is not an ONNX model."""
    size = _file_size(path, "the file")
    if size >= onnx.checker.MAXIMUM_PROTOBUF:
        raise DataError(f"the file is {size / 2**30:,.1f} GiB; an ONNX file holds at most 2 GiB "
                        "(larger weights are kept as external data)")
    with open(path, "rb") as handle:
        data = handle.read(onnx.checker.MAXIMUM_PROTOBUF)
    try:
        return onnx.load_model_from_string(data)  # from bytes, onnx knows no folder to load external data from
    except DecodeError as problem:
        raise DataError(f"the file is not an ONNX model (it does not parse as one: {problem})") from None


def _file_size(path, what: str) -> int:
    """The size of a file; a device or a pipe (which could be read forever, or block
    opening) is refused before it is opened."""
    status = os.stat(path)
    if not stat.S_ISREG(status.st_mode):
        raise DataError(f"{what} is not a regular file")
    return status.st_size


def graph_of(model: onnx.ModelProto, folder: Path | None) -> OnnxGraph:
    """The checked graph of a model; external data is read from files inside `folder`
    only (None: the model came from no file, and external data is refused)."""
    if not model.HasField("graph") or not model.graph.node:
        raise DataError("the file holds no graph of nodes, so it is not an ONNX model (or an empty one)")
    if len(model.graph.node) > MAX_NODES:  # what a spec may expand to bounds an import's time too
        raise DataError(f"the model has {len(model.graph.node):,} nodes; a netspec network has at most "
                        f"{MAX_NODES:,} layers")
    _require_text(model)
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise DataError("the model names no version of the standard ONNX operators (its opset_import)")
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    source, output = _ends(graph, initializers)
    order = _computing_order(graph.node, initializers, source.name, output)
    constants = {name: tensor_array(initializers[name], folder)
                 for name in dict.fromkeys(t for node in order for t in node.input) if name in initializers}
    nodes = _fold_constants(order, constants)
    if output in constants:
        raise DataError(f"the model computes a constant: its output `{printable(output)}` does not depend on its input")
    example_shape, batch = _input_shape(source)
    readers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in dict.fromkeys(node.input):
            readers.setdefault(name, []).append(index)
    shapes, inference_problems = _shapes(model, order, source, initializers, constants)
    return OnnxGraph(_description(model, opset), opset, source.name, example_shape, batch, output, tuple(nodes),
                     constants, shapes, inference_problems, {name: tuple(indices) for name, indices in readers.items()})


def _require_text(model) -> None:
    """protobuf hands over a name that is not UTF-8 as bytes; refuse such a model at once
    rather than meet its bytes in every comparison and message."""
    graph = model.graph
    texts = [model.producer_name, model.producer_version, *(o.domain for o in model.opset_import)]
    for node in graph.node:
        texts += [node.name, node.op_type, node.domain, *node.input, *node.output, *(a.name for a in node.attribute)]
    for value in (*graph.input, *graph.output, *graph.value_info):
        texts += [value.name, *(d.dim_param for d in value.type.tensor_type.shape.dim)]
    for tensor in graph.initializer:
        texts += [tensor.name, *(text for entry in tensor.external_data for text in (entry.key, entry.value))]
    if any(isinstance(text, bytes) for text in texts):
        raise DataError("the model holds names that are not UTF-8 text")


def _ends(graph, initializers) -> tuple[onnx.ValueInfoProto, str]:
    """The one input (graph inputs that are initializers are weights, as old files list
    them) and the one output."""
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(f"`{printable(value.name)}`" for value in inputs[:8]) or "none"
        raise DataError(f"the model has {len(inputs)} inputs ({names}); a netspec network has one")
    if len(graph.output) != 1:
        names = ", ".join(f"`{printable(value.name)}`" for value in graph.output[:8]) or "none"
        raise DataError(f"the model has {len(graph.output)} outputs ({names}); a netspec network has one")
    return inputs[0], graph.output[0].name


def node_label(node) -> str:
    """How messages name a node: its op type and name (or, unnamed, the tensor it writes)."""
    name = node.name or (f"writing `{node.output[0]}`" if node.output else "")
    op_type = printable(node.op_type, 40)
    return f"{op_type} node `{printable(name)}`" if node.name else f"{op_type} node {printable(name)}"


def printable(text: str | bytes, limit: int = 80) -> str:
    """Text from a file, safe to show in a message or a comment: one line, not too long."""
    if isinstance(text, bytes):  # protobuf's form of a string that is not UTF-8
        text = text.decode("utf-8", errors="replace")
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _computing_order(all_nodes, initializers, source: str, output: str) -> list:
    """The nodes the output needs, each after the nodes that write what it reads (the
    file's order where it allows); a tensor nobody writes, or written twice, or a cycle
    is refused with every case found."""
    writers: dict[str, int] = {}
    problems = []
    for index, node in enumerate(all_nodes):
        for name in filter(None, node.output):
            if name in writers:
                problems.append(f"{node_label(node)} writes `{printable(name)}`, which "
                                f"{node_label(all_nodes[writers[name]])} writes too")
            elif name in initializers or name == source:
                problems.append(f"{node_label(node)} writes `{printable(name)}`, which is a constant or the input")
            writers.setdefault(name, index)
    needed = _needed(all_nodes, writers, initializers, source, output, problems)
    if problems:
        raise DataError("the graph does not hang together:\n  " + "\n  ".join(problems))
    return [all_nodes[index] for index in _sorted(all_nodes, needed, writers)]


def _needed(all_nodes, writers, initializers, source, output, problems) -> set[int]:
    """The indices of the nodes whose outputs the output depends on, walking back from it."""
    if output not in writers:
        problems.append(f"no node writes its output `{printable(output)}`")
        return set()
    needed, stack = set(), [writers[output]]
    while stack:
        index = stack.pop()
        if index in needed:
            continue
        needed.add(index)
        for name in filter(None, all_nodes[index].input):
            if name in writers:
                stack.append(writers[name])
            elif name not in initializers and name != source:
                problems.append(f"{node_label(all_nodes[index])} reads `{printable(name)}`, which no initializer, "
                                "input or node provides")
    return needed


def _sorted(all_nodes, needed: set[int], writers: dict[str, int]) -> list[int]:
    """Kahn's algorithm, taking the earliest node in the file among those ready."""
    waits_for = {index: {writers[name] for name in all_nodes[index].input if name in writers} for index in needed}
    unblocks: dict[int, list[int]] = {}
    for index, producers in waits_for.items():
        for producer in producers:
            unblocks.setdefault(producer, []).append(index)
    ready = [index for index, producers in waits_for.items() if not producers]
    heapq.heapify(ready)
    order = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for reader in unblocks.get(index, ()):
            waits_for[reader].discard(index)
            if not waits_for[reader]:
                heapq.heappush(ready, reader)
    if len(order) < len(needed):
        stuck = sorted(needed - set(order))
        shown = ", ".join(node_label(all_nodes[index]) for index in stuck[:8]) + (", ..." if len(stuck) > 8 else "")
        raise DataError(f"the graph has a cycle: these nodes read, directly or not, what they write themselves: {shown}")
    return order


def _fold_constants(order, constants: dict[str, np.ndarray]) -> list:
    """Constant nodes and identities of constants become constants (PyTorch writes an
    Identity for each weight it shares); the other nodes are returned in order."""
    kept = []
    for node in order:
        standard = node.domain in ("", "ai.onnx")
        value = _constant_value(node) if standard and node.op_type == "Constant" else None
        if value is not None:
            constants[node.output[0]] = value
        elif standard and node.op_type == "Identity" and len(node.input) == 1 and node.input[0] in constants:
            constants[node.output[0]] = constants[node.input[0]]
        else:
            kept.append(node)
    return kept


def _constant_value(node) -> np.ndarray | None:
    """The value of a Constant node given as a tensor or numbers; None for the other
    forms (sparse tensors, strings), which the importer reports."""
    attributes = {a.name: a for a in node.attribute}
    if len(attributes) != 1 or len(node.output) != 1:
        return None
    (name, attribute), = attributes.items()
    if name == "value" and attribute.type == onnx.AttributeProto.TENSOR:
        return tensor_array(attribute.t, None)
    forms = {"value_float": (onnx.AttributeProto.FLOAT, np.float32), "value_floats": (onnx.AttributeProto.FLOATS, np.float32),
             "value_int": (onnx.AttributeProto.INT, np.int64), "value_ints": (onnx.AttributeProto.INTS, np.int64)}
    if name in forms and attribute.type == forms[name][0]:
        return np.array(helper.get_attribute_value(attribute), forms[name][1])
    return None


def tensor_array(tensor: onnx.TensorProto, folder: Path | None) -> np.ndarray:
    """A tensor's values, after checking that its dims and its data agree."""
    where = f"tensor `{printable(tensor.name)}`"
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type))
    except (KeyError, TypeError):
        raise DataError(f"{where} has data type {tensor.data_type}, which ONNX does not define") from None
    if tensor.data_type == TensorProto.STRING:
        raise DataError(f"{where} holds strings; netspec reads numbers")
    if any(d < 0 for d in tensor.dims):
        raise DataError(f"{where} has a negative dimension ({list(tensor.dims)})")
    size = prod(tensor.dims) * dtype.itemsize
    if tensor.data_location == TensorProto.EXTERNAL:
        tensor = _with_external_data(tensor, folder, size)
    if tensor.HasField("raw_data") and len(tensor.raw_data) != size:
        raise DataError(f"{where} has dims {list(tensor.dims)} ({size:,} bytes of {dtype}) "
                        f"but holds {len(tensor.raw_data):,} bytes")
    try:
        return numpy_helper.to_array(tensor)
    except (ValueError, TypeError) as problem:
        raise DataError(f"{where} does not hold what its dims {list(tensor.dims)} say ({problem})") from None


def _with_external_data(tensor, folder: Path | None, size: int) -> onnx.TensorProto:
    """The tensor with its data read from its external file, which must lie in `folder`
    (a file elsewhere, through `..`, an absolute path or a link, is refused)."""
    where = f"tensor `{printable(tensor.name)}`"
    entries = {entry.key: entry.value for entry in tensor.external_data}
    location = entries.get("location", "")
    if not location:
        raise DataError(f"{where} keeps its data in an external file but does not say which")
    if folder is None:
        raise DataError(f"{where} keeps its data in the external file `{printable(location)}`; "
                        "read the model from its file so that netspec knows where to look")
    try:
        root = folder.resolve()
        target = (root / location).resolve()
    except (OSError, ValueError):
        target = None
    if os.path.isabs(location) or target is None or not target.is_relative_to(root):
        raise DataError(f"{where} keeps its data in `{printable(location)}`, outside the model's folder; "
                        "netspec reads external data only from files beside the model")
    offset, length = _external_number(entries, "offset", 0, where), _external_number(entries, "length", size, where)
    if length != size:
        raise DataError(f"{where} has dims {list(tensor.dims)} ({size:,} bytes) but its external data "
                        f"says {length:,} bytes")
    try:
        if offset + size > _file_size(target, f"{where}: its external file `{printable(location)}`"):
            raise DataError(f"{where}: its external file `{printable(location)}` ends before byte {offset + size:,}")
        with open(target, "rb") as handle:
            handle.seek(offset)
            data = handle.read(size)
    except OSError as problem:
        raise DataError(f"{where}: cannot read its external file `{printable(location)}`: "
                        f"{problem.strerror or problem}") from None
    resolved = onnx.TensorProto()
    resolved.CopyFrom(tensor)
    del resolved.external_data[:]
    resolved.data_location = TensorProto.DEFAULT
    resolved.raw_data = data
    return resolved


def _external_number(entries, key: str, default: int, where: str) -> int:
    text = entries.get(key)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 18:
        raise DataError(f"{where}: its external data's {key} `{printable(text)}` is not a byte count")
    return int(text)


def _input_shape(value) -> tuple[tuple[int, ...], int | None]:
    """One example's shape (C x H x W or F) and the batch size, if the model fixes one."""
    where = f"the input `{printable(value.name)}`"
    if not value.type.HasField("tensor_type") or value.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise DataError(f"{where} is not a float32 tensor; netspec networks take float32 inputs")
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        raise DataError(f"{where} has no shape; netspec needs N x C x H x W or N x F with numbers for C, H, W or F")
    dims = tensor_type.shape.dim
    if len(dims) not in (2, 4):
        raise DataError(f"{where} has {len(dims)} dimensions; netspec takes N x C x H x W images or N x F vectors")
    sizes = []
    for dim in dims[1:]:
        if not dim.HasField("dim_value"):
            raise DataError(f"{where} has a size `{printable(dim.dim_param)}` that is a name; netspec imports "
                            "models whose sizes past the batch are numbers")
        if not 1 <= dim.dim_value <= MAX_SIZE:
            raise DataError(f"{where} has size {dim.dim_value}, outside 1 to {MAX_SIZE}")
        sizes.append(dim.dim_value)
    batch = dims[0].dim_value if dims[0].HasField("dim_value") and dims[0].dim_value > 0 else None
    return tuple(sizes), batch


def _shapes(model, order, source, initializers, constants) -> tuple[dict[str, tuple], dict[str, str]]:
    """Every tensor's shape as ONNX infers it (or as the model declares it, where
    inference gives nothing), on a copy of the needed nodes whose weights are declared
    rather than copied; and what inference found wrong, by node name."""
    small = [numpy_helper.from_array(constants[name], name) for name in constants
             if name in initializers and constants[name].size <= SMALL]
    declared = [helper.make_tensor_value_info(name, initializers[name].data_type, list(initializers[name].dims))
                for name in constants if name in initializers and constants[name].size > SMALL]
    light = helper.make_model(helper.make_graph(order, "shapes", [source, *declared], [], initializer=small),
                              opset_imports=model.opset_import)
    shapes = {value.name: _dims(value) for value in (*model.graph.value_info, *model.graph.output, source)}
    inferred, problems = _inferred(light)
    shapes.update({value.name: _dims(value) for value in inferred})
    return {name: dims for name, dims in shapes.items() if dims is not None}, problems


# How ONNX's strict shape inference names the node each of its errors is about.
_INFERENCE_ERROR = re.compile(r"\(op_type:[^,]*, node name: (.*?)\): (.*)")


def _inferred(light) -> tuple[list, dict[str, str]]:
    """The value infos ONNX infers, and its errors by node name. The strict pass says
    what is wrong; the lenient pass after it still infers what it can."""
    try:
        return list(onnx.shape_inference.infer_shapes(light, strict_mode=True, data_prop=True).graph.value_info), {}
    except onnx.shape_inference.InferenceError as error:
        problems = {name: printable(message, 300) for name, message in _INFERENCE_ERROR.findall(str(error))}
    except (onnx.checker.ValidationError, RuntimeError):
        problems = {}
    try:
        return list(onnx.shape_inference.infer_shapes(light, data_prop=True).graph.value_info), problems
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError):
        return [], problems


def _dims(value) -> tuple | None:
    if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in value.type.tensor_type.shape.dim)


def _description(model, opset: int) -> str:
    producer = " ".join(filter(None, (printable(model.producer_name, 40), printable(model.producer_version, 40))))
    return f"made by {producer}, ONNX opset {opset}" if producer else f"ONNX opset {opset}"
