"""netspec.lsp.positions: the protocol's lines (broken at \\n, \\r\\n and \\r) and UTF-16
characters against netspec's lines (\\n only) and columns (characters)."""
from hypothesis import given, strategies as st

from netspec.frontend.source import Source, Span
from netspec.lsp.positions import Positions


def test_a_character_beyond_the_basic_plane_counts_two_utf16_units_and_one_utf32():
    source = Source("s.net", "# 😀 x\nconv 1\n")
    x = Span(source, 1, 5, 6)
    assert Positions(source).range(x) == ((0, 5), (0, 6))
    assert Positions(source, "utf-32").range(x) == ((0, 4), (0, 5))
    assert Positions(source, "utf-8").range(x) == ((0, 7), (0, 8))


def test_crlf_ends_a_line_once_and_a_lone_cr_ends_one_only_for_the_protocol():
    source = Source("s.net", "network n\r\ninput 1x8x8\n# a\rb\nrelu\n")
    positions = Positions(source)
    assert positions.range(Span(source, 2, 1, 6)) == ((1, 0), (1, 5))
    # netspec's line 4 (`relu`) is the protocol's line 4, after the lone \r split line 3 in two
    assert positions.range(Span(source, 4, 1, 5)) == ((4, 0), (4, 4))
    assert positions.point(4, 2) == (4, 3)
    assert positions.point(3, 0) == (3, 5)  # `b`, after the lone \r


def test_protocol_positions_past_a_line_or_the_text_land_at_their_end():
    positions = Positions(Source("s.net", "relu\ntanh"))
    assert positions.point(0, 99) == (1, 5)
    assert positions.point(7, 0) == (2, 5)


def test_a_span_past_the_end_of_its_line_stays_on_the_line_as_check_reports_it():
    source = Source("s.net", "conv 1 kernel=\r\nrelu\n{")
    positions = Positions(source)
    # a syntax error at the line break: one column past the line's last character
    assert positions.range(Span(source, 1, 15, 16)) == ((0, 14), (0, 15))
    # an unclosed `{` is noted one past the end of the file
    assert positions.range(Span(source, 3, 2, 3)) == ((2, 1), (2, 2))


@given(st.text(alphabet=st.sampled_from("ab \t\r\n😀é#"), max_size=40), st.data())
def test_every_offset_goes_to_a_protocol_position_and_back(text, data):
    positions = Positions(Source("s.net", text))
    offset = data.draw(st.integers(0, len(text)))
    if text[offset - 1:offset + 1] == "\r\n":
        return  # between \r and \n: not a position either side counts
    line, character = positions.position(offset)
    assert positions.offset(line, character) == offset
