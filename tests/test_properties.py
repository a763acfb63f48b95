"""Property tests: the checker agrees with the formula, and no input makes it raise."""
from hypothesis import given, settings, strategies as st

from conftest import check_fixed, check_text, errors_of

sizes = st.integers(1, 40)


@given(n_h=sizes, n_w=sizes, k_h=st.integers(1, 9), k_w=st.integers(1, 9), s_h=st.integers(1, 5),
       s_w=st.integers(1, 5), p_h=st.integers(0, 4), p_w=st.integers(0, 4), channels=st.integers(1, 4))
def test_conv_shape_is_the_lecture_formula(n_h, n_w, k_h, k_w, s_h, s_w, p_h, p_w, channels):
    text = (f"network t\ninput 2x{n_h}x{n_w}\n"
            f"conv {channels} kernel={k_h}x{k_w} stride={s_h}x{s_w} padding={p_h}x{p_w}\n")
    result = check_text(text)
    out_h = (n_h - k_h + 2 * p_h + s_h) // s_h
    out_w = (n_w - k_w + 2 * p_w + s_w) // s_w
    if out_h >= 1 and out_w >= 1:
        assert result.ok
        assert result.graph.output_shape == (channels, out_h, out_w)
        assert result.graph.macs == channels * 2 * k_h * k_w * out_h * out_w
    else:
        assert not result.ok
        (e,) = errors_of(result)
        assert e.code == "E0301"
        # either fix, the padding or the kernel, makes the layer fit
        assert all(check_fixed(fix).ok for fix in e.fixes)


@given(n=sizes, k=st.integers(1, 9), s=st.integers(1, 5), p=st.integers(0, 4))
def test_pool_shape_and_half_kernel_rule(n, k, s, p):
    result = check_text(f"network t\ninput 3x{n}x{n}\nmaxpool kernel={k} stride={s} padding={p}\n")
    out = (n - k + 2 * p + s) // s
    if out >= 1 and 2 * p <= k:
        assert result.graph.output_shape == (3, out, out)
        for warning in result.diagnostics:  # each fix reads every row and column, within the pool's limits
            assert warning.code == "W0301" and warning.fixes
            assert all(check_fixed(fix).diagnostics == () for fix in warning.fixes)
    else:
        (e,) = errors_of(result)
        assert e.code in ("E0301", "E0304")
        assert all(check_fixed(fix).ok for fix in e.fixes)


@given(n=sizes, k=st.integers(1, 9), s=st.integers(1, 5))
def test_same_padding_gives_ceil_n_over_s(n, k, s):
    result = check_text(f"network t\ninput 1x{n}x{n}\nconv 1 kernel={k} stride={s} padding=same\n")
    assert result.graph.output_shape == (1, -(-n // s), -(-n // s))


WORDS = ["network", "input", "conv", "dense", "maxpool", "avgpool", "flatten", "relu", "softmax", "kernel",
         "stride", "padding", "bias", "same", "valid", "true", "x", "c1", "=", ":", ",", "#", "\n", " ", "0",
         "1", "-1", "3x3", "1x28x28", "99999999999999999999", "2.5", "{", "\x00", "\xff"]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(WORDS), max_size=40))
def test_near_valid_specs_never_raise(tokens):
    result = check_text(" ".join(tokens))
    assert result.ok or result.diagnostics


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text):
    result = check_text(text)
    assert result.ok or result.diagnostics
