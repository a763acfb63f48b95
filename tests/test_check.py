"""Shapes, counts and every diagnostic kind of the checker."""
import pytest

from conftest import applied, check_fixed, check_text, errors_of, where


def layers_of(text):
    result = check_text(text)
    assert result.ok, [d.message for d in result.diagnostics]
    return {layer.node.name: layer for layer in result.graph.layers}, result.graph


def test_lenet5_shapes_params_and_macs(lenet5_text):
    layers, network = layers_of(lenet5_text)
    shapes = {name: layer.output_shape for name, layer in layers.items()}
    assert shapes == {
        "conv1": (6, 28, 28), "sigmoid1": (6, 28, 28), "avgpool1": (6, 14, 14),
        "conv2": (16, 10, 10), "sigmoid2": (16, 10, 10), "avgpool2": (16, 5, 5),
        "flatten1": (400,), "dense1": (120,), "sigmoid3": (120,), "dense2": (84,),
        "sigmoid4": (84,), "dense3": (10,),
    }
    assert network.params == 61706
    assert network.macs == 416520
    # conv1: 6 kernels of 1x5x5 plus 6 biases; 6*25 MACs at each of 28*28 positions
    assert (layers["conv1"].params, layers["conv1"].macs) == (156, 117600)


@pytest.fixture
def lenet5_text():
    with open("examples/lenet5.net") as handle:
        return handle.read()


@pytest.mark.parametrize("layer, shape", [
    ("conv 1 kernel=2", (1, 2, 2)),                    # lecture: (3 - 2 + 1)
    ("conv 1 kernel=2 padding=1", (1, 4, 4)),          # lecture: 3 - 2 + 2 + 1
    ("conv 1 kernel=3 padding=1 stride=2", (1, 2, 2)),  # floor((3 - 3 + 2 + 2) / 2)
    ("conv 4 kernel=1", (4, 3, 3)),                    # 1x1 keeps height and width
    ("maxpool kernel=2 stride=1", (1, 2, 2)),
    ("avgpool kernel=2", (1, 1, 1)),                   # stride defaults to the kernel
    ("conv 1 kernel=3 padding=same", (1, 3, 3)),
    ("conv 1 kernel=2 padding=same stride=2", (1, 2, 2)),  # ceil(3 / 2)
    ("conv 1 kernel=2 padding=0,1,0,1", (1, 3, 3)),    # one row at the bottom, one column at the right
    ("conv 1 kernel=3x1 padding=valid", (1, 1, 3)),
])
def test_lecture_shapes(layer, shape):
    layers, network = layers_of(f"network t\ninput 1x3x3\n{layer}\n")
    assert network.output_shape == shape


def test_lecture_stride_example_8x8():
    _, network = layers_of("network t\ninput 1x8x8\nconv 1 kernel=3x5 padding=0x1 stride=3x4\n")
    assert network.output_shape == (1, 2, 2)  # floor((8-3+0+3)/3) x floor((8-5+2+4)/4)


def test_same_padding_puts_the_odd_row_at_bottom_right():
    layers, _ = layers_of("network t\ninput 1x4x4\nconv 1 kernel=2 padding=same\n")
    padding = layers["conv1"].attrs.padding
    assert (padding.top, padding.bottom, padding.left, padding.right) == (0, 1, 0, 1)


def test_names_count_per_kind_and_labels_are_kept():
    layers, _ = layers_of("network t\ninput 1x8x8\nconv 2 kernel=3\nrelu\nc: conv 2 kernel=3\nconv 2 kernel=1\nrelu\n")
    assert list(layers) == ["conv1", "relu1", "c", "conv3", "relu2"]


def test_conv_weights_and_macs_count_channels():
    layers, _ = layers_of("network t\ninput 3x8x8\nconv 4 kernel=3x2 bias=false\n")
    conv = layers["conv1"]
    assert conv.params == 4 * 3 * 3 * 2
    assert conv.macs == 4 * 3 * 3 * 2 * 6 * 7


def single_error(text):
    result = check_text(text)
    errors = errors_of(result)
    assert len(errors) == 1, [e.message for e in errors]
    return errors[0]


