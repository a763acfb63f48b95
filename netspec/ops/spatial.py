"""What convolution and pooling share: they need a CxHxW input and slide windows over it."""
from __future__ import annotations

from ..diagnostics import Diagnostic, error
from ..ir import Node, Shape, format_shape
from . import window
from ..symbolic import Requirement, is_symbolic
from .params import Padding, SamePadding


def needs_image(node: Node, input_shape: Shape) -> Diagnostic | None:
    if len(input_shape) == 3:
        return None
    return error(
        "E0302",
        f"{node.name}: {node.kind} needs a CxHxW input, but its input is the flat vector {format_shape(input_shape)}",
        node.keyword_span,
        help=f"`{node.kind}` works on images: place it before `flatten` and `dense`, on a CxHxW tensor",
    )


def slide(node: Node, input_shape: Shape, kernel, stride, padding, max_padding):
    """Check the input is an image, resolve the padding and apply the window rule on both axes.
    `max_padding(kernel)` is the most padding a side may get from a computed fix.

    Returns (output height and width or None, resolved padding, diagnostics, requirements)."""
    wrong_rank = needs_image(node, input_shape)
    if wrong_rank:
        return None, padding, (wrong_rank,), ()
    _, n_h, n_w = input_shape
    if is_symbolic(n_h) or is_symbolic(n_w):
        return _slide_symbolic(node, (n_h, n_w), kernel, stride, padding)
    resolved: Padding = window.resolve_padding(padding, n_h, n_w, kernel, stride)
    both = window.axes(n_h, n_w, kernel, stride, resolved)
    too_large = window.kernel_fits(node, both)
    if too_large:
        return None, resolved, (too_large,), ()
    return (both[0].out, both[1].out), resolved, window.unread_warnings(node, both, max_padding), ()


def _slide_symbolic(node: Node, sizes, kernel, stride, padding):
    """The window rule on sizes that are names: the output as expressions, and each
    axis's need that a window fits, out >= 1. `same` keeps its meaning, out = ceil(n / s).
    Rows past the last window depend on the size, so they are not warned about here."""
    if isinstance(padding, SamePadding):
        outs = [(n + s - 1) // s for n, s in zip(sizes, stride)]
    else:
        outs = [window.output_size(n, k, p, s)
                for n, k, p, s in zip(sizes, kernel, (padding.rows, padding.columns), stride)]
    requirements = []
    for axis, out in zip(("height", "width"), outs):
        if isinstance(out, int) and out < 1:
            return None, padding, (error("E0301", f"{node.name}: kernel {window.pair(kernel)} is larger than "
                                                  f"the padded input {axis} (out = {out})", node.span_of("kernel")),), ()
        if is_symbolic(out):
            requirements.append(Requirement(out, ">=", 1, f"{node.name}: the kernel fits the padded {axis}"))
    return tuple(outs), padding, (), tuple(requirements)
