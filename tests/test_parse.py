import codecs

from netspec.frontend import ast
from netspec.frontend.parse import parse
from conftest import check_fixed
from netspec.frontend.source import Source, read_source


def parse_text(text):
    return parse(Source("t.net", text))


def test_statement_with_label_positional_and_keywords():
    program, diagnostics = parse_text("network n\ninput 1x28x28\nc1: conv 6 kernel=5 padding=2  # note\n")
    assert diagnostics == ()
    conv = program.items[2]
    assert (conv.label, conv.keyword) == ("c1", "conv")
    assert conv.arguments[0] == ast.Positional(conv.arguments[0].value)
    assert conv.arguments[0].value.text == "6"
    assert [(a.key, a.value.text) for a in conv.arguments[1:]] == [("kernel", "5"), ("padding", "2")]
    assert (conv.arguments[1].value.span.line, conv.arguments[1].value.span.column) == (3, 19)


def test_comments_blank_lines_and_indentation_are_free():
    program, diagnostics = parse_text("\n\n  # only a comment\n\tnetwork n   \n\n   input 4\n      dense 2\n# end")
    assert diagnostics == ()
    assert [s.keyword for s in program.items] == ["network", "input", "dense"]


def test_sizes_lists_and_words_are_kept_as_written():
    program, _ = parse_text("conv 6 kernel=3x5 padding=0,1,0,1 bias=false")
    values = [a.value for a in program.items[0].arguments]
    assert [(v.kind, v.text) for v in values] == [("number", "6"), ("number", "3x5"), ("list", "0,1,0,1"), ("word", "false")]


def test_syntax_error_points_at_line_and_column():
    _, diagnostics = parse_text("network n\ninput 1x3x3\nconv 6 kernel=\n")
    assert len(diagnostics) == 1
    d = diagnostics[0]
    assert (d.span.line, d.span.column) == (3, 15)
    assert d.code == "E0102"


def test_every_bad_line_is_reported():
    _, diagnostics = parse_text("network n\nconv @\ninput 1x3x3\ndense = 3\n")
    assert [(d.span.line, d.span.column, d.code) for d in diagnostics] == [(2, 6, "E0101"), (4, 7, "E0102")]


def test_invalid_utf8_is_reported_not_raised():
    _, diagnostics = parse_text(b"network n\n\xff\xfe\n".decode("utf-8", errors="replace"))
    assert diagnostics[0].code == "E0101"
    assert "not valid UTF-8" in diagnostics[0].message


def test_an_unclosed_brace_is_one_error_at_the_brace_with_a_note_at_the_end():
    text = "network t\ninput 1x8x8\nblock pair(c) {\n    conv c kernel=3 padding=1\n    relu\n\npair 4\nflatten\n"
    program, diagnostics = parse_text(text)
    assert program is None
    (only,) = diagnostics
    assert (only.code, only.span.line, only.span.column) == ("E0104", 3, 15)
    assert only.message == "this `{` is never closed"
    assert "the file ends here" in only.notes[0].message and only.notes[0].span.line == 8


def test_the_innermost_unclosed_brace_is_reported():
    text = "network t\ninput 4\nrepeat 2 {\n  repeat 3 {\n    relu\n}\n"
    (only,) = parse_text(text)[1]
    assert (only.code, only.span.line) == ("E0104", 3)  # the inner `{` on line 4 is closed by the `}`


def test_a_byte_order_mark_is_accepted(tmp_path):
    from netspec.frontend.source import read_source
    import netspec

    path = tmp_path / "bom.net"
    path.write_bytes(b"\xef\xbb\xbfnetwork bom\ninput 1x4x4\nconv 1 kernel=3\n")
    assert parse(read_source(str(path)))[1] == ()
    assert netspec.load(path).output_shape == (1, 2, 2)
    assert netspec.loads("\ufeffnetwork bom\ninput 4\nrelu\n").output_shape == (4,)


def test_values_written_as_python_writes_them_say_what_to_write():
    (quoted,) = parse_text('network q\ninput 1x8x8\nconv 2 kernel=3 padding="same"\n')[1]
    assert (quoted.code, quoted.help) == ("E0105", "write values without quotes: `same`")
    assert [(f.span.column, f.span.end_column, f.replacement) for f in quoted.fixes] == [(25, 31, "same")]
    assert check_fixed(quoted.fixes[0]).ok
    (pair,) = parse_text("network q\ninput 1x8x8\nconv 2 kernel=(5, 5)\n")[1]
    assert (pair.code, pair.help) == ("E0105", "write a height and width as HxW: `5x5`")
    assert [(f.span.column, f.span.end_column, f.replacement) for f in pair.fixes] == [(15, 21, "5x5")]
    assert check_fixed(pair.fixes[0]).ok


def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path):
    path = tmp_path / "bom.net"
    path.write_bytes(codecs.BOM_UTF8 + b"network b\ninput 3\nrelu\n")
    source = read_source(str(path))
    assert source.text == "network b\ninput 3\nrelu\n"
    assert parse(source)[1] == ()


def test_position_is_the_inverse_of_offset():
    source = Source("t.net", "network n\n\ninput 3\n")
    for offset in range(len(source.text) + 1):
        assert source.offset(*source.position(offset)) == offset
    assert source.position(11) == (3, 1)
