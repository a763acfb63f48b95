"""Applying the fixes diagnostics carry, as `netspec fix` does.

Each round applies the first (preferred) fix of every diagnostic that has one, then
checks the new text, since a fix can reveal a problem further on (the layers after
a failing one are not checked). Text outside the edits, comments included, is kept.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from .diagnostics import Diagnostic, Fix
from .frontend.source import Source, Span
from .network import CheckResult, check_source
from .specfile import read_spec_file

# Rounds are few: one more for each problem that hid the next. The bound ends the
# loop should a fix ever fail to resolve its problem.
MAX_ROUNDS = 10

# Fixes computed from other statements: a tensor name chosen from the names defined so
# far (a layer kind's typo fixed renames `con0v1` to `conv1`), or the padding that gives
# a stated shape from the shapes of the layers before (a fix above changes them). Another
# fix in the same round can make them wrong, so each waits for a round of its own.
DEPENDENT = frozenset({"E0215", "E0309"})


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] with `replacement` (offsets into one version of the text)."""

    start: int
    end: int
    replacement: str

    def clashes(self, other: "Edit") -> bool:
        # Edits that touch clash too: two insertions at one place have no order.
        return self != other and self.start <= other.end and other.start <= self.end


@dataclass(frozen=True)
class Applied:
    """A fix that was applied, with `span`: where its diagnostic pointed in the original text."""

    diagnostic: Diagnostic
    fix: Fix
    span: Span

    def __str__(self) -> str:
        return f"{self.span.path}:{self.span.line}:{self.span.column}: fixed {self.diagnostic.code}: {self.fix.note}"


@dataclass(frozen=True)
class Fixed:
    """The outcome of fixing a spec: the original, the fixed text checked again, and what was applied."""

    original: Source
    result: CheckResult  # of the fixed text
    applied: tuple[Applied, ...]

    @property
    def text(self) -> str:
        return self.result.source.text

    @property
    def changed(self) -> bool:
        return self.text != self.original.text

    @property
    def remaining(self) -> tuple[Diagnostic, ...]:
        return self.result.diagnostics

    def diff(self) -> str:
        """The change as a unified diff of the file, empty when nothing changed."""
        path = self.original.path
        return "".join(difflib.unified_diff(_diff_lines(self.original.text), _diff_lines(self.text), path, path))


def _diff_lines(text: str) -> list[str]:
    # Split at "\n" only (str.splitlines also splits at form feeds and more), and mark
    # a last line without a line break as `diff` does.
    *lines, last = text.split("\n")
    return [line + "\n" for line in lines] + ([last + "\n\\ No newline at end of file\n"] if last else [])


def _edit(fix: Fix) -> Edit:
    span, source = fix.span, fix.span.source
    return Edit(source.offset(span.line, span.column), source.offset(span.end_line, span.end_column), fix.replacement)


def _apply(text: str, edits: list[Edit]) -> str:
    pieces, done = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        pieces += [text[done:edit.start], edit.replacement]
        done = edit.end
    return "".join(pieces) + text[done:]


def _before(offset: int, edits: list[Edit]) -> int:
    """Where `offset` in the text after `edits` was before them; inside inserted text,
    where the replaced text began."""
    shift = 0
    for edit in sorted(edits, key=lambda e: e.start):
        start = edit.start + shift
        if offset < start:
            break
        if offset < start + len(edit.replacement):
            return edit.start
        shift += len(edit.replacement) - (edit.end - edit.start)
    return offset - shift


def _in_original(span: Span, original: Source, rounds: list[list[Edit]]) -> Span:
    def back(line: int, column: int) -> tuple[int, int]:
        offset = span.source.offset(line, column)
        for edits in reversed(rounds):
            offset = _before(offset, edits)
        return original.position(offset)

    (line, column), (end_line, end_column) = back(span.line, span.column), back(span.end_line, span.end_column)
    return Span(original, line, column, end_column, end_line=end_line)


def _candidates(result: CheckResult, original: Source, rounds: list[list[Edit]], applied) -> list[Applied]:
    """Each diagnostic's first fix when it is machine-applicable, unless a fix for the same
    problem was applied in an earlier round (it did not resolve it: applying it again would
    not either)."""
    done = {(a.diagnostic.code, a.span) for a in applied}
    candidates = []
    for diagnostic in result.diagnostics:
        if diagnostic.fixes and diagnostic.fixes[0].machine_applicable:
            fix = diagnostic.fixes[0]
            span = _in_original(diagnostic.span or fix.span, original, rounds)
            if (diagnostic.code, span) not in done:
                candidates.append(Applied(diagnostic, fix, span))
    return candidates


def _compatible(candidates: list[Applied]) -> list[tuple[Applied, Edit]]:
    """The candidates whose edits do not clash with an earlier one's; the others wait
    for the next round, when their diagnostic is computed afresh, and so do fixes computed
    from other statements (DEPENDENT): those go one a round, after the others."""
    independent = [c for c in candidates if c.diagnostic.code not in DEPENDENT]
    chosen = []
    for candidate in independent or candidates[:1]:
        edit = _edit(candidate.fix)
        if not any(edit.clashes(other) for _, other in chosen):
            chosen.append((candidate, edit))
    return chosen


def fix_source(source: Source, allow=(), deny_warnings: bool = False) -> Fixed:
    """Apply the fixes of `source`'s diagnostics until none is left (at most MAX_ROUNDS
    rounds). `allow` and `deny_warnings` are as in `check_source`: an allowed warning
    is neither fixed nor reported."""
    result = check_source(source, allow, deny_warnings)
    rounds: list[list[Edit]] = []
    applied: list[Applied] = []
    for _ in range(MAX_ROUNDS):
        chosen = _compatible(_candidates(result, source, rounds, applied))
        if not chosen:
            break
        applied += [candidate for candidate, _ in chosen]
        edits = list(dict.fromkeys(edit for _, edit in chosen))  # a fix two diagnostics share, once
        rounds.append(edits)
        result = check_source(Source(source.path, _apply(result.source.text, edits)), allow, deny_warnings)
    return Fixed(source, result, tuple(applied))


def fix_text(text: str, path: str = "<string>", allow=(), deny_warnings: bool = False) -> Fixed:
    """`fix_source` for a spec given as text; `path` is the name diagnostics report it under."""
    return fix_source(Source(path, text), allow, deny_warnings)


def fix_file(path: str, allow=(), deny_warnings: bool = False) -> Fixed:
    """Fix a spec file and, when anything changed, rewrite it atomically, keeping its line
    breaks and byte-order mark. Raises OSError when the file cannot be read or written,
    and UnicodeError when a file that is not UTF-8 text would have to be rewritten."""
    spec = read_spec_file(path)
    fixed = fix_source(spec.source, allow, deny_warnings)
    if fixed.changed:
        spec.write(fixed.text)
    return fixed
