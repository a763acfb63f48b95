"""Joins as loop nests: `add` element by element, `concat` as one copy per operand."""
from __future__ import annotations

from math import prod

from . import KernelDef


def _lower_add(c) -> None:
    k, width = c.k, c.vector_width
    count = prod(c.layer.output_shape)
    whole = count - count % width

    def add_at(position, lanes):
        total = k.vload(c.sources[0], position, width, lanes)
        for source in c.sources[1:]:
            total = k.b.fadd(total, k.vload(source, position, width, lanes))
        k.vstore(total, c.target, position, lanes)

    with k.loop("i", 0, whole, step=width) as i:
        add_at(i, None)
    if whole < count:
        add_at(whole, count - whole)


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
    "add": KernelDef(lower=_lower_add),
    "concat": KernelDef(lower=_lower_concat, in_place_operands=True),
}
