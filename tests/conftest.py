"""Shared helpers: check a spec given as text, run the CLI in-process."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from netspec.network import check_source
from netspec.frontend.source import Source


def check_text(text: str, path: str = "spec.net"):
    return check_source(Source(path, text))


def errors_of(result):
    return [d for d in result.diagnostics if d.is_error]


def extent(fix) -> tuple[int, int]:
    """Where in its spec's text the fix's span starts and ends."""
    source, span = fix.span.source, fix.span
    return source.offset(span.line, span.column), source.offset(span.end_line, span.end_column)


def applied(fix) -> str:
    """The text of the spec the fix belongs to, with the fix applied."""
    start, end = extent(fix)
    return fix.span.source.text[:start] + fix.replacement + fix.span.source.text[end:]


def check_fixed(fix):
    """Apply a fix and check the spec again."""
    return check_text(applied(fix), fix.span.path)


def where(fix) -> tuple:
    """A fix as (line, column, end line, end column, replacement), to compare in one assert."""
    span = fix.span
    return span.line, span.column, span.end_line, span.end_column, fix.replacement


@pytest.fixture
def cli():
    from netspec.cli import main

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke
