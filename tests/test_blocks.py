"""Blocks, repeats, named tensors and joins: expansion, naming, and their diagnostics."""
import pytest

from conftest import applied, check_fixed, check_text, errors_of

HEADER = "network t\ninput 4x8x8\n"


def ok(text):
    result = check_text(HEADER + text)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.graph


def single_error(text):
    errors = errors_of(check_text(HEADER + text))
    assert len(errors) == 1, [e.message for e in errors]
    return errors[0]


def test_blocks_expand_with_prefixed_names_and_parameters():
    network = ok("block pair(channels, kernel=3) {\n  conv channels kernel=kernel padding=1\n  relu\n}\n"
                 "pair 6\np: pair 2 kernel=1\n")
    names = [layer.node.name for layer in network.layers]
    assert names == ["pair1.conv1", "pair1.relu1", "p.conv1", "p.relu1"]
    assert network.layer("pair1.conv1").output_shape == (6, 8, 8)
    assert network.layer("p.conv1").attrs.kernel == (1, 1)
    assert network.layer("p.conv1").output_shape == (2, 10, 10)  # kernel 1 with padding 1


def test_repeat_continues_the_naming_count():
    network = ok("repeat 3 {\n  conv 4 kernel=1\n  relu\n}\n")
    assert [layer.node.name for layer in network.layers] == ["conv1", "relu1", "conv2", "relu2", "conv3", "relu3"]


def test_repeat_count_can_be_a_block_parameter():
    network = ok("block stack(n) {\n  repeat n {\n    conv 4 kernel=1\n  }\n}\nstack 2\nstack 3\n")
    assert len(network.layers) == 5


def test_named_tensors_branch_and_join():
    network = ok("a: conv 4 kernel=3 padding=1\nb: conv 4 kernel=1 input=input\nadd a b\nconcat a b add1\n")
    assert network.layer("add1").node.inputs == ("a", "b")
    assert network.layer("concat1").output_shape == (12, 8, 8)


def test_add_with_one_name_adds_the_previous_tensor():
    network = ok("conv 4 kernel=3 padding=1\nadd input\n")
    assert network.layer("add1").node.inputs == ("conv1", "input")


def test_add_mismatch_points_at_both_operands_and_suggests_a_strided_1x1_conv():
    e = single_error("a: conv 8 kernel=3 padding=1 stride=2\n  s: add a input\n")
    assert e.code == "E0305"
    assert [n.message for n in e.notes] == ["`a` is 8x4x4", "`input` is 4x8x8"]
    assert e.help == "put `conv 8 kernel=1 stride=2` on the shortcut so it becomes 8x4x4"
    (fix,) = e.fixes  # one edit: the projection on a line above, and the operand renamed to it
    assert applied(fix) == (HEADER + "a: conv 8 kernel=3 padding=1 stride=2\n"
                            "  input_shortcut: conv 8 kernel=1 stride=2 input=input\n  s: add a input_shortcut\n")
    assert check_fixed(fix).ok


def test_add_mismatch_fix_projects_the_first_operand_when_it_is_the_larger():
    e = single_error("a: conv 2 kernel=3 padding=1\nb: conv 2 kernel=1 stride=2 input=a\nadd a b\n")
    assert e.help == "put `conv 2 kernel=1 stride=2` on the shortcut so it becomes 2x4x4"
    assert check_fixed(e.fixes[0]).ok


@pytest.mark.parametrize("text", [
    "a: conv 8 kernel=3 padding=1 stride=2\nadd input\n",  # the first operand is the tensor before `add`
    "a: conv 8 kernel=3\nadd a input\n",  # 6x6 from 8x8: no 1x1 convolution does that
])
def test_add_mismatch_without_a_fix(text):
    e = single_error(text)
    assert e.code == "E0305" and e.fixes == ()


def test_concat_needs_equal_heights_and_widths():
    e = single_error("a: conv 2 kernel=3\nconcat a input\n")
    assert e.code == "E0306"


def test_error_inside_a_block_names_the_call_site():
    result = check_text("network t\ninput 1x4x4\nblock big() {\n  conv 1 kernel=9\n}\nb: big\n")
    (e,) = errors_of(result)
    assert e.span.line == 4
    assert e.notes[-1].message == "in expansion of `b` (block `big`)"
    assert e.notes[-1].span.line == 6
    assert e.fixes == ()  # computed for this call's shapes, but editing the block changes every call


