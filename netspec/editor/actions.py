"""Code actions: each fix a diagnostic carries, and every fix `netspec fix` would apply at once.

A diagnostic's first fix is the one `netspec fix` prefers; a fix that is not machine
applicable (a warning's, which changes what a valid network computes) is offered but
never preferred.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Diagnostic, Fix
from ..fixer import fix_source
from ..frontend.source import Span
from .document import Document

QUICK_FIX = "quickfix"
FIX_ALL = "source.fixAll"


@dataclass(frozen=True)
class Action:
    title: str
    kind: str  # QUICK_FIX or FIX_ALL
    fix: Fix  # the edit
    diagnostic: Diagnostic | None  # what a quick fix resolves
    preferred: bool = False


def actions(document: Document, first_line: int, last_line: int) -> tuple[Action, ...]:
    """The fixes of the diagnostics on lines `first_line` to `last_line`, then the fix-all."""
    found = []
    for diagnostic in document.result.diagnostics:
        span = diagnostic.span
        if span is None or span.line > last_line or span.end_line < first_line:
            continue
        for index, fix in enumerate(diagnostic.fixes):
            title = fix.note if fix.machine_applicable else f"{fix.note} (check it: `netspec fix` leaves this to you)"
            found.append(Action(title, QUICK_FIX, fix, diagnostic, preferred=index == 0 and fix.machine_applicable))
    return (*found, *_fix_all(document))


def _fix_all(document: Document) -> tuple[Action, ...]:
    if not any(d.fixes and d.fixes[0].machine_applicable for d in document.result.diagnostics):
        return ()
    fixed = fix_source(document.source)
    if not fixed.changed:
        return ()
    source = document.source
    end_line, end_column = source.position(len(source.text))
    count = len(fixed.applied)
    title = f"Apply {count} fix{'es' * (count != 1)}, as `netspec fix` does"
    return (Action(title, FIX_ALL, Fix(Span(source, 1, 1, end_column, end_line=end_line), fixed.text, title), None),)
