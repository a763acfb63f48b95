"""Pooling as loop nests: a vector of outputs at a time over a padded copy of the input, or
from registers holding a whole channel when it is small."""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ..builder import F32, I64, constant, index, lane_indices, vector_type
from . import KernelDef
from .common import BUFFER, call_shared, channel_range_of_share, shared_function


LANES = 16  # scratch is sized for vectors up to this width
# A channel of at most this many vectors is pooled in registers (see `_small_planes`).
SMALL_PLANE_VECTORS = 4


def _slack(a) -> int:
    """Floats after the padded input that a strided vector load may touch."""
    return (LANES + 1) * a.step[1] + a.kernel[1] + LANES


def scratch_floats(layer) -> int:
    _, n_h, n_w = layer.input_shape
    p = layer.attrs.padding
    return (n_h + p.rows) * (n_w + p.columns) + _slack(layer.attrs)


def _strided(k, pointer, position, stride: int, width: int):
    """Elements position, position + stride, ... (`width` of them) as one vector."""
    if stride == 1:
        return k.vload(pointer, position, width)
    wide = k.vload(pointer, position, width * stride)
    return k.b.shuffle_vector(wide, ir.Constant(wide.type, None), lane_indices(tuple(i * stride for i in range(width))))


@dataclass(frozen=True)
class _PoolShape:
    """What the code of a pooling depends on beside its channel count: layers that agree on
    it share one function (see `_pool_function`)."""

    kind: str
    kernel: tuple[int, int]
    step: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, bottom, left, right
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    vector_width: int

    @classmethod
    def of(cls, layer, width: int) -> _PoolShape:
        a, p = layer.attrs, layer.attrs.padding
        return cls(layer.node.kind, a.kernel, a.step, (p.top, p.bottom, p.left, p.right), layer.input_shape[1:],
                   layer.output_shape[1:], width)

    @property
    def name(self) -> str:
        (k_h, k_w), (s_h, s_w), (n_h, n_w), (o_h, o_w) = self.kernel, self.step, self.input_size, self.output_size
        return (f"{self.kind}.{k_h}x{k_w}.step{s_h}x{s_w}.padding{'.'.join(map(str, self.padding))}"
                f".in{n_h}x{n_w}.out{o_h}x{o_w}")

    @property
    def small(self) -> bool:
        """Whether a channel is at most SMALL_PLANE_VECTORS vectors (see `_small_planes`)."""
        n_h, n_w = self.input_size
        return n_h * n_w <= SMALL_PLANE_VECTORS * self.vector_width


def shared_code(layer, width: int, tile) -> _PoolShape:
    """The shape of the pooling function the layer calls (see KernelDef.shared_code)."""
    return _PoolShape.of(layer, width)


def _lower(c, initial: float, start, combine, finish) -> None:
    """out[ch, oh, ow] = finish(combine over the window, from start), a vector of outputs
    at a time; the padding holds `initial`.

    Each channel is first copied into scratch inside its padding (filled with `initial`
    once: every channel overwrites only the inside) and slack, so every window - and
    every strided vector load - lies inside the scratch buffer; a small channel is
    pooled in registers instead (`_small_planes`). Threads dividing the layer take
    pieces of channels by ticket, each done by the module's function for the layer's
    shape (`_pool_function`)."""
    k = c.k
    shape = _PoolShape.of(c.layer, c.vector_width)
    if not shape.small:
        k.fill("pad.i", c.scratch, scratch_floats(c.layer), initial)
    function = _pool_function(k.function.module, shape, k.guarded, (initial, start, combine, finish))
    with channel_range_of_share(c, c.layer.input_shape[0]) as (first, stop):
        call_shared(k, function, c.source, c.scratch, c.target, first, stop)