def test_nested_blocks_list_every_call_site():
    result = check_text("network t\ninput 1x4x4\nblock inner() {\n  conv 1 kernel=9\n}\n"
                        "block outer() {\n  i: inner\n}\no: outer\n")
    (e,) = errors_of(result)
    assert [n.message for n in e.notes] == ["in expansion of `o` (block `outer`)",
                                            "in expansion of `o.i` (block `inner`)"]


@pytest.mark.parametrize("text, code", [
    ("conv 4 kernel=1 input=later\nlater: relu\n", "E0215"),
    ("side: relu\nconv 4 kernel=1 input=input\n", "E0216"),
    ("block loop() {\n  loop\n}\nloop\n", "E0230"),
    ("block b(c) {\n  conv c kernel=1\n}\nb\n", "E0233"),
    ("block b(c) {\n  conv c kernel=1\n}\nb 1 chanels=2\n", "E0232"),
    ("block b(c) {\n  conv c kernel=1\n}\nb 1 2\n", "E0231"),
    ("repeat 0 {\n  relu\n}\n", "E0234"),
    ("repeat 2x {\n  relu\n}\n", "E0222"),
    ("repeat 2 {\n  r: relu\n}\n", "E0214"),
    ("dropout 1.5\n", "E0223"),
    ("batchnorm eps=0\n", "E0223"),
    ("add\n", "E0224"),
    ("relu input=input input=input\n", "E0225"),
    ("block b() {\n  network x\n}\nb\n", "E0201"),
    ("globalavgpool\nflatten\nglobalavgpool\n", "E0302"),
    ("in: relu\nb: relu\nblock q() {\n  in: relu\n}\nq\n", "E0213"),
    ("input: relu\n", "E0213"),
    ("block b() {\n  relu\n}\nblock b() {\n  relu\n}\nb\n", "E0226"),
    ("block relu() {\n  relu\n}\nrelu\n", "E0227"),
    ("block b() {\n}\nb\n", "E0228"),
    ("block b() {\n  block c() {\n    relu\n  }\n  relu\n}\nb\n", "E0229"),
    ("relu 3\n", "E0220"),
    ("conv 4 kernel=1 kernel=1\n", "E0219"),
])
def test_block_and_branch_errors(text, code):
    errors = errors_of(check_text(HEADER + text))
    assert code in [e.code for e in errors], [(e.code, e.message) for e in errors]


def test_unknown_block_parameter_gets_did_you_mean():
    e = errors_of(check_text(HEADER + "block b(channels) {\n  conv channels kernel=1\n}\nb chanels=2\n"))[0]
    assert e.code == "E0232"
    assert [f.replacement for f in e.fixes] == ["channels"]
    assert check_fixed(e.fixes[0]).ok


def test_a_value_a_block_parameter_stands_for_gets_no_fix():
    # reported at `p` inside the block; writing 0 over `p` would change every call
    e = single_error("block b(p) {\n  conv 4 kernel=1 padding=p\n}\nb -1\n")
    assert e.code == "E0223" and e.span.line == 4
    assert e.fixes == ()


def test_new_layers_shapes_and_counts():
    network = ok("conv 6 kernel=3\nbatchnorm\ndropout 0.5\nadaptiveavgpool 2x3\nglobalavgpool\nflatten\n")
    assert network.layer("batchnorm1").params == 12  # weight and bias; running statistics are not parameters
    assert network.layer("adaptiveavgpool1").output_shape == (6, 2, 3)
    assert network.layer("globalavgpool1").output_shape == (6, 1, 1)
    assert network.output_shape == (6,)


def test_expansion_is_bounded():
    text = "repeat 10000 {\n  repeat 10000 {\n    relu\n  }\n}\n"
    errors = errors_of(check_text(HEADER + text))
    assert "E0406" in [e.code for e in errors]


def test_seeded_batchnorm_starts_as_pytorch_does():
    from netspec.weights import initial_weights

    network = ok("conv 3 kernel=1\nbatchnorm\n")
    weights = initial_weights(network, seed=0)
    assert weights["batchnorm1.weight"].tolist() == [1.0] * 3
    assert weights["batchnorm1.running_var"].tolist() == [1.0] * 3
    assert weights["batchnorm1.bias"].tolist() == weights["batchnorm1.running_mean"].tolist() == [0.0] * 3
    assert abs(weights["conv1.weight"]).max() <= 1 / 2  # fan-in 4: bound 1/sqrt(4)
