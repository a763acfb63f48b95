"""Building blocks for loop nests in LLVM IR: named loops, indexing, float math.

Values and blocks are named after the layer and loop variable (`conv1.oc`) so
that `--emit-llvm` output can be followed by a person.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from llvmlite import ir

F32 = ir.FloatType()
I64 = ir.IntType(64)
I32 = ir.IntType(32)
F32_PTR = ir.PointerType(F32)

# Reassociation lets LLVM vectorize sums (changing the order of additions, as
# every BLAS does); contraction allows fused multiply-add. No flag here assumes
# the absence of NaN or infinity, so IEEE special values propagate unchanged.
FAST = ("reassoc", "contract")


def vector_type(width: int) -> ir.VectorType:
    return ir.VectorType(F32, width)


def constant(like: ir.Type, value: float) -> ir.Value:
    """A float constant of type `like`: a scalar, or the same value in every lane of a vector."""
    if isinstance(like, ir.VectorType):
        return ir.Constant(like, [float(value)] * like.count)
    return ir.Constant(F32, float(value))


@lru_cache(maxsize=None)
def lane_indices(indices: tuple[int, ...]) -> ir.Constant:
    """A shuffle's lane indices as one constant object for every use: llvmlite caches a
    constant's text per object, and formatting a fresh one for each of GoogLeNet's ~20,000
    shuffles took a third of its IR's build time."""
    return ir.Constant(ir.VectorType(I32, len(indices)), list(indices))


def index(value) -> ir.Value:
    return value if isinstance(value, ir.Value) else ir.Constant(I64, int(value))


def real(value) -> ir.Value:
    return value if isinstance(value, ir.Value) else ir.Constant(F32, float(value))


# Counts accesses that a bounds-checked build caught outside their buffer.
OUT_OF_BOUNDS = "netspec.out_of_bounds"


def violation_counter(module: ir.Module) -> ir.GlobalVariable:
    """The module's OUT_OF_BOUNDS counter, created on first use."""
    counter = module.globals.get(OUT_OF_BOUNDS)
    if counter is None:
        counter = ir.GlobalVariable(module, I64, OUT_OF_BOUNDS)
        counter.initializer = index(0)
    return counter


@dataclass(frozen=True)
class Buffer:
    """A pointer and the number of floats from it that code may touch (an int, or
    an i64 value when it depends on the batch)."""

    pointer: ir.Value
    extent: object


