"""Portability notes against the frameworks they describe: PyTorch's ceil_mode (which
reproduces Caffe's rounding up) gives the shape the note names."""
import pytest
from hypothesis import given, settings, strategies as st

from conftest import check_text
from netspec.portability import portability_notes

torch = pytest.importorskip("torch")


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 30), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3))
def test_the_caffe_shape_is_what_ceil_mode_gives(n, k, s, p):
    result = check_text(f"network p\ninput 1x{n}x{n}\nmaxpool kernel={k} stride={s} padding={p}\n")
    if not result.ok:
        return
    x = torch.zeros(1, 1, n, n)
    floor = tuple(torch.nn.functional.max_pool2d(x, k, s, p).shape[1:])
    ceil = tuple(torch.nn.functional.max_pool2d(x, k, s, p, ceil_mode=True).shape[1:])
    assert result.graph.output_shape == floor
    notes = portability_notes(result.graph)
    if ceil == floor:
        assert notes == ()
    else:
        (note,) = notes
        assert f"gives {ceil[0]}x{ceil[1]}x{ceil[2]}; netspec" in note.message
