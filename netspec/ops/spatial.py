"""What convolution and pooling share: they need a CxHxW input and slide windows over it."""
from __future__ import annotations

from ..diagnostics import Diagnostic, error
from ..ir import Node, Shape, format_shape
from . import window
from .params import Padding


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

    Returns (output height and width or None, resolved padding, diagnostics)."""
    wrong_rank = needs_image(node, input_shape)
    if wrong_rank:
        return None, padding, (wrong_rank,)
    _, n_h, n_w = input_shape
    resolved: Padding = window.resolve_padding(padding, n_h, n_w, kernel, stride)
    both = window.axes(n_h, n_w, kernel, stride, resolved)
    too_large = window.kernel_fits(node, both)
    if too_large:
        return None, resolved, (too_large,)
    return (both[0].out, both[1].out), resolved, window.unread_warnings(node, both, max_padding)