def test_kernel_larger_than_padded_input_suggests_padding_and_kernel():
    # The README's example, in prose: the rule evaluated in the message and the help.
    e = single_error("network t\ninput 1x3x3\nconv 1 kernel=5\n")
    assert e.code == "E0301"
    assert "kernel 5 is larger than the padded input 3x3" in e.message
    assert "floor((3 - 5 + 0 + 1) / 1) = -1" in e.message
    assert e.help.startswith("use padding=1 ")
    assert "use kernel=3" in e.help
    assert (e.span.line, e.span.column) == (3, 15)
    # padding is inserted after the kernel; the kernel is replaced
    assert [where(f) for f in e.fixes] == [(3, 16, 3, 16, " padding=1"), (3, 15, 3, 16, "3")]
    assert [f.note for f in e.fixes] == [e.help.split(" or use kernel")[0], "use kernel=3 (the largest that fits)"]
    assert all(check_fixed(f).ok for f in e.fixes)


def test_kernel_fix_for_pooling_stays_within_half_the_kernel():
    e = single_error("network t\ninput 1x2x2\nmaxpool kernel=7\n")
    assert "floor((2 - 7 + 6 + 7) / 7) = 1" in e.help  # ceil((7 - 2) / 2) = 3 <= 7 // 2
    assert [f.replacement for f in e.fixes] == [" padding=3", "2"]
    assert all(check_fixed(f).ok for f in e.fixes)


def test_kernel_too_large_on_one_axis_names_that_axis():
    e = single_error("network t\ninput 1x9x2\nconv 1 kernel=3 padding=0\n")
    assert "width: 2 + 0 padding = 2 < kernel 3" in e.message
    assert "height" not in e.message
    assert [where(f) for f in e.fixes] == [(3, 25, 3, 26, "0x1"), (3, 15, 3, 16, "3x2")]
    assert all(check_fixed(f).ok for f in e.fixes)


def test_kernel_fix_keeps_the_padding_an_axis_that_fits_needs():
    # the height fits only thanks to its bottom row of padding; the fix keeps a row on each side
    e = single_error("network t\ninput 1x2x1\nconv 1 kernel=3 padding=0,1,0,0\n")
    assert e.fixes[0].replacement == "1"
    assert all(check_fixed(f).ok for f in e.fixes)


@pytest.mark.parametrize("layer, code, replacement", [
    ("conv 0 kernel=2", "E0223", None),
    ("conv 1 kernel=0", "E0223", "1"),
    ("conv 1 kernel=2 stride=0", "E0223", "1"),
    ("conv 1 kernel=2 stride=-2", "E0223", "1"),
    ("conv 1 kernel=2 padding=-1", "E0223", "0"),
    ("conv 1 kernel=2x0", "E0223", None),  # 2x1 or 1x1? no fix for a size with a part that is fine
    ("conv 1 kernel=2 padding=0,-1,0,0", "E0223", None),
    ("dense 0", "E0223", None),
    ("conv 1 kernel=99999999999999999999", "E0403", None),
    ("conv 1 kernel=2x", "E0222", None),
    ("conv 1 kernel=2 bias=maybe", "E0222", None),
    ("conv 1 kernel=2 padding=1,2,3", "E0222", None),
])
def test_bad_parameter_values(layer, code, replacement):
    e = single_error(f"network t\ninput 1x3x3\n{layer}\n")
    assert e.code == code
    assert e.message.startswith("conv1: ") or e.message.startswith("dense1: ")
    assert [f.replacement for f in e.fixes] == ([replacement] if replacement else [])
    if replacement:
        assert e.fixes[0].span == e.span  # the value, replaced
        assert check_fixed(e.fixes[0]).ok


def test_pool_padding_more_than_half_the_kernel():
    e = single_error("network t\ninput 1x8x8\navgpool kernel=2 padding=2\n")
    assert e.code == "E0304"
    assert [where(f) for f in e.fixes] == [(3, 26, 3, 27, "1")]
    assert check_fixed(e.fixes[0]).ok


