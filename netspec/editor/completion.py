"""Completions while a statement is typed: at its start the layer kinds, the blocks and the
statement keywords; after a kind or a block, its parameters as `key=`; where a tensor is
named (`input=`, a join's operands), the tensors defined before the line in its scope.

The line being typed rarely parses, so names come from the spec with that line left empty.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..frontend.build import BLOCK_INPUT, HEADERS
from ..ir import INPUT, format_shape
from ..ops import OPS, Trait
from .document import Document

LAYER, BLOCK, KEYWORD, PARAMETER, TENSOR = "layer", "block", "keyword", "parameter", "tensor"

# `[name:] word`, the cursor still in the statement's keyword
_START = re.compile(r"\s*(?:\w+\s*:\s*)?\w*")
# `[name:] keyword arguments... word`, the cursor in an argument
_ARGUMENT = re.compile(r"\s*(?:\w+\s*:\s*)?(?P<keyword>\w+)\s+(?P<arguments>.*?)\w*")
_KEY_BEFORE = re.compile(r"(\w+)\s*=\s*$")


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # LAYER, BLOCK, KEYWORD, PARAMETER or TENSOR
    detail: str | None = None
    insert: str | None = None  # what is inserted, when it is not the label


def completions(document: Document, line: int, column: int) -> tuple[Completion, ...]:
    prefix = document.line(line)[:column - 1]
    if "#" in prefix:
        return ()
    before = document.without_line(line)
    if _START.fullmatch(prefix):
        return _statement_start(before, line)
    match = _ARGUMENT.fullmatch(prefix)
    if match is None or "->" in match["arguments"]:
        return ()
    keyword, arguments = match["keyword"], match["arguments"]
    key = _KEY_BEFORE.search(arguments)
    if key:
        return _tensors(before, line) if key[1] == "input" else ()
    if arguments and not arguments[-1].isspace():
        return ()
    given = set(re.findall(r"(\w+)\s*=", arguments))
    op = OPS.get(keyword)
    if op is not None and op.has(Trait.JOINS):
        return _tensors(before, line)
    if op is not None:
        names = [p.name for p in op.params if not p.positional] + [INPUT]
        usage = op.usage
    elif keyword in before.blocks:
        block = before.blocks[keyword]
        names = [p.name for p in block.parameters] + [INPUT]
        usage = _signature(block)
    else:
        return ()
    return tuple(Completion(name, PARAMETER, usage, f"{name}=") for name in names if name not in given)


def _signature(block) -> str:
    parameters = ", ".join(p.name if p.default is None else f"{p.name}={p.default.text}" for p in block.parameters)
    return f"block {block.name}({parameters})"


def _statement_start(document: Document, line: int) -> tuple[Completion, ...]:
    inside = document.block_at(line) is not None
    layers = [Completion(kind, LAYER, op.usage) for kind, op in OPS.items()]
    blocks = [Completion(name, BLOCK, _signature(block)) for name, block in document.blocks.items()]
    keywords = ["repeat"] if inside else [*HEADERS, "block", "repeat"]
    return (*layers, *blocks, *(Completion(word, KEYWORD) for word in keywords))


def _tensors(document: Document, line: int) -> tuple[Completion, ...]:
    """The tensors a statement at `line` can read: the latest definition of each name before it."""
    block = document.block_at(line)
    scope = block.name if block else None
    graph = document.result.graph
    shapes = {layer.node.name: layer.output_shape for layer in graph.layers} if graph else {}
    found = {}
    for instance in sorted(document.instances, key=lambda i: i.span.line):
        if instance.scope == scope and instance.span.line < line:
            shape = shapes.get(instance.tensor) if scope is None else None
            found[instance.local] = Completion(instance.local, TENSOR, format_shape(shape) if shape else None)
    if block is not None:
        first = Completion(BLOCK_INPUT, TENSOR, "the block's input")
    else:
        first = Completion(INPUT, TENSOR, format_shape(graph.input_shape) if graph else "the network's input")
    return (first, *found.values())
