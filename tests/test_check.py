"""Shapes, counts and every diagnostic kind of the checker."""
import pytest

from conftest import check_text, errors_of



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
    e = single_error("network t\ninput 1x3x3\nconv 1 kernel=5\n")
    assert "kernel 5 is larger than the padded input 3x3" in e.message
    assert "floor((3 - 5 + 0 + 1) / 1) = -1" in e.message
    assert e.help.startswith("use padding=1 ")
    assert "use kernel=3" in e.help
    assert (e.span.line, e.span.column) == (3, 15)


def test_kernel_fix_for_pooling_stays_within_half_the_kernel():
    e = single_error("network t\ninput 1x2x2\nmaxpool kernel=7\n")
    assert e.help.startswith("use padding=3 ")  # ceil((7 - 2) / 2) = 3 <= 7 // 2
    assert "floor((2 - 7 + 6 + 7) / 7) = 1" in e.help
    assert "use kernel=2" in e.help


def test_kernel_too_large_on_one_axis_names_that_axis():
    e = single_error("network t\ninput 1x9x2\nconv 1 kernel=3\n")
    assert "width: 2 + 0 padding = 2 < kernel 3" in e.message
    assert "height" not in e.message
    assert "padding=0x1" in e.help


@pytest.mark.parametrize("layer, message", [
    ("conv 0 kernel=2", "output channels must be positive, got 0"),
    ("conv 1 kernel=0", "kernel must be positive, got 0"),
    ("conv 1 kernel=2 stride=0", "stride must be positive, got 0"),
    ("conv 1 kernel=2 stride=-2", "stride must be positive, got -2"),
    ("conv 1 kernel=2 padding=-1", "padding must not be negative, got -1"),
    ("dense 0", "output features must be positive, got 0"),
    ("conv 1 kernel=99999999999999999999", "is too large"),
    ("conv 1 kernel=2x", "kernel must be an integer K or HxW"),
    ("conv 1 kernel=2 bias=maybe", "expected true or false"),
    ("conv 1 kernel=2 padding=1,2,3", "four numbers TOP,BOTTOM,LEFT,RIGHT"),
])
def test_bad_parameter_values(layer, message):
    e = single_error(f"network t\ninput 1x3x3\n{layer}\n")
    assert message in e.message
    assert e.message.startswith("conv1: ") or e.message.startswith("dense1: ")


def test_pool_padding_more_than_half_the_kernel():
    e = single_error("network t\ninput 1x8x8\navgpool kernel=2 padding=2\n")
    assert "padding 2 (top) is more than half the kernel 2x2 (at most 1)" in e.message
    assert e.help.startswith("use padding=1")


def test_dense_on_image_suggests_flatten_and_checking_continues():
    result = check_text("network t\ninput 2x3x3\ndense 4\nconv 1 kernel=1\n")
    first, second = errors_of(result)
    assert "dense1: dense needs a flat vector, but its input is 2x3x3" in first.message
    assert first.help == "insert `flatten` before `dense` (it gives 18 features)"
    assert "conv1: conv needs a CxHxW input" in second.message


def test_softmax_on_image_is_an_error():
    e = single_error("network t\ninput 2x3x3\nsoftmax\n")
    assert "softmax1: softmax needs a flat vector" in e.message


@pytest.mark.parametrize("text, message, line", [
    ("input 1x3x3\nconv 1 kernel=2\n", "missing `network NAME` statement", 1),
    ("network a\nnetwork b\ninput 1x3x3\nrelu\n", "duplicate `network` statement", 2),
    ("network a\nrelu\n", "a layer comes before `input`", 2),
    ("network a\n", "missing `input` statement", 1),
    ("network a\ninput 1x3x3\ninput 1x3x3\nrelu\n", "duplicate `input` statement", 3),
    ("network a\ninput 1x3x3\nx: relu\nx: relu\n", "duplicate layer name `x`", 4),
    ("network a\ninput 1x3x3\nconv1: relu\nconv 1 kernel=1\n", "duplicate layer name `conv1`", 4),
    ("network a\ninput 1x3x3\nconv 1\n", "conv1: `conv` is missing kernel", 3),
    ("network a\ninput 1x3x3\nmaxpool\n", "maxpool1: `maxpool` is missing kernel", 3),
    ("network a\ninput 3x3\nrelu\n", "input shape '3x3' is not CxHxW or N", 2),
    ("network a\ninput 1x3x3\n", "the network has no layers", 2),
])
def test_structure_errors(text, message, line):
    e = single_error(text)
    assert message in e.message
    assert e.span.line == line


def test_duplicate_name_notes_the_first_definition():
    e = single_error("network a\ninput 1x3x3\nx: relu\nx: relu\n")
    assert e.notes[0].span.line == 3


@pytest.mark.parametrize("text, suggestion", [
    ("convv 6 kernel=3", "did you mean `conv`?"),
    ("maxpol kernel=2", "did you mean `maxpool`?"),
    ("linear 10", "did you mean `dense`?"),
    ("conv 6 kernal=3", "did you mean `kernel`?"),
    ("conv 6 kernel=3 strid=2", "did you mean `stride`?"),
    ("maxpool kernel=2 pading=1", "did you mean `padding`?"),
])
def test_unknown_names_get_did_you_mean(text, suggestion):
    e = single_error(f"network a\ninput 1x8x8\n{text}\n")
    assert e.help == suggestion


def test_independent_problems_are_all_reported():
    result = check_text("network a\ninput 1x8x8\nconv 0 kernel=3\nrelu extra\nconv 2 kernal=3\n")
    messages = [e.message for e in errors_of(result)]
    assert len(messages) == 3
    assert [e.span.line for e in errors_of(result)] == [3, 4, 5]


def test_stride_that_leaves_rows_unread_warns_with_count():
    result = check_text("network a\ninput 1x8x8\nconv 1 kernel=3x5 padding=0x1 stride=3x4\n")
    assert result.ok
    (w,) = result.diagnostics
    assert not w.is_error
    assert "2 of the 8 input rows are never read" in w.message


def test_stride_larger_than_kernel_counts_skipped_rows():
    result = check_text("network a\ninput 1x7x7\nmaxpool kernel=1 stride=3\n")
    rows, columns = result.diagnostics
    assert "4 of the 7 input rows are never read" in rows.message  # rows 0, 3, 6 are read
    assert "stride <= 1" in rows.help


def test_no_warning_when_only_padding_is_unread():
    result = check_text("network a\ninput 1x8x8\nconv 1 kernel=3 padding=1 stride=2\n")
    assert result.ok and result.diagnostics == ()