def _pool_function(module: ir.Module, shape: _PoolShape, guarded: bool, window) -> ir.Function:
    """`KIND.…(source, scratch, target, first, stop)`: the pooling of channels [first,
    stop), one per module and `shape`, shared by the layers of that shape whatever their
    channel counts. `window`: (padding value, start, combine, finish) of the values of a
    window."""
    initial, start, combine, finish = window
    (k_h, k_w), (s_h, s_w), (n_h, n_w), (o_h, o_w) = shape.kernel, shape.step, shape.input_size, shape.output_size
    top, bottom, left, right = shape.padding
    width = shape.vector_width
    padded_w = n_w + left + right

    def build(k, source, scratch, target, first, stop):
        def output_vector(row_start, target_position, first_column, lanes):
            total = start(k, vector_type(width))
            for kh in range(k_h):
                for kw in range(k_w):
                    position = k.add(row_start, kh * padded_w + kw, k.mul(first_column, s_w))
                    total = combine(k, total, _strided(k, scratch, position, s_w, width))
            k.vstore(finish(k, total, k_h * k_w), target, k.add(target_position, first_column), lanes)

        whole = o_w - o_w % width
        with k.loop("c", first, stop) as ch:
            with k.loop("pad.h", 0, n_h) as h:
                source_row = k.offset((ch, h), (n_h * n_w, n_w))
                target_row = k.offset((k.add(h, top), left), (padded_w, 1))
                with k.loop("pad.w", 0, n_w) as w:
                    k.store(k.load(source, k.add(source_row, w)), scratch, k.add(target_row, w))
            with k.loop("oh", 0, o_h) as oh:
                row_start = k.mul(oh, s_h * padded_w)
                target_row = k.offset((ch, oh), (o_h * o_w, o_w))
                with k.loop("ow", 0, whole, step=width) as first_column:
                    output_vector(row_start, target_row, first_column, None)
                if whole < o_w:
                    output_vector(row_start, target_row, index(whole), o_w - whole)

    def build_small(k, source, scratch, target, first, stop):
        _small_planes(k, shape, source, target, (first, stop), window)

    arguments = {"source": BUFFER, "scratch": BUFFER, "target": BUFFER, "first": I64, "stop": I64}
    return shared_function(module, shape.name, arguments, guarded, build_small if shape.small else build)


