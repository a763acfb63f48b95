"""`netspec draw` from the command line: the formats, invalid specs, and a missing Graphviz."""
import sys
import xml.etree.ElementTree as ET

import pytest

from test_draw import needs_graphviz


@needs_graphviz
def test_draw_writes_svg_png_and_dot_by_the_output_name(cli, tmp_path):
    for name in ("lenet5.svg", "lenet5.PNG", "lenet5.dot"):
        result = cli("draw", "examples/lenet5.net", "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        assert result.stdout == f"wrote {tmp_path / name}\n" and result.stderr == ""
    assert ET.parse(tmp_path / "lenet5.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert (tmp_path / "lenet5.PNG").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (tmp_path / "lenet5.dot").read_text().startswith("digraph lenet5 {")


@needs_graphviz
def test_collapse_draws_a_block_call_as_one_box(cli, tmp_path):
    assert cli("draw", "examples/resnet18.net", "--collapse", "-o", str(tmp_path / "r.dot")).exit_code == 0
    source = (tmp_path / "r.dot").read_text()
    assert "residual1 [" in source and "residual1.conv1" not in source and "cluster" not in source


def test_an_unknown_picture_format_is_a_usage_error(cli, tmp_path):
    for name in ("lenet5.pdf", "lenet5"):
        result = cli("draw", "examples/lenet5.net", "-o", str(tmp_path / name))
        assert result.exit_code == 2
        assert "name it .svg, .png or .dot" in result.stderr
        assert not (tmp_path / name).exists()


@needs_graphviz
def test_an_invalid_spec_is_drawn_as_far_as_its_shapes_are_known_and_exits_1(cli, tmp_path):
    result = cli("draw", "examples/errors/error_in_block.net", "-o", str(tmp_path / "e.dot"))
    assert result.exit_code == 1
    assert "error[E0301]: b2.conv1: kernel 5" in result.stderr and f"wrote {tmp_path / 'e.dot'}" in result.stderr
    assert '"b2.conv1" [' in (tmp_path / "e.dot").read_text()


def test_a_spec_that_gets_no_layers_draws_nothing(cli, tmp_path):
    result = cli("draw", "examples/errors/syntax_error.net", "-o", str(tmp_path / "s.svg"))
    assert result.exit_code == 1
    assert "error[E0102]" in result.stderr and "nothing drawn" in result.stderr
    assert not (tmp_path / "s.svg").exists()


@needs_graphviz
def test_an_unwritable_output_is_reported(cli, tmp_path):
    result = cli("draw", "examples/lenet5.net", "-o", str(tmp_path / "missing" / "l.svg"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot write {tmp_path / 'missing' / 'l.svg'}: ")


def test_without_the_graphviz_package_the_command_says_what_to_install(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # `import graphviz` now fails as if it were not installed
    result = cli("draw", "examples/lenet5.net", "-o", str(tmp_path / "l.svg"))
    assert result.exit_code == 1
    assert result.stderr == "error: drawing needs the graphviz Python package: pip install 'netspec[draw]'\n"


def test_without_the_dot_program_the_command_says_what_to_install(cli, tmp_path, monkeypatch):
    pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` to be found
    result = cli("draw", "examples/lenet5.net", "-o", str(tmp_path / "l.png"))
    assert result.exit_code == 1
    assert "drawing needs Graphviz's dot program" in result.stderr and "apt-get install graphviz" in result.stderr
    assert not (tmp_path / "l.png").exists()
