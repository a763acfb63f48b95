"""netspec.editor: what an editor shows for a spec, computed from its text. Shapes and
counts are the lecture's (worked by hand below), not the checker's output read back."""
import random

from hypothesis import HealthCheck, given, settings, strategies as st

from netspec.editor import Document, actions, completions, definition, hints, hover
from netspec.fixer import fix_text
from netspec.frontend.source import Source, read_source
from test_hostile import EXAMPLES, mutate

BRANCHY = """\
network branchy
input 3x32x32
a: conv 16 kernel=3 padding=1
b: conv 16 kernel=1 input=input
s: add a b
relu
concat relu1 a
"""

# b1: 14 -conv 3-> 12 -pool 2-> 6; b2: 6 -conv 3-> 4 -pool 2-> 2
TWICE = """\
network twice
input 1x14x14
block shrink(channels) {
    conv channels kernel=3
    pooled: maxpool kernel=2
    relu input=pooled
}
b1: shrink 4
b2: shrink 8
"""


# LeNet-5 as in the lecture, without the shapes examples/lenet5.net states; line -> output shape
LENET5_UNSTATED = """\
network lenet5
input 1x28x28
conv 6 kernel=5 padding=2
sigmoid
avgpool kernel=2 stride=2
conv 16 kernel=5
sigmoid
avgpool kernel=2 stride=2
flatten
dense 120
sigmoid
dense 84
sigmoid
dense 10
"""
LENET5_SHAPES = {3: "6x28x28", 4: "6x28x28", 5: "6x14x14", 6: "16x10x10", 7: "16x10x10", 8: "16x5x5", 9: "400",
                 10: "120", 11: "120", 12: "84", 13: "84", 14: "10"}


def document(text: str) -> Document:
    return Document(Source("spec.net", text))


def labels(found) -> dict[int, str]:
    return {hint.span.line: hint.label for hint in found}


def line_of(span):
    return span.line if span else None


def test_every_layer_shows_its_output_shape_at_the_end_of_its_line():
    doc = document(LENET5_UNSTATED)
    found = hints(doc)
    assert labels(found) == {number: "-> " + shape for number, shape in LENET5_SHAPES.items()}
    assert all(hint.span.column == len(doc.line(hint.span.line)) + 1 for hint in found)
    assert found[0].tooltip == "conv1 -> 6x28x28"


def test_a_shape_the_line_states_and_the_checker_gives_is_marked_verified():
    doc = Document(read_source("examples/lenet5.net"))
    found = hints(doc)
    assert labels(found) == {number + 4: "✓" for number in LENET5_SHAPES}  # its layers start on line 7
    assert [hint.tooltip.split(" -> ")[1] for hint in found] == list(LENET5_SHAPES.values())


def test_a_wrong_stated_shape_gets_the_shape_the_layer_gives():
    doc = document("network n\ninput 1x8x8\nconv 2 kernel=3 -> 2x8x8\n")
    assert labels(hints(doc)) == {3: "-> 2x6x6"}


def test_a_block_call_shows_its_output_and_a_body_line_the_shape_of_each_call():
    assert labels(hints(document(TWICE))) == {4: "-> 4x12x12, 8x4x4", 5: "-> 4x6x6, 8x2x2", 6: "-> 4x6x6, 8x2x2",
                                              8: "-> 4x6x6", 9: "-> 8x2x2"}


def test_a_repeated_line_lists_its_shapes_shortened_to_the_first_two_and_the_last():
    doc = document("network halving\ninput 1x32x32\nrepeat 4 {\n    maxpool kernel=2\n}\n")
    assert labels(hints(doc)) == {4: "-> 1x16x16, 1x8x8, …, 1x2x2"}


def test_hints_stop_at_the_layer_whose_shape_fails():
    doc = document("network n\ninput 1x8x8\nconv 2 kernel=3\nconv 2 kernel=9\nrelu\n")
    assert labels(hints(doc)) == {3: "-> 2x6x6"}