def _small_planes(k, shape: _PoolShape, source, target, channels: tuple, window) -> None:
    """Channels of at most SMALL_PLANE_VECTORS vectors (GoogLeNet's 6x6 and 3x3 maps):
    each is loaded into registers as one wide vector, and the inputs of every tap of a
    vector of outputs are picked out of it by one shuffle (the padding from a vector of
    the padding value), so no padded copy is made and no lane is spent on a row's end."""
    initial, start, combine, finish = window
    (k_h, k_w), (s_h, s_w), (n_h, n_w), (o_h, o_w) = shape.kernel, shape.step, shape.input_size, shape.output_size
    top, _, left, _ = shape.padding
    width, plane, outputs = shape.vector_width, n_h * n_w, o_h * o_w
    loaded = -(-plane // width)
    wide = 1 << (loaded - 1).bit_length()  # vectors in the wide vector: a power of two
    padding = wide * width  # the shuffle's index of the padding value

    def source_index(position: int, kh: int, kw: int) -> int:
        row, column = divmod(position, o_w)
        ih, iw = row * s_h + kh - top, column * s_w + kw - left
        return ih * n_w + iw if position < outputs and 0 <= ih < n_h and 0 <= iw < n_w else padding

    with k.loop("c", *channels) as ch:
        parts = [k.vload(source, k.add(k.mul(ch, plane), i * width), width, min(width, plane - i * width))
                 for i in range(loaded)]
        parts += [constant(vector_type(width), 0.0)] * (wide - loaded)
        while len(parts) > 1:  # join pairs of vectors until one holds the whole channel
            parts = [k.b.shuffle_vector(a, b, lane_indices(tuple(range(2 * a.type.count))))
                     for a, b in zip(parts[::2], parts[1::2])]
        values, fill = parts[0], constant(parts[0].type, initial)
        for first_output in range(0, outputs, width):
            total = start(k, vector_type(width))
            for kh in range(k_h):
                for kw in range(k_w):
                    taps = tuple(source_index(first_output + lane, kh, kw) for lane in range(width))
                    total = combine(k, total, k.b.shuffle_vector(values, fill, lane_indices(taps)))
            k.vstore(finish(k, total, k_h * k_w), target, k.add(k.mul(ch, outputs), first_output),
                     min(width, outputs - first_output))


def _lower_max(c) -> None:
    """The largest of the window, NaN when any is NaN, the first of equal values: as
    PyTorch's `val > max || isnan(val)`. The largest so far is taken by `x > max ? x :
    max` (one vmaxps) and NaNs are remembered in a mask beside it, half the instructions
    of llvm.maximum, which also orders -0 below +0."""
    def start(k, vector):
        return constant(vector, float("-inf")), ir.Constant(ir.VectorType(ir.IntType(1), vector.count), None)

    def combine(k, state, x):
        largest, unordered = state
        return (k.b.select(k.b.fcmp_ordered(">", x, largest), x, largest),
                k.b.or_(unordered, k.b.fcmp_unordered("uno", x, x)))

    def finish(k, state, size):
        largest, unordered = state
        return k.b.select(unordered, constant(largest.type, float("nan")), largest)

    _lower(c, float("-inf"), start, combine, finish)


def _lower_avg(c) -> None:
    # Padded zeros count, as with PyTorch's default count_include_pad=True; windows
    # never extend past the padded input, so the divisor is always k_h * k_w.
    _lower(c, 0.0, lambda k, vector: constant(vector, 0.0), lambda k, total, x: k.b.fadd(total, x),
           lambda k, total, size: k.b.fdiv(total, constant(total.type, float(size))))


def _adaptive_window(k, position, inputs: int, outputs: int):
    """The inputs [start, end) that output `position` averages along one axis:
    [floor(i*N/O), ceil((i+1)*N/O)), as PyTorch's adaptive_avg_pool2d."""
    start = k.b.sdiv(k.mul(position, inputs), index(outputs))
    end = k.b.sdiv(k.add(k.mul(k.add(position, 1), inputs), outputs - 1), index(outputs))
    return start, end


def each_adaptive_window(k, layer, visit) -> None:
    """visit(output_position, input_positions, area) for every output of an adaptive
    pooling: its flat position, the loop over the flat positions of its window's inputs
    (a generator of one), and the window's size as a float."""
    channels, n_h, n_w = layer.input_shape
    _, o_h, o_w = layer.output_shape

    def inputs(ch, rows, columns):
        with k.loop("ih", *rows) as ih:
            with k.loop("iw", *columns) as iw:
                yield k.offset((ch, ih, iw), (n_h * n_w, n_w, 1))

    with k.loop("c", 0, channels) as ch:
        with k.loop("oh", 0, o_h) as oh:
            rows = _adaptive_window(k, oh, n_h, o_h)
            with k.loop("ow", 0, o_w) as ow:
                columns = _adaptive_window(k, ow, n_w, o_w)
                area = k.b.sitofp(k.b.mul(k.b.sub(rows[1], rows[0]), k.b.sub(columns[1], columns[0])), F32)
                visit(k.offset((ch, oh, ow), (o_h * o_w, o_w, 1)), inputs(ch, rows, columns), area)


def _lower_adaptive(c) -> None:
    """Output (i, j) averages the input rows and columns of its windows."""
    k = c.k

    def average(output, inputs, area):
        total = k.variable("sum", 0.0)
        for position in inputs:
            k.b.store(k.fadd(k.b.load(total), k.load(c.source, position)), total)
        k.store(k.b.fdiv(k.b.load(total), area), c.target, output)

    each_adaptive_window(k, c.layer, average)


def _lower_global(c) -> None:
    """out[ch] = mean of the channel's H*W values."""
    k = c.k
    channels, n_h, n_w = c.layer.input_shape
    plane = n_h * n_w
    with k.loop("c", 0, channels) as ch:
        total = k.variable("sum", 0.0)
        start = k.mul(ch, plane)
        with k.loop("i", 0, plane) as i:
            k.b.store(k.fadd(k.b.load(total), k.load(c.source, k.add(start, i))), total)
        k.store(k.b.fdiv(k.b.load(total), constant(F32, float(plane))), c.target, ch)


KERNELS = {
    "maxpool": KernelDef(lower=_lower_max, scratch_floats=scratch_floats, divisible=True, shared_code=shared_code),
    "avgpool": KernelDef(lower=_lower_avg, scratch_floats=scratch_floats, divisible=True, shared_code=shared_code),
    "adaptiveavgpool": KernelDef(lower=_lower_adaptive),
    "globalavgpool": KernelDef(lower=_lower_global),
}