class KernelBuilder:
    """An IR builder positioned inside one function, with loop and arithmetic helpers.

    With `guarded` (the bounds-checked build), every load and store first tests its
    position against its buffer's extent; an access outside is skipped and counted
    in OUT_OF_BOUNDS (a test mode: generated code never relies on it)."""

    def __init__(self, function: ir.Function, prefix: str, guarded: bool = False):
        self.function = function
        self.prefix = prefix
        self.guarded = guarded
        # The entry block holds only stack slots (see `variable`) and jumps to the code.
        entry = function.append_basic_block(f"{prefix}.entry")
        start = function.append_basic_block(f"{prefix}.start")
        self._slots = ir.IRBuilder(entry)
        self._slots.branch(start)
        self._slots.position_at_start(entry)
        self.b = ir.IRBuilder(start)

    def name(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    @contextmanager
    def loop(self, var: str, start, stop, step: int = 1):
        """for (var = start; var < stop; var += step) — yields the induction variable."""
        b = self.b
        before = b.block
        cond = self.function.append_basic_block(self.name(f"{var}.cond"))
        body = self.function.append_basic_block(self.name(f"{var}.body"))
        end = self.function.append_basic_block(self.name(f"{var}.end"))
        b.branch(cond)
        b.position_at_end(cond)
        counter = b.phi(I64, self.name(var))
        counter.add_incoming(index(start), before)
        b.cbranch(b.icmp_signed("<", counter, index(stop)), body, end)
        b.position_at_end(body)
        yield counter
        following = b.add(counter, index(step), name=self.name(f"{var}.next"))
        counter.add_incoming(following, b.block)
        b.branch(cond)
        b.position_at_end(end)

    # -- integer index arithmetic (64-bit throughout) ------------------------
    def add(self, *terms) -> ir.Value:
        values = [index(t) for t in terms if not (isinstance(t, int) and t == 0)]
        if not values:
            return index(0)
        total = values[0]
        for v in values[1:]:
            total = self.b.add(total, v)
        return total

    def mul(self, a, b) -> ir.Value:
        if isinstance(b, int) and b == 1:
            return index(a)
        if isinstance(a, int) and a == 1:
            return index(b)
        return self.b.mul(index(a), index(b))

    def offset(self, indices, strides) -> ir.Value:
        """sum(index * stride): the flat position of a multi-dimensional index."""
        return self.add(*[self.mul(i, s) for i, s in zip(indices, strides)])

    def smin(self, a, b) -> ir.Value:
        a, b = index(a), index(b)
        return self.b.select(self.b.icmp_signed("<", a, b), a, b)

    # -- memory ---------------------------------------------------------------
    def at(self, pointer, position) -> ir.Value:
        return self.b.gep(pointer, [index(position)], inbounds=True)

    def view(self, buffer: Buffer, offset, extent) -> Buffer:
        """The part of `buffer` of `extent` floats starting at `offset`."""
        return Buffer(self.at(buffer.pointer, offset), extent)

    def _guarded(self, buffer: Buffer, position, touched: int, access, result: ir.Type | None = None):
        if not self.guarded:
            return access()
        b = self.b
        position = index(position)
        inside = b.and_(b.icmp_signed(">=", position, index(0)),
                        b.icmp_signed("<=", b.add(position, index(touched)), index(buffer.extent)))
        with b.if_else(inside) as (then, otherwise):
            with then:
                value = access()
                then_block = b.block
            with otherwise:
                b.atomic_rmw("add", self._violations(), index(1), "monotonic")
                otherwise_block = b.block
        if result is None:
            return None
        merged = b.phi(result)
        merged.add_incoming(value, then_block)
        merged.add_incoming(constant(result, 0.0), otherwise_block)
        return merged

    def _violations(self) -> ir.GlobalVariable:
        return violation_counter(self.function.module)

    def load(self, buffer: Buffer, position) -> ir.Value:
        return self._guarded(buffer, position, 1, lambda: self.b.load(self.at(buffer.pointer, position)), F32)

    def store(self, value, buffer: Buffer, position) -> None:
        self._guarded(buffer, position, 1, lambda: self.b.store(value, self.at(buffer.pointer, position)))

    def variable(self, name: str, initial) -> ir.Value:
        """An accumulator (float or vector): its slot sits in the entry block, where LLVM
        promotes it to a register."""
        initial = real(initial)
        slot = self._slots.alloca(initial.type, name=self.name(name))
        self.b.store(initial, slot)
        return slot

    def fill(self, var: str, buffer: Buffer, count: int, value) -> None:
        with self.loop(var, 0, count) as i:
            self.store(real(value), buffer, i)

    # -- float arithmetic -------------------------------------------------------
    def fadd(self, a, b) -> ir.Value:
        return self.b.fadd(real(a), real(b), flags=FAST)

    def fsub(self, a, b) -> ir.Value:
        return self.b.fsub(real(a), real(b), flags=FAST)

    def fmul(self, a, b) -> ir.Value:
        return self.b.fmul(real(a), real(b), flags=FAST)

    def fdiv(self, a, b) -> ir.Value:
        return self.b.fdiv(real(a), real(b))

    def intrinsic(self, name: str, *args) -> ir.Value:
        """Call an overloaded float intrinsic such as `llvm.floor` on f32 or <N x f32> arguments."""
        kind = args[0].type
        suffix = f"v{kind.count}f32" if isinstance(kind, ir.VectorType) else "f32"
        return self.b.call(self._declare(f"{name}.{suffix}", kind, [kind] * len(args)), list(args))

    def _declare(self, name: str, result: ir.Type, arguments) -> ir.Function:
        module = self.function.module
        function = module.globals.get(name)
        if function is None:
            function = ir.Function(module, ir.FunctionType(result, list(arguments)), name)
        return function

    # -- vectors ----------------------------------------------------------------
    def splat(self, scalar, width: int) -> ir.Value:
        vector = self.b.insert_element(ir.Constant(vector_type(width), None), real(scalar), ir.Constant(I32, 0))
        return self.b.shuffle_vector(vector, ir.Constant(vector_type(width), None), lane_indices((0,) * width))

    def _vector_pointer(self, pointer, position, width: int):
        return self.b.bitcast(self.at(pointer, position), ir.PointerType(vector_type(width)))

    def vload(self, buffer: Buffer, position, width: int, lanes: int | None = None) -> ir.Value:
        """Load `width` consecutive floats (any alignment); with `lanes`, only the first
        `lanes` are read (a masked load: nothing past them is touched) and the rest are 0."""
        def access():
            source = self._vector_pointer(buffer.pointer, position, width)
            if lanes is None or lanes >= width:
                return self.b.load(source, align=4)
            mask = self._mask(width, lanes)
            load = self._declare(f"llvm.masked.load.v{width}f32.p0", vector_type(width),
                                 [source.type, I32, mask.type, vector_type(width)])
            return self.b.call(load, [source, ir.Constant(I32, 4), mask, constant(vector_type(width), 0.0)])

        return self._guarded(buffer, position, min(lanes or width, width), access, vector_type(width))

    @staticmethod
    def _mask(width: int, lanes: int) -> ir.Constant:
        return ir.Constant(ir.VectorType(ir.IntType(1), width), [i < lanes for i in range(width)])

    def vstore(self, value, buffer: Buffer, position, lanes: int | None = None) -> None:
        """Store a vector; with `lanes`, only its first `lanes` elements (a masked store)."""
        width = value.type.count

        def access():
            target = self._vector_pointer(buffer.pointer, position, width)
            if lanes is None or lanes >= width:
                self.b.store(value, target, align=4)
                return
            mask = self._mask(width, lanes)
            store = self._declare(f"llvm.masked.store.v{width}f32.p0",
                                  ir.VoidType(), [value.type, target.type, I32, mask.type])
            self.b.call(store, [value, target, ir.Constant(I32, 4), mask])

        self._guarded(buffer, position, min(lanes or width, width), access)

    def fmaximum(self, a, b) -> ir.Value:
        """max that propagates NaN, as PyTorch's max pooling does."""
        return self.intrinsic("llvm.maximum", real(a), real(b))


@dataclass(frozen=True)
class Tickets:
    """How threads dividing a layer share its work: the tiles of every example of the
    call are numbered in order, and a thread takes the next number from the shared
    `counter` (an atomic add) whenever it finishes a tile, so a thread slowed down (by
    another process on its core) simply takes fewer. `ticket` is the thread's slot
    holding the number it took last; `example` is the example being lowered."""

    counter: ir.Value
    ticket: ir.Value
    example: ir.Value


class LayerCode:
    """What a layer's lowering gets: a builder inside the layer's function, the
    shaped layer, buffers for its inputs, output, weights and scratch, the
    elementwise function to apply as it stores (`fused`, when the plan fused an
    activation into it), the number of examples (`count`, an IR value: only for
    kernels lowered per tile; others see one example at a time), the host's
    float vector width, and for a divisible kernel (see `KernelDef.divisible`)
    the `Tickets` its tiles of work are taken by, None when it does all of them,
    and the register tile shape chosen for the layer (`tile`, for kernels that
    tile registers: conv's (output channels, q vectors)), None for the kernel's own rule."""

    def __init__(self, builder: KernelBuilder, layer, sources, target, weights, scratch, fused, count, vector_width,
                 tickets=None, tile=None):
        self.k = builder
        self.layer = layer
        self.sources = sources  # one per tensor the layer reads (several for joins); None: already in place
        self.source = sources[0]
        self.target = target
        self.weights = weights
        self.scratch = scratch
        self.fused = fused
        self.count = count
        self.vector_width = vector_width
        self.tickets = tickets
        self.tile = tile

    @property
    def attrs(self):
        return self.layer.attrs

    def activate(self, x: ir.Value) -> ir.Value:
        """The fused activation applied to a float or a vector of floats (x itself when none is fused)."""
        return self.fused(self.k, x) if self.fused else x