def test_dense_on_image_suggests_flatten_and_checking_continues():
    result = check_text("network t\ninput 2x3x3\ndense 4\nconv 1 kernel=1\n")
    first, second = errors_of(result)
    assert (first.code, second.code) == ("E0303", "E0302")
    assert first.help == "insert `flatten` before `dense` (it gives 18 features)"
    assert [where(f) for f in first.fixes] == [(3, 1, 3, 1, "flatten\n")]


@pytest.mark.parametrize("layer", ["dense 4", "  d: dense 4", "softmax"])
def test_flatten_fix_is_a_line_above_indented_alike(layer):
    e = single_error(f"network t\ninput 2x3x3\n{layer}\n")
    assert e.code == "E0303"
    indent = layer[:len(layer) - len(layer.lstrip())]
    assert [f.replacement for f in e.fixes] == [f"{indent}flatten\n"]
    assert check_fixed(e.fixes[0]).ok


def test_no_flatten_fix_when_the_layer_names_its_input():
    e = single_error("network t\ninput 2x3x3\ndense 4 input=input\n")
    assert e.code == "E0303" and e.fixes == ()


@pytest.mark.parametrize("text, code, line", [
    ("input 1x3x3\nconv 1 kernel=2\n", "E0209", 1),
    ("network a\nnetwork b\ninput 1x3x3\nrelu\n", "E0202", 2),
    ("network a\nrelu\n", "E0211", 2),
    ("network a\n", "E0210", 1),
    ("network a\ninput 1x3x3\ninput 1x3x3\nrelu\n", "E0202", 3),
    ("network a\ninput 1x3x3\nx: relu\nx: relu\n", "E0214", 4),
    ("network a\ninput 1x3x3\nconv1: relu\nconv 1 kernel=1\n", "E0214", 4),
    ("network a\ninput 1x3x3\nconv 1\n", "E0221", 3),
    ("network a\ninput 1x3x3\nmaxpool\n", "E0221", 3),
    ("network a\ninput 3x3\nrelu\n", "E0208", 2),
    ("network a\ninput 1x3x3\n", "E0212", 2),
    ("network a\ninput 1x0x3\nrelu\n", "E0223", 2),
    ("network a\ninput 1x2.5x3\nrelu\n", "E0222", 2),
    ("network a b\ninput 1x3x3\nrelu\n", "E0205", 1),
    ("network a\ninput\nrelu\n", "E0207", 2),
    ("network a\ninput 1x3x3\nrelu\ninput 1x3x3\n", "E0202", 4),
])
def test_structure_errors(text, code, line):
    e = single_error(text)
    assert e.code == code
    assert e.span.line == line


def test_input_after_a_layer_is_also_a_layer_before_input():
    result = check_text("network a\nrelu\ninput 1x3x3\n")
    assert [(e.code, e.span.line) for e in errors_of(result)] == [("E0211", 2), ("E0206", 3)]


def test_duplicate_name_notes_the_first_definition():
    e = single_error("network a\ninput 1x3x3\nx: relu\nx: relu\n")
    assert e.notes[0].span.line == 3


@pytest.mark.parametrize("text, fixed", [
    ("network a\nnetwork b\ninput 1x3x3\nrelu\n", "network a\ninput 1x3x3\nrelu\n"),
    ("network a\ninput 1x3x3\nrelu\ninput 1x3x3", "network a\ninput 1x3x3\nrelu\n"),  # no final line break
    ("# a comment\ninput 1x3x3\nnetwork a\nrelu\n", "network a\n# a comment\ninput 1x3x3\nrelu\n"),
    ("n: network a\ninput 1x3x3\nrelu\n", "network a\ninput 1x3x3\nrelu\n"),
    ("network a\ninput 28x28\nrelu\n", "network a\ninput 1x28x28\nrelu\n"),
])
def test_header_fixes(text, fixed):
    (e,) = errors_of(check_text(text))
    (fix,) = e.fixes
    assert applied(fix) == fixed


def test_removing_a_duplicate_line_spans_two_lines():
    e = single_error("network a\nnetwork b\ninput 1x3x3\nrelu\n")
    assert [where(f) for f in e.fixes] == [(2, 1, 3, 1, "")]