def test_a_spec_with_syntax_errors_has_no_hints_hover_or_definition():
    doc = document("network n\ninput 1x8x8\nconv 2 kernel=\n")
    assert hints(doc) == () and hover(doc, 3, 2) is None and definition(doc, 3, 8) is None


def test_hover_on_a_conv_shows_its_shapes_settings_counts_and_the_rule_with_its_numbers():
    text = Document(read_source("examples/lenet5.net"))
    found = hover(text, 7, 3)
    # 6 kernels of 1x5x5 plus 6 biases; each of the 6x28x28 outputs takes 1*5*5 multiply-adds
    assert found.markdown.splitlines()[0] == "**conv1** · `conv`: `input` 1x28x28 -> **6x28x28**"
    assert "`out_channels=6 kernel=5 stride=1 padding=2 bias=true`" in found.markdown
    assert "156 parameters · 117,600 MACs" in found.markdown
    assert "height and width: `out = floor((n - k + p + s) / s) = floor((28 - 5 + 4 + 1) / 1) = 28`" in found.markdown
    assert (found.span.line, found.span.column, found.span.end_column) == (7, 1, 42)


def test_hover_gives_the_rule_per_axis_when_height_and_width_differ():
    doc = document("network n\ninput 1x8x8\nconv 1 kernel=3x5 padding=0x1 stride=3x4\n")
    found = hover(doc, 3, 1).markdown
    assert "height: `out = floor((n - k + p + s) / s) = floor((8 - 3 + 0 + 3) / 3) = 2`" in found
    assert "width: `out = floor((n - k + p + s) / s) = floor((8 - 5 + 2 + 4) / 4) = 2`" in found


def test_hover_on_a_join_names_every_operand_with_its_shape():
    found = hover(document(BRANCHY), 5, 1).markdown
    assert found.splitlines()[0] == "**s** · `add`: `a` 16x32x32, `b` 16x32x32 -> **16x32x32**"


def test_hover_on_a_block_call_lists_its_layers_and_sums_their_counts():
    found = hover(document(TWICE), 9, 5).markdown
    assert found.splitlines()[0] == "**b2** · block `shrink`: 4x6x6 -> **8x2x2**"
    # conv 8 on 4 channels, 3x3: 8*4*9 + 8 parameters, 8*4*9 * 4*4 MACs
    assert "296 parameters · 4,608 MACs" in found
    assert "| `b2.pooled` | `maxpool` | 8x2x2 |" in found


def test_hover_on_a_block_body_line_shows_every_expansion():
    found = hover(document(TWICE), 4, 6).markdown
    assert found.startswith("2 expansions of this statement:")
    assert "| `b1.conv1` | 1x14x14 | 4x12x12 | 40 | 5,184 |" in found
    assert "| `b2.conv1` | 4x6x6 | 8x4x4 | 296 | 4,608 |" in found


def test_hover_outside_a_statement_shows_nothing():
    doc = Document(read_source("examples/lenet5.net"))
    assert hover(doc, 1, 3) is None  # a comment
    assert hover(doc, 7, 60) is None  # past the statement


def test_a_tensor_name_goes_to_the_statement_that_defines_it():
    doc = document(BRANCHY)
    assert line_of(definition(doc, 5, 8)) == 3  # `a` in `add a b`
    assert line_of(definition(doc, 5, 10)) == 4  # `b`
    assert line_of(definition(doc, 4, 28)) == 2  # `input=input`: the input statement
    assert line_of(definition(doc, 7, 10)) == 6  # `relu1`, the name netspec gave the unnamed relu
    assert definition(doc, 5, 1) is None  # the label of the statement itself


def test_a_name_is_only_found_before_its_line_and_in_its_block():
    doc = document("network n\ninput 1x8x8\nblock b() {\n    a: relu\n    add in a\n}\nadd a\na: b\n")
    assert definition(doc, 7, 5) is None  # the top-level `a` comes later; the block's is not visible
    assert line_of(definition(doc, 5, 12)) == 4
    assert line_of(definition(doc, 5, 9)) == 3  # `in`: the block


