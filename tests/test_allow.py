"""Controlling warnings (netspec/allow.py): `# allow CODE` comments, `allow=` and
`--allow`, and `--deny-warnings`."""
import json

import pytest

import netspec
from netspec.network import check_source
from netspec.frontend.source import Source, read_source

from conftest import check_text

STRIDED = "network s\ninput 1x8x8\nconv 1 kernel=3 stride=3{comment}\nrelu\n"
BLOCKS = ("network b\ninput 1x16x16\nblock down(channels) {{\n    conv channels kernel=3 stride=3{inside}\n}}\n"
          "b1: down 4{first}\nb2: down 8{second}\n")


def _warned(text, **options):
    return [(d.code, d.message.split(":")[0]) for d in check_source(Source("spec.net", text), **options).diagnostics]


def test_the_layer_warns_without_a_comment():
    assert _warned(STRIDED.format(comment="")) == [("W0301", "conv1")] * 2  # rows and columns


@pytest.mark.parametrize("comment", ["  # allow W0301", "  # allow: w0301", "# intended; allow W0302, W0301"])
def test_a_comment_on_the_layers_line_silences_it(comment):
    assert _warned(STRIDED.format(comment=comment)) == []


@pytest.mark.parametrize("comment", ["  # allow W0302", "  # W0301", "  # allowed"])
def test_a_comment_naming_another_code_or_no_code_does_not(comment):
    assert len(_warned(STRIDED.format(comment=comment))) == 2


def test_a_comment_on_another_line_does_not_silence_it():
    text = STRIDED.format(comment="").replace("relu", "relu  # allow W0301")
    assert len(_warned(text)) == 2


def test_in_a_block_the_definition_silences_every_call_and_a_call_line_its_own_call():
    quiet = {"inside": "", "first": "", "second": ""}
    assert {name for _, name in _warned(BLOCKS.format(**quiet))} == {"b1.conv1", "b2.conv1"}
    assert _warned(BLOCKS.format(**{**quiet, "inside": "  # allow W0301"})) == []
    assert {name for _, name in _warned(BLOCKS.format(**{**quiet, "first": "  # allow W0301"}))} == {"b2.conv1"}


def test_the_example_allows_one_call_and_warns_for_the_other():
    result = check_source(read_source("examples/warnings/allowed_in_block.net"))
    assert {d.message.split(":")[0] for d in result.diagnostics} == {"b2.conv1"}


def test_errors_cannot_be_silenced_by_a_comment():
    result = check_text("network t\ninput 1x3x3\nconv 1 kernel=5   # allow E0301\n")
    assert [d.code for d in result.diagnostics] == ["E0301"]


def test_allow_drops_warnings_by_code_in_any_letter_case():
    assert _warned(STRIDED.format(comment=""), allow=("w0301",)) == []
    assert netspec.loads(STRIDED.format(comment=""), allow=["W0301"]).warnings == ()


@pytest.mark.parametrize("code, problem", [
    ("E0301", "only warnings can be allowed, and E0301 is an error"),
    ("W0310", "`W0310` is not a netspec diagnostic code; did you mean E0310 or W0301?"),
])
def test_allow_takes_only_warnings_codes(code, problem):
    with pytest.raises(ValueError) as raised:
        netspec.loads(STRIDED.format(comment=""), allow=[code])
    assert str(raised.value) == problem


def test_deny_warnings_makes_warnings_errors_that_keep_their_code():
    result = check_text(STRIDED.format(comment=""))
    denied = check_source(result.source, deny_warnings=True)
    assert [(d.code, d.is_error) for d in denied.diagnostics] == [("W0301", True)] * 2
    assert not denied.ok
    with pytest.raises(netspec.SpecError) as raised:
        netspec.loads(STRIDED.format(comment=""), deny_warnings=True)
    assert "error[W0301]" in str(raised.value)
    assert netspec.loads(STRIDED.format(comment="  # allow W0301"), deny_warnings=True).warnings == ()


def test_check_allow_and_deny_warnings(cli):
    path = "examples/warnings/stride_skips_rows.net"
    allowed = cli("check", path, "--allow", "w0301")
    assert (allowed.exit_code, allowed.stderr) == (0, "")
    denied = cli("check", path, "--deny-warnings")
    assert denied.exit_code == 1
    assert f"{path}:6:38: error[W0301]: conv1: with kernel 3 and stride 3" in denied.stderr
    assert denied.stderr.endswith("for more about an error, try `netspec explain W0301`\n")
    record = json.loads(cli("check", path, "--deny-warnings", "--json").stdout)
    assert [e["code"] for e in record["errors"]] == ["W0301"] and record["warnings"] == []
    assert cli("check", path, "--deny-warnings", "--allow", "W0301").exit_code == 0


@pytest.mark.parametrize("code, problem", [
    ("E0301", "only warnings can be allowed, and E0301 is an error"),
    ("W0310", "did you mean E0310 or W0301?"),
])
def test_allowing_an_error_or_an_unknown_code_is_a_usage_error(cli, code, problem):
    result = cli("check", "examples/lenet5.net", "--allow", code)
    assert result.exit_code == 2
    assert problem in result.stderr


def test_run_allow_and_deny_warnings(cli):
    path = "examples/warnings/stride_skips_rows.net"
    denied = cli("run", path, "--deny-warnings")
    assert denied.exit_code == 1 and "error[W0301]" in denied.stderr
    allowed = cli("run", path, "--allow", "W0301")
    assert allowed.exit_code == 0 and "W0301" not in allowed.stderr
