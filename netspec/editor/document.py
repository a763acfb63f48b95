"""One spec as an editor holds it: its text, checked once, with what was written and
what each statement produced, for every answer the editor asks for."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..frontend import ast
from ..frontend.build import build
from ..frontend.parse import parse
from ..frontend.source import Source, Span
from ..ir import Graph
from ..network import CheckResult, check_source
from .instances import Instance, instances_of


@dataclass(frozen=True)
class Document:
    source: Source

    @cached_property
    def result(self) -> CheckResult:
        return check_source(self.source)

    @cached_property
    def program(self) -> ast.Program | None:
        """What was written, statement by statement; None when the text has syntax errors."""
        return parse(self.source)[0]

    @cached_property
    def graph(self) -> Graph | None:
        """Every layer the statements expand to, also those after one whose shape failed
        (the shaped graph stops there): names stay known past an error."""
        return build(self.program, self.source)[0] if self.program else None

    @cached_property
    def instances(self) -> tuple[Instance, ...]:
        return instances_of(self.graph) if self.graph else ()

    @cached_property
    def lines(self) -> tuple[str, ...]:
        # Lines as netspec counts them (broken at "\n" only, see Source.offset).
        return tuple(self.source.text.split("\n"))

    def line(self, number: int) -> str:
        return self.lines[number - 1].removesuffix("\r") if 1 <= number <= len(self.lines) else ""

    def line_end(self, number: int) -> Span:
        """The empty span at the end of a line, where a hint goes."""
        column = len(self.line(number)) + 1
        return Span(self.source, number, column, column)

    def without_line(self, number: int) -> "Document":
        """The same spec with one line left empty: what was defined before the line a
        person is typing, while that line does not parse yet."""
        lines = list(self.lines)
        if 1 <= number <= len(lines):
            lines[number - 1] = ""
        return Document(Source(self.source.path, "\n".join(lines)))

    @cached_property
    def blocks(self) -> dict[str, ast.BlockDefinition]:
        items = self.program.items if self.program else ()
        return {item.name: item for item in items if isinstance(item, ast.BlockDefinition)}

    def block_at(self, line: int) -> ast.BlockDefinition | None:
        """The block whose body holds `line` (from its `{` to its closing `}`)."""
        return next((block for block in self.blocks.values()
                     if block.name_span.line < line <= self._closing_line(block.name_span.line)), None)

    def _closing_line(self, first: int) -> int:
        depth = 0
        for number in range(first, len(self.lines) + 1):
            code = self.line(number).split("#", 1)[0]
            depth += code.count("{") - code.count("}")
            if depth <= 0 and number > first:
                return number
        return len(self.lines)

    def statement_at(self, line: int, column: int) -> ast.Statement | None:
        """The statement written at a position (from its name to its stated shape)."""
        for statement in _statements(self.program.items if self.program else ()):
            end = statement.expected.span if statement.expected else statement.span
            if statement.span.line == line and statement.span.column <= column <= end.end_column:
                return statement
        return None


def _statements(items):
    for item in items:
        if isinstance(item, ast.Statement):
            yield item
        else:
            yield from _statements(item.body)
