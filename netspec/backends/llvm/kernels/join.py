"""Joins as loop nests: `add` element by element, `concat` as one copy per operand."""
from __future__ import annotations

from math import prod

from ..builder import index
from . import KernelDef
from .common import PIECES, share_of


def _lower_add(c) -> None:
    """The sum, a vector at a time, with the fused activation (ResNet's add -> relu);
    threads dividing it take pieces of whole vectors, the last piece with the tail."""
    k, width = c.k, c.vector_width
    count = prod(c.layer.output_shape)
    vectors = count // width
    per_piece = max(1, -(-vectors // PIECES)) * width
    pieces = max(1, -(-vectors * width // per_piece))

    def add_at(position, lanes):
        total = k.vload(c.sources[0], position, width, lanes)
        for source in c.sources[1:]:
            total = k.b.fadd(total, k.vload(source, position, width, lanes))
        k.vstore(c.activate(total), c.target, position, lanes)

    with share_of(c, "piece", pieces) as piece:
        start = k.mul(piece, per_piece)
        with k.loop("i", start, k.smin(k.add(start, per_piece), vectors * width), step=width) as i:
            add_at(i, None)
        if vectors * width < count:
            with k.b.if_then(k.b.icmp_signed("==", piece, index(pieces - 1))):
                add_at(index(vectors * width), count - vectors * width)


def _lower_concat(c) -> None:
    """Each operand copied to its channel offset; the layout is channel-major, so every
    operand is one contiguous run of the output. Operands whose producer wrote them
    straight into that run (no source buffer here, see plan.py) cost nothing."""
    k = c.k
    offset = 0
    for number, (source, shape) in enumerate(zip(c.sources, c.layer.input_shapes)):
        size = prod(shape)
        if source is not None:
            with k.loop(f"copy{number}", 0, size) as i:
                k.store(k.load(source, i), c.target, k.add(offset, i))
        offset += size


KERNELS = {
    "add": KernelDef(lower=_lower_add, fuses_activation=True, divisible=True),
    "concat": KernelDef(lower=_lower_concat, in_place_operands=True),
}
