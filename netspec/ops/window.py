"""The sliding-window rule shared by convolution and pooling.

Per spatial axis, out = floor((n - k + p + s) / s) with p the total padding on
that axis (the lecture's rule); this module applies it, resolves `padding=same`,
and turns violations into diagnostics that carry the computed fix.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..diagnostics import Diagnostic, Fix, error, warning
from ..ir import Node
from .params import Padding, SamePadding


def output_size(n: int, k: int, p: int, s: int) -> int:
    return (n - k + p + s) // s


@dataclass(frozen=True)
class Axis:
    name: str  # "height" or "width"
    unit: str  # "row" or "column"
    n: int
    k: int
    s: int
    before: int
    after: int

    @property
    def p(self) -> int:
        return self.before + self.after

    @property
    def out(self) -> int:
        return output_size(self.n, self.k, self.p, self.s)

    def rule(self, p: int | None = None) -> str:
        p = self.p if p is None else p
        return (f"floor((n - k + p + s) / s) = floor(({self.n} - {self.k} + {p} + {self.s}) / {self.s})"
                f" = {output_size(self.n, self.k, p, self.s)}")


def resolve_padding(padding: Padding | SamePadding, n_h: int, n_w: int, kernel, stride) -> Padding:
    """`same` pads so that out = ceil(n / s); an odd total puts the extra row/column at bottom/right."""
    if isinstance(padding, Padding):
        return padding
    totals = [max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in zip((n_h, n_w), kernel, stride)]
    return Padding(totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2)


def axes(n_h: int, n_w: int, kernel, stride, padding: Padding) -> tuple[Axis, Axis]:
    return (
        Axis("height", "row", n_h, kernel[0], stride[0], padding.top, padding.bottom),
        Axis("width", "column", n_w, kernel[1], stride[1], padding.left, padding.right),
    )


def pair(values) -> str:
    """`3` when height and width agree, else `3x5`."""
    return str(values[0]) if values[0] == values[1] else f"{values[0]}x{values[1]}"


def setting(node: Node, param: str, value: str, note: str) -> Fix:
    """The fix that sets `param=value` on a layer: over the value written, or after the
    kernel (which every windowed layer states) when the parameter took its default."""
    written = node.written(param)
    if written:
        return Fix(written, value, note)
    return Fix(node.span_of("kernel").end, f" {param}={value}", note)


def _smallest_padding(axis: Axis) -> int:
    """Smallest symmetric padding P with n + 2P >= k, i.e. at least one window fits."""
    return max(0, -(-(axis.k - axis.n) // 2))


def kernel_fits(node: Node, both: tuple[Axis, Axis]) -> Diagnostic | None:
    """Error when a kernel is larger than the padded input on some axis, with the
    smallest padding or kernel that fixes it. The padding found, ceil((k - n) / 2),
    never exceeds k // 2, so it is also valid for pooling."""
    failing = [a for a in both if a.out < 1]
    if not failing:
        return None
    details = "; ".join(
        f"{name}: {a.n} + {a.p} padding = {a.n + a.p} < kernel {a.k}, out = {a.rule()}"
        for name, a in _named_groups(failing)
    )
    message = (f"{node.name}: kernel {pair((both[0].k, both[1].k))} is larger than the padded input "
               f"{both[0].n + both[0].p}x{both[1].n + both[1].p} ({details})")
    # An axis that fits keeps its larger side's padding on both sides, so it still fits.
    new_padding = [(_smallest_padding(a) if a.out < 1 else max(a.before, a.after)) for a in both]
    fixed = [Axis(a.name, a.unit, a.n, a.k, a.s, p, p) for a, p in zip(both, new_padding)]
    worked = "; ".join(f"{name}: out = {a.rule()}" for name, a in _named_groups([f for f, a in zip(fixed, both) if a.out < 1]))
    kernel = pair([min(a.k, a.n + a.p) for a in both])
    use_padding = f"use padding={pair(new_padding)} ({worked})"
    use_kernel = f"use kernel={kernel} (the largest that fits)"
    return error("E0301", message, node.span_of("kernel"), help=f"{use_padding} or {use_kernel}",
                 fixes=(setting(node, "padding", pair(new_padding), use_padding),
                        Fix(node.span_of("kernel"), kernel, use_kernel)))


