"""`netspec explain` (netspec/explanations/): every code explained, and every example
in an explanation does what it says."""
import re
from importlib import resources

import pytest

import netspec
from netspec.codes import CODES
from netspec.explanations import code_named

from netspec.frontend.source import Source
from netspec.network import check_source

# Codes whose problem takes no small spec to show: an unreadable or oversized file, an ONNX
# model that cannot be imported, and limits (nesting 32 deep, 100 errors) that only a long
# spec reaches.
WITHOUT_EXAMPLE = {"E0103", "E0401", "E0402", "E0404", "E0405", "E0407", "E0408"}  # E0103: only without a final line break


def _example(text: str, heading: str) -> str | None:
    """The indented spec under the paragraph starting with `heading`, dedented."""
    match = re.search(rf"^{heading}.*:\n\n((?:    .*\n|\n)+)", text, re.M)
    if match is None:
        return None
    return "\n".join(line[4:] for line in match.group(1).rstrip("\n").split("\n")) + "\n"


def test_every_code_has_an_explanation_and_every_explanation_a_code():
    files = {entry.name for entry in resources.files("netspec.explanations").iterdir() if entry.name.endswith(".txt")}
    assert files == {f"{code}.txt" for code in CODES}


@pytest.mark.parametrize("code", sorted(CODES))
def test_the_erroneous_example_gives_the_code_and_the_corrected_one_checks(code):
    text = netspec.explain(code)
    assert text.startswith(f"{code}: {CODES[code]}\n\n")
    wrong, right = _example(text, "Erroneous example"), _example(text, "Corrected")
    if code in WITHOUT_EXAMPLE:
        assert wrong is None and right is None
        return
    # with the portability notes on, so W0302's example shows too and no corrected one has one
    assert code in [d.code for d in check_source(Source("example.net", wrong), portable=True).diagnostics]
    corrected = check_source(Source("example.net", right), portable=True)
    assert corrected.ok and corrected.diagnostics == ()


@pytest.mark.parametrize("written", ["E0301", "e0301", " E0301 "])
def test_a_code_may_be_written_in_any_letter_case(written):
    assert code_named(written) == "E0301"


@pytest.mark.parametrize("written, near", [
    ("E0130", "did you mean E0103 or E0230 or E0310?"),  # a swap of two digits is one typo
    ("0301", "did you mean E0301 or W0301?"),
    ("E301", "did you mean E0301?"),
    ("conv", "codes look like E0301 (errors) or W0301 (warnings)"),
])
def test_a_string_that_is_no_code_gets_the_codes_one_typo_away(written, near):
    with pytest.raises(ValueError) as raised:
        code_named(written)
    assert str(raised.value) == f"`{written}` is not a netspec diagnostic code; {near}"


def test_explain_prints_the_explanation(cli):
    result = cli("explain", "e0303")
    assert result.exit_code == 0
    assert result.stdout == netspec.explain("E0303")
    assert "Erroneous example:" in result.stdout and "Corrected" in result.stdout


def test_explain_of_an_unknown_code_fails_with_suggestions(cli):
    result = cli("explain", "E0130")
    assert result.exit_code == 1
    assert result.stderr == "error: `E0130` is not a netspec diagnostic code; did you mean E0103 or E0230 or E0310?\n"


def test_explain_alone_lists_every_code(cli):
    lines = cli("explain").stdout.splitlines()
    assert lines == [f"{code}  {title}" for code, title in CODES.items()]


def test_check_closes_its_errors_with_the_command_that_explains_the_first(cli):
    stderr = cli("check", "examples/lenet5.net", "examples/errors/unknown_layer.net").stderr
    assert stderr.endswith("\nfor more about an error, try `netspec explain E0217`\n")
    assert stderr.count("netspec explain") == 1
    assert "netspec explain" not in cli("check", "examples/warnings/stride_skips_rows.net").stderr
