"""Shared helpers: check a spec given as text, run the CLI in-process. In CI
(CI=true) a test or module that would be skipped (a missing optional dependency)
fails instead, so nothing is skipped silently there."""
from __future__ import annotations

import os

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


@pytest.fixture(params=[4, 8, 16])
def vector_width(request, tmp_path, monkeypatch):
    """Code generated for vectors of `width` floats (AVX-512 hosts run narrower ones too);
    a cache of its own, as the cache key does not name the width."""
    monkeypatch.setenv("NETSPEC_CACHE_DIR", str(tmp_path))
    from netspec.backends.llvm import jit

    monkeypatch.setattr(jit, "host_vector_width", lambda: request.param)
    return request.param


@pytest.fixture
def cli():
    from netspec.cli import main

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def _fail_skips_in_ci(report) -> None:
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every optional dependency must be installed: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skips_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skips_in_ci(outcome.get_result())
