"""Diagnostic codes (one registry, used, documented), spans over several lines, and the JSON form."""
import re
from pathlib import Path

import netspec
from netspec.codes import CODES
from netspec.diagnostics import Fix, error, render_text, to_json
from netspec.frontend.source import Source, Span
from netspec.network import check_source


def test_codes_name_their_stage():
    for code in CODES:
        assert re.fullmatch(r"E0[1-4]\d\d|W0[23]\d\d", code), code


def test_every_code_in_the_source_is_registered_and_every_registered_code_is_used():
    package = Path(netspec.__file__).parent
    used = {code for path in package.rglob("*.py") if path.name != "codes.py"
            for code in re.findall(r'"([EW]\d{4})"', path.read_text())}
    assert used == set(CODES)


def test_the_docs_list_every_code_with_its_title():
    text = Path("docs/language.md").read_text()
    section = text[text.index("## Diagnostic codes"):]
    assert dict(re.findall(r"^\| ([EW]\d{4}) \| (.+) \|$", section, re.M)) == CODES


def test_a_span_over_several_lines_is_underlined_to_the_end_of_its_first_line():
    source = Source("s.net", "network a\nblock b() {\n}\n")
    first, last = Span(source, 2, 1, 6), Span(source, 3, 1, 2)
    span = first.to(last)
    assert (span.line, span.column, span.end_line, span.end_column) == (2, 1, 3, 2)
    assert span.text == "block b() {\n}"
    diagnostic = error("E0228", "block `b` has no layers", span)
    assert render_text(diagnostic) == ("s.net:2:1: error[E0228]: block `b` has no layers\n"
                                       " 2 | block b() {\n"
                                       "   | ^^^^^^^^^^^ (continues to line 3)")


def test_json_has_the_code_the_whole_span_and_the_fixes():
    source = Source("s.net", "network a\nnetwork b\ninput 3\nrelu\n")
    remove = Fix(source.whole_lines(2, 2), "", "remove this line")
    diagnostic = error("E0202", "duplicate `network` statement", Span(source, 2, 1, 8), fixes=(remove,))
    assert to_json(diagnostic) == {
        "file": "s.net", "line": 2, "column": 1, "end_line": 2, "end_column": 8,
        "severity": "error", "code": "E0202", "message": "duplicate `network` statement",
        "fixes": [{"file": "s.net", "line": 2, "column": 1, "end_line": 3, "end_column": 1,
                   "replacement": "", "note": "remove this line", "applicability": "machine-applicable"}],
    }


def test_a_diagnostic_without_a_place_has_a_code_too():
    diagnostic = error("E0401", "cannot read x.net: No such file or directory", None)
    assert render_text(diagnostic) == "error[E0401]: cannot read x.net: No such file or directory"
    assert to_json(diagnostic)["code"] == "E0401"


def test_str_of_a_diagnostic_is_what_the_command_line_prints():
    source = Source("s.net", "network a\ninput 1x3x3\nconv 1 kernel=5\n")
    (diagnostic,) = check_source(source).diagnostics
    assert str(diagnostic) == render_text(diagnostic)
    assert str(diagnostic).startswith("s.net:3:15: error[E0301]: conv1: kernel 5 is larger than the padded input 3x3")
    assert str(diagnostic).splitlines()[1:3] == [" 3 | conv 1 kernel=5", "   |               ^"]
