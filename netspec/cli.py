"""The `netspec` command: parses options, calls the library, formats the results.

Exit codes: 0 success, 1 invalid spec or data, 2 usage error. Results go to
stdout, diagnostics to stderr.
"""
from __future__ import annotations

import json
import sys

import click

from . import __version__
from .diagnostics import error, render_text
from .network import CheckResult, check_source
from .report import check_record
from .source import Source, read_source
from .table import layer_table


def _read(path: str) -> CheckResult:
    try:
        source = read_source(path)
    except OSError as exc:
        return CheckResult(Source(path, ""), None, (error(f"cannot read {path}: {exc.strerror or exc}", None),))
    return check_source(source)


def _echo_diagnostics(result: CheckResult) -> None:
    for diagnostic in result.diagnostics:
        click.echo(render_text(diagnostic), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="netspec")
def main():
    """netspec: check and compile convolutional networks written as .net files.

    \b
    Example:
      netspec check examples/lenet5.net
      netspec run examples/lenet5.net
    """


@main.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="Print the result (or the errors) as JSON on stdout.")
def check(files, as_json):
    """Infer every layer's shape and report parameters and MACs.

    Prints a table per network and exits 0; prints diagnostics to stderr and
    exits 1 when a spec is invalid.

    \b
    Example:
      netspec check examples/lenet5.net
      netspec check examples/lenet5.net --json
    """
    results = [_read(path) for path in files]
    if as_json:
        records = [check_record(r) for r in results]
        click.echo(json.dumps(records[0] if len(records) == 1 else records, indent=2))
    for result in results:
        if not as_json:
            _echo_diagnostics(result)
            if result.ok:
                click.echo(layer_table(result.network))
            elif result.network is not None:
                click.echo(layer_table(result.network), err=True)
    sys.exit(0 if all(r.ok for r in results) else 1)
