"""Source files and spans.

Every value that came from a `.net` file remembers where it was written, so a
diagnostic can point at the exact token.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """The text of one spec file and the name it is reported under."""

    path: str
    text: str = field(repr=False)

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 1 <= number <= len(lines) else ""


@dataclass(frozen=True)
class Span:
    """A range of one line: 1-based line and column, end column exclusive."""

    source: Source
    line: int
    column: int
    end_column: int

    @property
    def path(self) -> str:
        return self.source.path

    def to(self, other: "Span") -> "Span":
        """The span from the start of this one to the end of `other` (same line)."""
        if other.line != self.line:
            return self
        return Span(self.source, self.line, self.column, max(self.end_column, other.end_column))


# A spec is a page of text; refusing anything past this keeps reading and parsing
# time and memory bounded (Lark parses about 10^5 tokens a second) whatever arrives.
MAX_SPEC_BYTES = 2 * 2**20


def read_source(path: str) -> Source:
    """Read a spec file as text; bytes that are not UTF-8 become U+FFFD so they can be
    reported. At most MAX_SPEC_BYTES + 1 bytes are read: the parser refuses longer files."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_SPEC_BYTES + 1)
    return Source(path, data.decode("utf-8", errors="replace"))