def test_a_block_call_goes_to_the_block_and_a_parameter_to_its_declaration():
    doc = document(TWICE)
    block = definition(doc, 9, 5)
    assert (block.line, block.column, block.end_column) == (3, 7, 13)
    parameter = definition(doc, 4, 12)
    assert (parameter.line, parameter.column, parameter.end_column) == (3, 14, 22)
    assert line_of(definition(doc, 6, 16)) == 5  # `pooled` in `input=pooled`


def test_code_actions_offer_each_fix_of_the_diagnostics_on_the_lines_preferring_the_first():
    text = read_source("examples/errors/kernel_too_large.net").text
    found = actions(document(text), 4, 4)
    quick = [(a.kind, a.fix.replacement, a.preferred) for a in found if a.kind == "quickfix"]
    assert quick == [("quickfix", " padding=1", True), ("quickfix", "3", False)]
    assert all(a.diagnostic.code == "E0301" for a in found if a.kind == "quickfix")
    fix_all = [a for a in found if a.kind == "source.fixAll"]
    assert [a.fix.replacement for a in fix_all] == [fix_text(text).text]
    assert [a for a in actions(document(text), 2, 3) if a.kind == "quickfix"] == []


def test_a_fix_that_changes_what_a_valid_network_computes_is_offered_but_not_preferred():
    doc = Document(read_source("examples/warnings/stride_skips_rows.net"))
    found = actions(doc, 6, 6)
    assert found and not any(a.preferred for a in found)
    assert all("leaves this to you" in a.title for a in found)
    assert not [a for a in found if a.kind == "source.fixAll"]


def test_a_statement_start_completes_layer_kinds_blocks_and_keywords():
    doc = document(TWICE + "ma\n")
    found = {c.label: c.kind for c in completions(doc, 10, 3)}
    assert found["maxpool"] == "layer" and found["shrink"] == "block" and found["network"] == "keyword"
    inside = {c.label for c in completions(document(TWICE), 5, 5)}
    assert "repeat" in inside and "network" not in inside


def test_after_a_kind_its_parameters_not_yet_written_complete_as_keys():
    doc = document("network n\ninput 1x8x8\nconv 4 kernel=3 \n")
    found = completions(doc, 3, 17)
    assert [c.label for c in found] == ["stride", "padding", "bias", "input"]
    assert {c.insert for c in found} == {"stride=", "padding=", "bias=", "input="}
    assert [c.label for c in completions(document(TWICE + "shrink \n"), 10, 8)] == ["channels", "input"]


def test_where_a_tensor_is_named_the_tensors_defined_before_complete_with_their_shapes():
    doc = document(BRANCHY + "conv 4 kernel=1 input=\n")
    found = [(c.label, c.detail) for c in completions(doc, 8, 23)]
    assert found == [("input", "3x32x32"), ("a", "16x32x32"), ("b", "16x32x32"), ("s", "16x32x32"),
                     ("relu1", "16x32x32"), ("concat1", "32x32x32")]
    assert [c.label for c in completions(document(BRANCHY), 5, 10)][:3] == ["input", "a", "b"]
    in_block = [c.label for c in completions(document(TWICE), 6, 16)]
    assert in_block == ["in", "conv1", "pooled"]


def test_nothing_completes_in_a_comment_or_a_value():
    doc = document("network n\ninput 1x8x8\nconv 4 kernel=3  # con\n")
    assert completions(doc, 3, 23) == ()
    assert completions(doc, 3, 16) == ()  # after `kernel=`


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(example=st.sampled_from(EXAMPLES), seed=st.integers(0, 2**32))
def test_broken_specs_get_answers_at_any_position_and_never_an_exception(example, seed):
    rng = random.Random(seed)
    with open(example, "rb") as handle:
        doc = document(mutate(handle.read(), rng).decode("utf-8", errors="replace"))
    hints(doc)
    actions(doc, 1, len(doc.lines))
    for _ in range(4):
        line = rng.randint(0, len(doc.lines) + 1)
        column = rng.randint(0, len(doc.line(line)) + 2)
        hover(doc, line, column)
        definition(doc, line, column)
        completions(doc, line, column)
