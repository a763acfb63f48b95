"""`maxpool` and `avgpool kernel=K [stride=S] [padding=P]`: per-channel windows.

Stride defaults to the kernel. As in PyTorch, max pads with -inf and avg counts
the padded zeros, and padding may be at most half the kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..codegen.kernel import index
from ..diagnostics import error
from ..ir import Node, Shape
from . import OpDef, Param, Inference, params
from .spatial import needs_image, slide


@dataclass(frozen=True)
class PoolAttrs:
    kernel: tuple[int, int]
    stride: tuple[int, int] | None  # None: the kernel size
    padding: params.Padding | params.SamePadding

    @property
    def step(self) -> tuple[int, int]:
        return self.stride or self.kernel


def _padding_too_large(node: Node, a: PoolAttrs, padding: params.Padding):
    limits = (a.kernel[0] // 2, a.kernel[1] // 2)
    sides = [("top", padding.top, 0), ("bottom", padding.bottom, 0), ("left", padding.left, 1), ("right", padding.right, 1)]
    bad = [(side, p, limits[axis]) for side, p, axis in sides if p > limits[axis]]
    if not bad:
        return None
    side, p, limit = bad[0]
    fixed = limits[0] if limits[0] == limits[1] else f"{limits[0]}x{limits[1]}"
    return error(
        f"{node.name}: padding {p} ({side}) is more than half the kernel {a.kernel[0]}x{a.kernel[1]} "
        f"(at most {limit}): a window could then cover only padding",
        node.span_of("padding"),
        help=f"use padding={fixed} or less, or a larger kernel",
    )


def infer(node: Node, input_shape: Shape) -> Inference:
    a: PoolAttrs = node.attrs
    wrong_rank = needs_image(node, input_shape)
    if wrong_rank:
        return Inference(None, a, (wrong_rank,))
    out_hw, padding, diagnostics = slide(node, input_shape, a.kernel, a.step, a.padding)
    resolved = PoolAttrs(a.kernel, a.step, padding)
    too_much = _padding_too_large(node, a, padding)
    if too_much:
        return Inference(None, resolved, (too_much, *diagnostics))
    return Inference((input_shape[0], *out_hw) if out_hw else None, resolved, diagnostics)


def _lower(c, combine, initial: float, finish) -> None:
    """out[ch, oh, ow] = finish(combine over the window's in-bounds inputs); each
    window's row and column ranges are clipped to the input, so nothing is read
    out of bounds and padding contributes only `initial`."""
    k, a = c.k, c.attrs
    channels, n_h, n_w = c.layer.input_shape
    _, o_h, o_w = c.layer.output_shape
    (k_h, k_w), (s_h, s_w), padding = a.kernel, a.step, a.padding
    with k.loop("c", 0, channels) as ch:
        with k.loop("oh", 0, o_h) as oh:
            top = k.b.sub(k.mul(oh, s_h), index(padding.top))  # first input row of the window, may be < 0
            rows = (k.smax(0, top), k.smin(n_h, k.add(top, k_h)))
            with k.loop("ow", 0, o_w) as ow:
                left = k.b.sub(k.mul(ow, s_w), index(padding.left))
                columns = (k.smax(0, left), k.smin(n_w, k.add(left, k_w)))
                accumulator = k.variable("acc", initial)
                with k.loop("ih", *rows) as ih:
                    row = k.offset((ch, ih), (n_h * n_w, n_w))
                    with k.loop("iw", *columns) as iw:
                        value = k.load(c.source, k.add(row, iw))
                        k.b.store(combine(k, k.b.load(accumulator), value), accumulator)
                result = finish(k, k.b.load(accumulator), k_h * k_w)
                k.store(result, c.target, k.offset((ch, oh, ow), (o_h * o_w, o_w, 1)))


def _lower_max(c) -> None:
    _lower(c, lambda k, acc, x: k.fmaximum(acc, x), float("-inf"), lambda k, acc, size: acc)


def _lower_avg(c) -> None:
    # Padded zeros count, as with PyTorch's default count_include_pad=True; windows
    # never extend past the padded input, so the divisor is always k_h * k_w.
    _lower(c, lambda k, acc, x: k.fadd(acc, x), 0.0, lambda k, acc, size: k.fdiv(acc, float(size)))


def _pool(kind: str, lower) -> OpDef:
    return OpDef(
        kind=kind,
        usage=f"{kind} kernel=K [stride=S] [padding=P|HxW|T,B,L,R|same|valid]",
        params=(
            Param("kernel", params.size_pair("kernel")),
            Param("stride", params.size_pair("stride"), default=None),
            Param("padding", params.padding, default=params.Padding(0, 0, 0, 0)),
        ),
        attrs=PoolAttrs,
        infer=infer,
        lower=lower,
    )


MAXPOOL = _pool("maxpool", _lower_max)
AVGPOOL = _pool("avgpool", _lower_avg)