@pytest.mark.parametrize("text, meant", [
    ("convv 6 kernel=3", "conv"),
    ("maxpol kernel=2", "maxpool"),
    ("flatten\nlinear 10", "dense"),
    ("conv 6 kernal=3", "kernel"),
    ("conv 6 kernel=3 strid=2", "stride"),
    ("maxpool kernel=2 pading=1", "padding"),
    ("conv 6 kernel=3 input=inptu", "input"),
])
def test_unknown_names_get_did_you_mean(text, meant):
    e = single_error(f"network a\ninput 1x8x8\n{text}\n")
    assert e.code in ("E0217", "E0218", "E0215")
    assert e.help == f"did you mean `{meant}`?"
    (fix,) = e.fixes
    assert (fix.span, fix.replacement) == (e.span, meant)
    assert check_fixed(fix).ok


def test_independent_problems_are_all_reported():
    result = check_text("network a\ninput 1x8x8\nconv 0 kernel=3\nrelu extra\nconv 2 kernal=3\n")
    assert [e.code for e in errors_of(result)] == ["E0223", "E0220", "E0218"]
    assert [e.span.line for e in errors_of(result)] == [3, 4, 5]


def test_stride_that_leaves_rows_unread_warns_with_count():
    # The lecture's example (docs/language.md): the floor drops rows 6 and 7.
    result = check_text("network a\ninput 1x8x8\nconv 1 kernel=3x5 padding=0x1 stride=3x4\n")
    assert result.ok
    (w,) = result.diagnostics
    assert not w.is_error and w.code == "W0301"
    assert "2 of the 8 input rows are never read" in w.message
    # The smallest padding and the largest smaller stride that read every row, both verified.
    assert [f.replacement for f in w.fixes] == ["1", "1x4"]
    assert [check_fixed(f).diagnostics for f in w.fixes] == [(), ()]


def test_a_strided_one_by_one_shortcut_reads_what_it_should_without_warning():
    # A stride larger than the kernel skips rows by design (ResNet's shortcut): not a warning,
    # and neither is the same gap after the last window.
    for text in ("network a\ninput 4x24x24\nconv 8 kernel=1 stride=2\n",
                 "network a\ninput 1x7x7\nmaxpool kernel=1 stride=3\n",
                 "network a\ninput 1x7x8\nmaxpool kernel=1x2 stride=3x2\n"):
        result = check_text(text)
        assert result.ok and result.diagnostics == (), text


def test_one_fix_reads_every_row_and_column():
    result = check_text("network a\ninput 3x224x224\nconv 96 kernel=11 stride=4 padding=1\n")  # AlexNet's first layer
    rows, columns = result.diagnostics
    assert rows.fixes == columns.fixes
    assert [f.replacement for f in rows.fixes] == ["2", "2"]  # padding=2 or stride=2, on both axes
    assert [check_fixed(f).diagnostics for f in rows.fixes] == [(), ()]


def test_the_padding_fix_of_a_pool_stays_within_half_the_kernel():
    (rows, _) = check_text("network a\ninput 1x9x9\nmaxpool kernel=2 stride=2\n").diagnostics
    assert [f.replacement for f in rows.fixes] == [" padding=1", "1"]  # padding=1 (= kernel // 2) or stride=1
    assert [check_fixed(f).diagnostics for f in rows.fixes] == [(), ()]


def test_no_warning_when_only_padding_is_unread():
    result = check_text("network a\ninput 1x8x8\nconv 1 kernel=3 padding=1 stride=2\n")
    assert result.ok and result.diagnostics == ()


def test_a_typo_in_a_join_is_reported_without_the_errors_it_causes():
    result = check_text("network t\ninput 1x8x8\na: conv 2 kernel=3 padding=1\n"
                        "b: conv 2 kernel=3 padding=1 input=input\nadd a c\n")
    assert [e.code for e in errors_of(result)] == ["E0215"]


def test_a_value_without_its_key_suggests_the_key():
    result = check_text("network t\ninput 1x8x8\nconv 6 5\n")
    (only,) = errors_of(result)  # not also "missing kernel"
    assert (only.code, only.help) == ("E0220", "did you mean `kernel=5`?")
    assert check_fixed(only.fixes[0]).ok


