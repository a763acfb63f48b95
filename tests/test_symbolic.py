"""Symbolic sizes: the expressions equal the integer arithmetic they stand for."""
from hypothesis import given, strategies as st

from netspec.symbolic import Product, Size, describe_values


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


@given(st.integers(1, 7), st.integers(0, 6), st.integers(1, 4), st.integers(1, 5))
def test_at_least_gives_the_smallest_value(kernel, padding, stride, bound):
    size = (Size.named("H") - kernel + padding + stride) // stride
    smallest = size.at_least(bound)["H"]
    assert size.evaluate({"H": smallest}) >= bound
    assert size.evaluate({"H": smallest - 1}) < bound


def test_value_sets_are_described_by_their_pattern():
    assert describe_values(list(range(8, 101)), 100) == ">= 8"
    assert describe_values([28], 100) == "= 28"
    assert describe_values(list(range(32, 101, 32)), 100) == "= 32, 64, 96"
    assert describe_values(list(range(5, 1001, 32)), 1000) == "≡ 5 (mod 32), >= 5"
    assert describe_values([], 100) == "no value"
