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

    def offset(self, line: int, column: int) -> int:
        """The index in `text` of a 1-based line and column. Lines end at "\n" only,
        as the parser counts them, so a fix lands where its diagnostic points."""
        start = 0
        for _ in range(line - 1):
            start = self.text.index("\n", start) + 1
        return start + column - 1

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of an index in `text`: the inverse of `offset`."""
        line_start = self.text.rfind("\n", 0, offset) + 1
        return self.text.count("\n", 0, offset) + 1, offset - line_start + 1

    def whole_lines(self, first: int, last: int) -> "Span":
        """Lines `first` to `last` with the line break after `last`: what a fix replaces
        to delete or move whole lines."""
        start = self.offset(last, 1)
        end = self.text.find("\n", start)
        if end == -1:  # the last line of a file without a final line break
            return Span(self, first, 1, len(self.text) - start + 1, end_line=last)
        return Span(self, first, 1, 1, end_line=last + 1)


@dataclass(frozen=True)
class Span:
    """A range of text: 1-based lines and columns, end column exclusive. Most spans are
    one token, so `end_line` defaults to `line`; a fix that deletes or moves lines spans several."""

    source: Source
    line: int
    column: int
    end_column: int
    end_line: int = field(default=None, kw_only=True)

    def __post_init__(self):
        if self.end_line is None:
            object.__setattr__(self, "end_line", self.line)

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def text(self) -> str:
        """The source text the span covers."""
        return self.source.text[self.source.offset(self.line, self.column):
                                self.source.offset(self.end_line, self.end_column)]

    @property
    def end(self) -> "Span":
        """The empty span just past this one: where text inserted after it goes."""
        return Span(self.source, self.end_line, self.end_column, self.end_column)

    def to(self, other: "Span") -> "Span":
        """The span from the start of this one to the end of `other`."""
        return Span(self.source, self.line, self.column, other.end_column, end_line=other.end_line)


# A spec is a page of text; refusing anything past this keeps reading and parsing
# time and memory bounded (Lark parses about 10^5 tokens a second) whatever arrives.
MAX_SPEC_BYTES = 2 * 2**20


def read_bytes(path: str) -> bytes:
    """At most MAX_SPEC_BYTES + 1 bytes of a spec file: the parser refuses longer files."""
    with open(path, "rb") as handle:
        return handle.read(MAX_SPEC_BYTES + 1)


def decode(data: bytes) -> str:
    """A spec file's bytes as text. A byte-order mark is dropped (editors do not count it
    as a column); bytes that are not UTF-8 become U+FFFD so they can be reported."""
    return data.decode("utf-8-sig", errors="replace")


def read_source(path: str) -> Source:
    """Read a spec file as text."""
    return Source(path, decode(read_bytes(path)))