@pytest.mark.parametrize("shape, meant", [("28x28x1", "1x28x28"), ("32x32x3", "3x32x32"), ("64x48x4", "4x64x48")])
def test_a_channels_last_input_suggests_channels_first(shape, meant):
    result = check_text(f"network t\ninput {shape}\nconv 6 kernel=5\n")
    warning = next(d for d in result.diagnostics if d.code == "W0201")
    assert warning.help == f"did you mean `input {meant}`? netspec takes channels x height x width"
    fixed = check_fixed(warning.fixes[0])
    assert fixed.ok and fixed.diagnostics == ()


@pytest.mark.parametrize("shape", ["1x28x28", "3x32x32", "3x3x3", "16x8x8", "4x4x1"])
def test_a_channels_first_input_gets_no_layout_warning(shape):
    assert not [d for d in check_text(f"network t\ninput {shape}\nrelu\n").diagnostics if d.code == "W0201"]


def test_an_add_of_a_shrunk_branch_suggests_the_padding_that_keeps_its_size():
    result = check_text("network t\ninput 16x32x32\na: conv 16 kernel=3\nb: conv 16 kernel=3 padding=1 input=input\n"
                        "add b a\n")
    (e,) = errors_of(result)
    assert (e.code, e.help) == ("E0305", "use padding=1 on `a` so that it gives 16x32x32")
    assert [where(f) for f in e.fixes] == [(3, 20, 3, 20, " padding=1")]
    assert check_fixed(e.fixes[0]).ok


def test_an_add_with_another_channel_count_keeps_the_shortcut_advice():
    result = check_text("network t\ninput 8x8x8\na: conv 16 kernel=3 padding=1 stride=2\nadd a input\n")
    (e,) = errors_of(result)
    assert e.help == "put `conv 16 kernel=1 stride=2` on the shortcut so it becomes 16x4x4"


def test_a_stated_shape_that_holds_is_silent_and_the_lecture_lenet_states_every_shape():
    assert check_text("network t\ninput 1x28x28\nconv 6 kernel=5 padding=2 -> 6x28x28\n").diagnostics == ()
    from netspec.frontend.source import read_source
    from netspec.network import check_source

    result = check_source(read_source("examples/lenet5.net"))
    assert result.ok and result.diagnostics == ()
    stated = {layer.node.name: layer.node.expectations[0][0] for layer in result.graph.layers if layer.node.expectations}
    assert stated == {layer.node.name: layer.output_shape for layer in result.graph.layers}


def test_a_stated_shape_that_does_not_hold_gives_the_padding_or_the_shape_to_state():
    result = check_text("network t\ninput 1x28x28\nconv 6 kernel=5 -> 6x28x28\n")
    (e,) = errors_of(result)
    assert (e.code, e.message) == ("E0309", "conv1: the spec states 6x28x28, but the layer gives 6x24x24")
    assert [where(f) for f in e.fixes] == [(3, 16, 3, 16, " padding=2"), (3, 20, 3, 27, "6x24x24")]
    assert all(check_fixed(f).diagnostics == () for f in e.fixes)


def test_a_block_call_may_state_its_output_and_block_parameters_may_appear_in_shapes():
    text = ("network t\ninput 3x8x8\nblock same(c) {\n    conv c kernel=3 padding=1 -> cx8x8\n}\n"
            "same 4 -> 4x8x8\nsame 5 -> 5x4x4\n")
    (e,) = errors_of(check_text(text))
    assert (e.code, e.span.line) == ("E0309", 7)
    assert "same2.conv1: the spec states 5x4x4, but the layer gives 5x8x8" == e.message


@pytest.mark.parametrize("text, code", [
    ("network t\ninput 1x8x8 -> 1x8x8\nrelu\n", "E0237"),
    ("network t\ninput 1x8x8\nrelu -> 1xQx8\n", "E0236"),
    ("network t\ninput 1x8x8\nrelu -> 0x8x8\n", "E0236"),
    ("network t\ninput CxHxW\nrelu\n", "E0235"),
])
def test_malformed_shapes_are_reported(text, code):
    assert [e.code for e in errors_of(check_text(text))] == [code]