def _named_groups(axes_: list[Axis]) -> list[tuple[str, Axis]]:
    """Axes to describe, merging height and width when their numbers are the same."""
    if len(axes_) == 2 and (axes_[0].n, axes_[0].k, axes_[0].p, axes_[0].s) == (axes_[1].n, axes_[1].k, axes_[1].p, axes_[1].s):
        return [("height and width", axes_[0])]
    return [(a.name, a) for a in axes_]


def _rows_past_last_window(a: Axis) -> int:
    """Input rows (not padding) after the last window that the floor in the rule drops.
    Rows that a stride larger than the kernel skips are skipped by design (a 1x1 stride-2
    shortcut reads every other row), so the gap of s - k rows after the last window, the
    same as between windows, does not count."""
    last = (a.out - 1) * a.s + a.k  # one past the last padded row any window reads
    past = max(0, a.before + a.n - max(last, a.before))
    return max(0, past - max(0, a.s - a.k))


def _reads_every_row(a: Axis) -> bool:
    return a.out >= 1 and _rows_past_last_window(a) == 0


def _padding_text(both: tuple[Axis, Axis]) -> str:
    rows, columns = both
    return Padding(rows.before, rows.after, columns.before, columns.after).text()


def _first(candidates) -> Axis | None:
    return next((a for a in candidates if _reads_every_row(a)), None)


def unread_warnings(node: Node, both: tuple[Axis, Axis], padding_limit) -> tuple[Diagnostic, ...]:
    """Warn, per axis, when input rows/columns lie past the last window. Both warnings carry
    the same fixes, each verified by the rule and changing every axis that needs it: the
    smallest padding (at most `padding_limit(kernel)` a side) and the largest smaller stride
    that read every row."""
    if all(_reads_every_row(a) for a in both):
        return ()
    padded = [a if _reads_every_row(a) else _first(replace(a, before=p, after=p)
                                                    for p in range(max(a.before, a.after) + 1, padding_limit(a.k) + 1))
              for a in both]
    strided = [a if _reads_every_row(a) else _first(replace(a, s=s) for s in range(a.s - 1, 0, -1)) for a in both]
    fixes, advice = [], []
    changed = [i for i, a in enumerate(both) if not _reads_every_row(a)]
    for candidate, param, text in ((padded, "padding", lambda c: _padding_text(c)),
                                   (strided, "stride", lambda c: pair((c[0].s, c[1].s)))):
        if all(candidate):
            worked = "; ".join(f"{name}: out = {a.rule()}" for name, a in _named_groups([candidate[i] for i in changed]))
            note = f"use {param}={text(candidate)} ({worked})"
            fixes.append(replace(setting(node, param, text(candidate), note), machine_applicable=False))
            advice.append(note)
    return tuple(_unread_warning(node, a, " or ".join(advice) or None, tuple(fixes))
                 for a in both if not _reads_every_row(a))


def _unread_warning(node: Node, axis: Axis, help: str | None, fixes: tuple[Fix, ...]) -> Diagnostic:
    unread = _rows_past_last_window(axis)
    verb = "is" if unread == 1 else "are"
    message = (f"{node.name}: with kernel {axis.k} and stride {axis.s}, {unread} of the {axis.n} input "
               f"{axis.unit}s {verb} never read: they lie past the last window ({axis.name}: out = {axis.rule()})")
    return warning("W0301", message, node.span_of("stride"), help=help, fixes=fixes)


def padding_for(layer, target) -> str | None:
    """The padding (as written after `padding=`) that makes a windowed layer give `target`:
    per axis the smallest symmetric padding, at most half the kernel, for which the rule
    gives the wanted size; None when there is none or `target` is not this layer's kind of
    shape (other channels, or a size that is not a number)."""
    if len(target) != 3 or target[0] != layer.output_shape[0] or not all(isinstance(d, int) for d in target):
        return None
    a = layer.attrs
    _, n_h, n_w = layer.input_shape
    if not (isinstance(n_h, int) and isinstance(n_w, int)):
        return None
    found = [next((p for p in range(k // 2 + 1) if output_size(n, k, 2 * p, s) == wanted), None)
             for n, k, s, wanted in zip((n_h, n_w), a.kernel, a.step, target[1:])]
    return None if None in found else pair(found)
