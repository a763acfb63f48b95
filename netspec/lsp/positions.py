"""Positions as the Language Server Protocol counts them, and netspec's spans.

The protocol breaks lines at "\n", "\r\n" and "\r" and counts characters in the
encoding the client and server agreed on (UTF-16 code units unless told otherwise);
netspec breaks lines at "\n" only and counts columns in characters. Both meet at an
offset into the text.
"""
from __future__ import annotations

import re
from bisect import bisect_right

from ..frontend.source import Source, Span

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

# Code units of one character, by the protocol's name of the encoding.
_UNITS = {
    "utf-8": lambda ch: len(ch.encode("utf-8", "surrogatepass")),
    "utf-16": lambda ch: 2 if ord(ch) > 0xFFFF else 1,
    "utf-32": lambda ch: 1,
}


class Positions:
    """Converts positions in one text: (line, character) pairs are the protocol's, 0-based."""

    def __init__(self, source: Source, encoding: str = "utf-16"):
        self.source = source
        self.units = _UNITS.get(encoding, _UNITS["utf-16"])
        text = source.text
        breaks = list(_LINE_BREAK.finditer(text))
        self.starts = [0] + [b.end() for b in breaks]
        self.ends = [b.start() for b in breaks] + [len(text)]
        self.netspec_starts = [0] + [b.end() for b in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        return line, sum(self.units(ch) for ch in self.source.text[start:min(offset, self.ends[line])])

    def offset(self, line: int, character: int) -> int:
        """The offset of a protocol position; past the end of its line, the line's end."""
        if line >= len(self.starts):
            return len(self.source.text)
        offset, counted = self.starts[max(line, 0)], 0
        while offset < self.ends[max(line, 0)] and counted < character:
            counted += self.units(self.source.text[offset])
            offset += 1
        return offset

    def netspec_position(self, line: int, column: int) -> tuple[int, int]:
        """The protocol position of a netspec line and column. A column past the end of its
        line (a syntax error at the line break points there) stays on the line, past its end,
        as `netspec check` reports it; the protocol's clients show it at the end."""
        line = min(max(line, 1), len(self.netspec_starts))
        start = self.netspec_starts[line - 1]
        end = self.source.text.find("\n", start)
        end = len(self.source.text) if end == -1 else end - self.source.text.endswith("\r", start, end)
        offset = start + max(column, 1) - 1
        if offset <= end:
            return self.position(offset)
        at_end, character = self.position(end)
        return at_end, character + offset - end

    def range(self, span: Span) -> tuple[tuple[int, int], tuple[int, int]]:
        """A span as the protocol's start and end positions."""
        return self.netspec_position(span.line, span.column), self.netspec_position(span.end_line, span.end_column)

    def point(self, line: int, character: int) -> tuple[int, int]:
        """A protocol position as netspec's line and column."""
        return self.source.position(self.offset(line, character))
