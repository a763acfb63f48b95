"""Symbolic sizes: the expressions equal the integer arithmetic they stand for, and the
checker with names agrees with the checker with numbers."""
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netspec
from conftest import check_text
from netspec.symbolic import Product, Size, describe_values, evaluate
from specs import random_spec


def test_the_window_rule_on_a_name_simplifies_as_the_lecture_computes():
    h = Size.named("H")
    assert str((h - 5 + 4 + 1) // 1) == "H"  # kernel 5, padding 2: same size
    assert str((h - 2 + 0 + 2) // 2) == "floor(H/2)"  # 2x2 pooling with stride 2
    assert str((h - 5 + 0 + 1) // 1) == "H - 4"
    assert str(((h - 5 + 1) // 1 - 2 + 2) // 2) == "floor((H - 4)/2)"
    assert str((h + 1) // 2 * 2) == "2*floor((H + 1)/2)"


@given(st.lists(st.tuples(st.integers(1, 7), st.integers(0, 6), st.integers(1, 4)), min_size=1, max_size=6),
       st.integers(1, 300))
def test_chains_of_windows_evaluate_like_integers(windows, value):
    size, n = Size.named("H"), value
    for kernel, padding, stride in windows:
        size = (size - kernel + padding + stride) // stride
        n = (n - kernel + padding + stride) // stride
        assert size.evaluate({"H": value}) == n
    assert Product.of(3, size, size).evaluate({"H": value}) == 3 * n * n


def test_value_sets_are_described_by_their_pattern():
    assert describe_values(list(range(8, 101)), 100) == ">= 8"
    assert describe_values([28], 100) == "= 28"
    assert describe_values(list(range(32, 101, 32)), 100) == "= 32, 64, 96"
    assert describe_values(list(range(5, 1001, 32)), 1000) == "≡ 5 (mod 32), >= 5"
    assert describe_values([], 100) == "no value"



@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=random_spec(max_size=12), h=st.integers(1, 40), w=st.integers(1, 40))
def test_symbolic_shapes_and_requirements_agree_with_the_concrete_checker(spec, h, w):
    """Check a random network once with names and once with numbers: every layer's
    expression evaluates to the concrete shape, and the requirements hold exactly
    when the concrete network is valid."""
    symbolic = check_text(re.sub(r"input (\d+)x\d+x\d+", r"input \1xHxW", spec))
    concrete = check_text(re.sub(r"input (\d+)x\d+x\d+", rf"input \1x{h}x{w}", spec))
    assert symbolic.ok, [d.message for d in symbolic.diagnostics]
    values = {"H": h, "W": w}
    holds = all(r.holds(values) for r in symbolic.graph.requirements)
    errors = [d for d in concrete.diagnostics if d.is_error]
    assert holds == (not errors), (spec, h, w, [d.message for d in errors])
    if holds:
        for ours, theirs in zip(symbolic.graph.layers, concrete.graph.layers):
            assert tuple(evaluate(d, values) for d in ours.output_shape) == theirs.output_shape, ours.node.name


def test_the_lecture_lenet_with_any_input_size_states_its_sizes():
    spec = open("examples/lenet5.net").read().replace("input 1x28x28", "input 1xHxW")
    spec = re.sub(r" *-> *[0-9x]+", "", spec)
    result = check_text(spec)
    assert result.ok
    shapes = {layer.node.name: " x ".join(map(str, layer.output_shape)) for layer in result.graph.layers}
    assert shapes["conv1"] == "6 x H x W"  # kernel 5, padding 2 on each side
    assert shapes["avgpool1"] == "6 x floor(H/2) x floor(W/2)"
    assert shapes["avgpool2"] == "16 x floor((H - 8)/4) x floor((W - 8)/4)"
    assert result.graph.sizes.describe() == "H >= 12, W >= 12"
    fixed = check_text(spec.replace("dense 120", "dense 120 in_features=400"))
    assert fixed.graph.sizes.describe().startswith("dense1 needs 400 features: H = W = 28, 29, 30, 31; or 44 other")
    assert fixed.graph.sizes.smallest == {"H": 28, "W": 28}


def test_no_size_satisfying_the_layers_is_an_error():
    result = check_text("network t\ninput 1xHxW\nconv 6 kernel=3 stride=2\nflatten\ndense 10 in_features=7\n")
    (e,) = [d for d in result.diagnostics if d.is_error]
    assert e.code == "E0311" and e.message.startswith("no input size satisfies what dense1 needs")


SYMBOLIC = "network any\ninput 1xHxW\nconv 6 kernel=5 padding=2 -> 6xHxW\navgpool kernel=2\nflatten\ndense 10\n"


@pytest.mark.parametrize("command", [["run"], ["init", "-o", "w.npz"], ["compile"], ["export", "-o", "a.onnx"]])
def test_commands_that_need_numbers_say_so_with_the_smallest_size(cli, tmp_path, command):
    spec = tmp_path / "any.net"
    spec.write_text(SYMBOLIC)
    result = cli(command[0], str(spec), *[str(tmp_path / a) if "." in a else a for a in command[1:]])
    assert result.exit_code == 1
    assert "has input sizes that are names (1xHxW)" in result.stderr
    assert "`input 1x2x2`" in result.stderr


def test_check_json_gives_expressions_as_text_and_the_sizes(cli, tmp_path):
    spec = tmp_path / "any.net"
    spec.write_text(SYMBOLIC)
    record = json.loads(cli("check", str(spec), "--json").stdout)
    assert record["input"] == [1, "H", "W"]
    assert record["layers"][1]["output"] == [6, "floor(H/2)", "floor(W/2)"]
    assert record["layers"][0]["macs"] == "150*H*W"
    assert record["sizes"] == {"valid": "H >= 2, W >= 2", "smallest": {"H": 2, "W": 2}}
    assert netspec.loads(SYMBOLIC).summary().endswith("sizes: H >= 2, W >= 2 (the smallest input is 1x2x2)")
