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


@pytest.fixture
def cli():
    from netspec.cli import main

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke
