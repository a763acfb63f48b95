"""Where a name used in a statement is defined: a tensor named by `input=NAME` or listed by
a join (`add a b`) -> the statement that produces it, in the same block body or at the top
level; a block call -> the block; a block's parameter in its body -> the parameter."""
from __future__ import annotations

from ..frontend import ast
from ..frontend.build import BLOCK_INPUT
from ..frontend.source import Span
from ..ir import INPUT
from ..ops import OPS, Trait
from .document import Document


def definition(document: Document, line: int, column: int) -> Span | None:
    statement = document.statement_at(line, column)
    if statement is None:
        return None
    block = document.block_at(line)
    if _within(statement.keyword_span, column):
        called = document.blocks.get(statement.keyword)
        return called.name_span if called else None
    for argument in statement.arguments:
        value = argument.value
        if value.kind != "word" or not _within(value.span, column):
            continue
        parameter = next((p for p in block.parameters if p.name == value.text), None) if block else None
        if parameter:
            return parameter.span
        if _names_tensor(statement, argument):
            return _tensor(document, value.text, block, line)
    return None


def _within(span: Span, column: int) -> bool:
    return span.column <= column <= span.end_column


def _names_tensor(statement: ast.Statement, argument) -> bool:
    if isinstance(argument, ast.Keyword):
        return argument.key == "input"
    op = OPS.get(statement.keyword)
    return op is not None and op.has(Trait.JOINS)


def _tensor(document: Document, name: str, block: ast.BlockDefinition | None, line: int) -> Span | None:
    """The statement defining `name` that a statement at `line` sees: the last one before it
    in the same scope, the `input` line, or the block whose input `in` is."""
    if block is None and name == INPUT:
        items = document.program.items
        return next((i.span for i in items if isinstance(i, ast.Statement) and i.keyword == INPUT), None)
    if block is not None and name == BLOCK_INPUT:
        return block.name_span
    scope = block.name if block else None
    earlier = [i.span for i in document.instances if i.local == name and i.scope == scope and i.span.line < line]
    return max(earlier, key=lambda span: span.line, default=None)
