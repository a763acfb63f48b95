"""Diagnostics as values, and their rendering as compiler-style text or JSON.

Stages return diagnostics; only the command line decides how to show them.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .frontend.source import Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Note:
    """A secondary location with a label, e.g. where a duplicate name was first defined."""

    span: Span
    message: str


@dataclass(frozen=True)
class Fix:
    """A change a tool can apply: replace the text `span` covers with `replacement`
    (an empty span inserts). `note` says what the change does. A diagnostic's fixes
    are alternatives: a tool applies one of them. `machine_applicable` (rustc's word)
    is False for a change a person should decide on: a warning's fix changes what a
    valid network computes, so `netspec fix` leaves it to the author."""

    span: Span
    replacement: str
    note: str
    machine_applicable: bool = True


@dataclass(frozen=True)
class Diagnostic:
    code: str  # a key of codes.CODES
    severity: Severity
    message: str
    span: Span | None
    help: str | None = None
    notes: tuple[Note, ...] = ()
    fixes: tuple[Fix, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        """As the command line shows it (`render_text`), so `print(diagnostic)` reads like a compiler's message."""
        return render_text(self)


def error(code: str, message: str, span: Span | None, help: str | None = None, notes: tuple[Note, ...] = (),
          fixes: tuple[Fix, ...] = ()) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, span, help, notes, fixes)


def warning(code: str, message: str, span: Span | None, help: str | None = None,
            fixes: tuple[Fix, ...] = ()) -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, message, span, help, fixes=fixes)


def has_errors(diagnostics) -> bool:
    return any(d.is_error for d in diagnostics)


def printable(text: str) -> str:
    """A name from outside (a file's, a class's) fit for a terminal: control characters and
    undecodable bytes written as escapes (`\x1b`), so nothing reaches it uninterpreted."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


# A line this long is shown cut around the caret: a 10 MB line must not flood the terminal.
_MAX_SHOWN_LINE = 200


def _excerpt(span: Span) -> list[str]:
    # Control characters and undecodable bytes are shown as U+FFFD: one column each,
    # so the caret still lines up, and nothing reaches the terminal uninterpreted.
    text = "".join(ch if ch.isprintable() else ("\ufffd" if ch != "\t" else " ") for ch in span.source.line(span.line))
    start = span.column - 1
    # A span over several lines is underlined to the end of its first line.
    end_column = span.end_column if span.end_line == span.line else len(text) + 1
    width = max(1, min(end_column, len(text) + 1) - span.column)
    if len(text) > _MAX_SHOWN_LINE:
        left = max(0, start - _MAX_SHOWN_LINE // 2)
        text = ("..." if left else "") + text[left:left + _MAX_SHOWN_LINE] + "..."
        start = start - left + (3 if left else 0)
        width = min(width, _MAX_SHOWN_LINE)
    gutter = str(span.line)
    pad = " " * len(gutter)
    continues = f" (continues to line {span.end_line})" if span.end_line > span.line else ""
    return [f" {gutter} | {text}", f" {pad} | {' ' * start}{'^' * width}{continues}"]


def _location(span: Span | None) -> str:
    return f"{span.path}:{span.line}:{span.column}: " if span else ""


def render_text(diagnostic: Diagnostic) -> str:
    """`FILE:LINE:COL: error[CODE]: MESSAGE`, the source line with a caret, notes, then `help:`.
    Fixes are not shown again: the help line already says what each one does."""
    lines = [f"{_location(diagnostic.span)}{diagnostic.severity.value}[{diagnostic.code}]: {diagnostic.message}"]
    if diagnostic.span:
        lines += _excerpt(diagnostic.span)
    for note in diagnostic.notes:
        lines.append(f"{_location(note.span)}note: {note.message}")
        lines += _excerpt(note.span)
    if diagnostic.help:
        lines.append(f"help: {diagnostic.help}")
    return "\n".join(lines)


def _extent(span: Span | None) -> dict:
    return {
        "file": span.path if span else None,
        "line": span.line if span else None,
        "column": span.column if span else None,
        "end_line": span.end_line if span else None,
        "end_column": span.end_column if span else None,
    }


def to_json(diagnostic: Diagnostic) -> dict:
    record = {
        **_extent(diagnostic.span),
        "severity": diagnostic.severity.value,
        "code": diagnostic.code,
        "message": diagnostic.message,
    }
    if diagnostic.help:
        record["help"] = diagnostic.help
    if diagnostic.notes:
        record["notes"] = [
            {"file": n.span.path, "line": n.span.line, "column": n.span.column, "message": n.message}
            for n in diagnostic.notes
        ]
    if diagnostic.fixes:
        record["fixes"] = [{**_extent(f.span), "replacement": f.replacement, "note": f.note,
                            "applicability": "machine-applicable" if f.machine_applicable else "maybe-incorrect"}
                           for f in diagnostic.fixes]
    return record
