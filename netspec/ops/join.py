"""Joins of several tensors: `add a b ...` (residual connections: shapes must be
identical) and `concat a b ...` (along channels: heights and widths must agree)."""
from __future__ import annotations

from math import prod

from ..diagnostics import Fix, Note, error
from ..frontend.source import Span
from ..ir import Node, Shape, format_shape
from ..symbolic import Requirement, is_symbolic
from . import Inference, NoAttrs, OpDef, Operand, Trait, window


def _operands(node: Node, shapes: tuple[Shape, ...]) -> tuple[Note, ...]:
    return tuple(Note(node.span_of(f"operand{i}"), f"`{name}` is {format_shape(shape)}")
                 for i, (name, shape) in enumerate(zip(node.inputs, shapes)))


def _projection(target: Shape, other: Shape) -> str | None:
    """The 1x1 convolution that turns `other` into `target`'s shape, when one exists."""
    if len(target) == 3 and len(other) == 3 and other[1] % target[1] == 0 and other[2] % target[2] == 0:
        stride_h, stride_w = other[1] // target[1], other[2] // target[2]
        stride = stride_h if stride_h == stride_w else f"{stride_h}x{stride_w}"
        step = f" stride={stride}" if stride != 1 else ""
        return f"conv {target[0]} kernel=1{step}"
    return None


def _shortcut_line(node: Node, operand: int, conv: str, note: str) -> tuple[Fix, ...]:
    """One edit: a line above the `add` putting `conv` on the operand, and the operand
    renamed to it. Only when the `add` names every operand: with one name, the tensor
    before it is the other operand, and a new line above would take its place."""
    if node.span_of("operand0") == node.keyword_span:
        return ()
    at = node.span_of(f"operand{operand}")
    name = at.text
    before = Span(at.source, at.line, 1, at.column)
    indent = Span(at.source, at.line, 1, node.span.column).text
    replacement = f"{indent}{name}_shortcut: {conv} input={name}\n{before.text}{name}_shortcut"
    return (Fix(before.to(at), replacement, note),)


def _padding_fix(target: Shape, operand: Operand) -> tuple[str, tuple[Fix, ...]] | None:
    """Padding on the windowed layer that made `operand`, so that its output becomes
    `target` (a convolution without padding shrinks what a residual adds back)."""
    from . import OPS  # the registry includes this module: read it when a join is checked

    producer = operand.producer
    if producer is None or not OPS[producer.node.kind].has(Trait.WINDOWED) or producer.node.expansion:
        return None
    padding = window.padding_for(producer, target)
    if padding is None:
        return None
    note = f"use padding={padding} on `{producer.node.name}` so that it gives {format_shape(target)}"
    return note, (window.setting(producer.node, "padding", padding, note),)


def _agree(node: Node, shapes: tuple[Shape, ...], axes: slice, what: str):
    """For shapes whose sizes are names: the operands that differ for every size (their
    index, or None), and the requirements that make the others agree."""
    requirements = []
    for index, shape in enumerate(shapes[1:], start=1):
        if len(shape) != len(shapes[0]):
            return index, ()
        for ours, theirs in zip(shapes[0][axes], shape[axes]):
            if ours == theirs:
                continue
            if not (is_symbolic(ours) or is_symbolic(theirs)):
                return index, ()
            requirements.append(Requirement(ours, "==", theirs, f"{node.name}: the {what} of `{node.inputs[0]}` "
                                                                 f"and `{node.inputs[index]}` agree"))
    return None, tuple(requirements)


def _add_fix(node: Node, operands: tuple[Operand, ...], index: int) -> tuple[str, tuple[Fix, ...]]:
    """The help and fixes for operand `index` differing from the first: padding on the layer that
    shrank the smaller one, or a 1x1 convolution on the shortcut."""
    shapes = tuple(o.shape for o in operands)
    shortcut = index if prod(shapes[index][1:]) >= prod(shapes[0][1:]) else 0
    main = 0 if shortcut else index
    padded = _padding_fix(shapes[shortcut], operands[main])
    if padded:
        return padded
    conv = _projection(shapes[main], shapes[shortcut])
    if conv is None:
        return "make the operands the same shape", ()
    help = f"put `{conv}` on the shortcut so it becomes {format_shape(shapes[main])}"
    return help, _shortcut_line(node, shortcut, conv, help)


def _add(node: Node, operands: tuple[Operand, ...]) -> Inference:
    shapes = tuple(o.shape for o in operands)
    first = shapes[0]
    if any(is_symbolic(d) for shape in shapes for d in shape):
        index, requirements = _agree(node, shapes, slice(None), "shapes")
        if index is None:
            return Inference(first, node.attrs, (), requirements)
        # differs for every size: no padding or shortcut is computed for sizes that are names
        help, fixes = "make the operands the same shape", ()
    else:
        index = next((i for i, shape in enumerate(shapes) if shape != first), None)
        if index is None:
            return Inference(first, node.attrs)
        help, fixes = _add_fix(node, operands, index)
    message = (f"{node.name}: `add` needs operands of identical shape, but `{node.inputs[0]}` is "
               f"{format_shape(first)} and `{node.inputs[index]}` is {format_shape(shapes[index])}")
    return Inference(None, node.attrs, (error("E0305", message, node.span_of(f"operand{index}"), help=help,
                                              notes=_operands(node, shapes), fixes=fixes),))


def _concat(node: Node, operands: tuple[Operand, ...]) -> Inference:
    shapes = tuple(o.shape for o in operands)
    if all(len(shape) == 1 for shape in shapes):
        if any(is_symbolic(shape[0]) for shape in shapes):  # a sum of products of sizes: no `Size`
            return Inference(None, node.attrs, (error(
                "E0310", f"{node.name}: joining flat vectors whose lengths depend on the input's sizes is "
                         "not supported with sizes that are names", node.keyword_span,
                help="check this network with numbers for the input's sizes"),))
        return Inference((sum(shape[0] for shape in shapes),), node.attrs)
    first = shapes[0]
    if all(len(shape) == 3 for shape in shapes) and any(is_symbolic(d) for shape in shapes for d in shape[1:]):
        index, requirements = _agree(node, shapes, slice(1, None), "heights and widths")
        if index is None:
            return Inference((sum(shape[0] for shape in shapes), *first[1:]), node.attrs, (), requirements)
    for index, shape in enumerate(shapes):
        if len(shape) != 3 or len(first) != 3 or shape[1:] != first[1:]:
            message = (f"{node.name}: `concat` joins along channels, so heights and widths must agree, but "
                       f"`{node.inputs[0]}` is {format_shape(first)} and `{node.inputs[index]}` is {format_shape(shape)}")
            return Inference(None, node.attrs, (error("E0306", message, node.span_of(f"operand{index}"),
                                                      help="pad or pool the operands to the same height and width",
                                                      notes=_operands(node, shapes)),))
    return Inference((sum(shape[0] for shape in shapes), *first[1:]), node.attrs)


OPS = (
    OpDef(kind="add", usage="add A B ...", params=(), attrs=NoAttrs, infer=_add, traits=frozenset({Trait.JOINS})),
    OpDef(kind="concat", usage="concat A B ...", params=(), attrs=NoAttrs, infer=_concat,
          traits=frozenset({Trait.JOINS})),
)
