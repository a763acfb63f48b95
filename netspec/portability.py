"""Where the same layers, written for another framework, would give other shapes or
windows (`netspec check --portable`).

netspec follows PyTorch: out = floor((n - k + p + s) / s), and `same` puts an odd
extra row or column at the bottom or right. Caffe's pooling rounds up (ceil), so
its outputs can be one larger; ONNX's auto_pad=SAME_LOWER puts the extra row at
the top, so the windows move although the shape stays.
"""
from __future__ import annotations

from .check import Layer, ShapedGraph
from .diagnostics import Diagnostic, warning
from .ir import format_shape
from .ops import OPS, Trait
from .ops.params import SamePadding


def _caffe_pool(n: int, k: int, p: int, s: int, before: int) -> int:
    """Caffe's pooling output: ceil((n + p - k) / s) + 1, less one when the last window
    would start in the padding past the input."""
    out = -(-(n + p - k) // s) + 1
    return out - 1 if (out - 1) * s >= n + before else out


def _pooling_note(layer: Layer) -> Diagnostic | None:
    a = layer.attrs
    channels, n_h, n_w = layer.input_shape
    caffe = (channels, *(_caffe_pool(n, k, before + after, s, before) for n, k, s, before, after in zip(
        (n_h, n_w), a.kernel, a.step, (a.padding.top, a.padding.left), (a.padding.bottom, a.padding.right))))
    if caffe == tuple(layer.output_shape):
        return None
    return warning("W0302", f"{layer.node.name}: Caffe rounds pooling up and gives {format_shape(caffe)}; netspec "
                            f"(like PyTorch and ONNX) rounds down and gives {format_shape(layer.output_shape)}",
                   layer.node.keyword_span,
                   help="ceil_mode=True in PyTorch (ceil_mode=1 in ONNX) reproduces Caffe's shape")


def _same_note(layer: Layer, written) -> Diagnostic | None:
    p = layer.attrs.padding
    if not isinstance(written, SamePadding) or (p.top == p.bottom and p.left == p.right):
        return None
    return warning("W0302", f"{layer.node.name}: `padding=same` pads {p.top},{p.bottom},{p.left},{p.right} "
                            "(top, bottom, left, right) as PyTorch and TensorFlow do; ONNX's auto_pad=SAME_LOWER "
                            f"pads {p.bottom},{p.top},{p.right},{p.left}: the same shape, windows one row or column "
                            "higher or further left", layer.node.span_of("padding"),
                   help=f"write `padding={p.top},{p.bottom},{p.left},{p.right}` to state the placement")


def portability_notes(graph: ShapedGraph) -> tuple[Diagnostic, ...]:
    """W0302 notes for the layers of a valid graph with sizes given as numbers."""
    notes = []
    for layer in graph.layers:
        op = OPS[layer.node.kind]
        if not op.has(Trait.WINDOWED) or layer.output_shape is None:
            continue
        if op.has(Trait.LINEAR_PER_CHANNEL):  # a convolution: Caffe rounds it down too
            found = [_same_note(layer, layer.node.attrs.padding)]
        else:
            found = [_pooling_note(layer), _same_note(layer, layer.node.attrs.padding)]
        notes += [note for note in found if note]
    return tuple(notes)
