"""Controlling warnings: silencing them where the spec says `# allow CODE` or the caller
names their codes, and turning the rest into errors for CI (`--deny-warnings`).

A comment silences a warning on any line the warning points at: its own line and,
for a layer that came from a block, the line of every call that led to it. So
`# allow W0301` on a layer inside a block silences the warning for every call of
the block, and on one call line for that call only.
"""
from __future__ import annotations

import re
from dataclasses import replace

from .diagnostics import Diagnostic, Severity
from .explanations import code_named
from .frontend.source import Source

# `# allow W0301`, `# allow: W0301, W0302`, anywhere in a comment. A `#` appears in no
# other token, so the text after a line's first `#` is its comment.
_ALLOW = re.compile(r"\ballow\s*:?\s*([A-Z]\d{4}(?:[\s,]+[A-Z]\d{4})*)", re.IGNORECASE)


def warning_codes(codes) -> frozenset[str]:
    """The codes (in any letter case) as warnings' codes; raises ValueError for a string
    that is not a code, or the code of an error: errors cannot be silenced."""
    named = frozenset(code_named(code) for code in codes)
    errors = sorted(code for code in named if not code.startswith("W"))
    if errors:
        raise ValueError(f"only warnings can be allowed, and {', '.join(errors)} "
                         f"{'is an error' if len(errors) == 1 else 'are errors'}")
    return named


def _allowed_by_comments(source: Source) -> dict[int, frozenset[str]]:
    allowed = {}
    for number, line in enumerate(source.text.split("\n"), start=1):
        match = _ALLOW.search(line.partition("#")[2])
        if match:
            allowed[number] = frozenset(re.split(r"[\s,]+", match.group(1).upper()))
    return allowed


def _lines(diagnostic: Diagnostic) -> set[int]:
    """The lines a diagnostic points at: its own, and its notes' (for a layer from a block, the calls)."""
    spans = ([diagnostic.span] if diagnostic.span else []) + [note.span for note in diagnostic.notes]
    return {span.line for span in spans}


def silence(diagnostics: tuple[Diagnostic, ...], source: Source, allow=frozenset()) -> tuple[Diagnostic, ...]:
    """The diagnostics without the warnings whose code is in `allow` or that an
    `# allow CODE` comment on a line they point at silences."""
    if all(d.is_error for d in diagnostics):
        return diagnostics  # most specs: no need to read the comments
    by_line = _allowed_by_comments(source)
    return tuple(d for d in diagnostics if d.is_error or not (
        d.code in allow or any(d.code in by_line.get(line, ()) for line in _lines(d))))


def deny(diagnostics: tuple[Diagnostic, ...]) -> tuple[Diagnostic, ...]:
    """Every warning as an error (it keeps its code): for CI, where a warning should fail the check."""
    return tuple(replace(d, severity=Severity.ERROR) for d in diagnostics)
