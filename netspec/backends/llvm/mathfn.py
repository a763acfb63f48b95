"""Activation functions as straight-line float code, so loops over them vectorize.

exp uses Cody-Waite range reduction and Cephes' degree-6 polynomial for expf
(max error about 1 ulp on [-87, 88]); results beyond float range saturate to
0 or +inf and NaN propagates, as in libm.
"""
from __future__ import annotations

from llvmlite import ir

from .builder import I32, KernelBuilder, constant

_LOG2E = 1.44269504088896341
_LN2_HI = 0.693359375
_LN2_LO = -2.12194440e-4
_EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
# Inputs are clamped to [_EXP_MIN, _EXP_MAX + 0.5]: there n = 129 makes the scaled
# result +inf, and n = -150 makes it round to 0, as the true values do.
_EXP_MAX = 88.72283905206835  # log(FLT_MAX)
_EXP_MIN = -103.97207708  # below this even the smallest subnormal rounds to 0

# Cephes tanhf: below 0.625 a polynomial keeps full relative accuracy near 0.
_TANH_POLY = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1)


def _fcmp(k: KernelBuilder, op: str, a, b) -> ir.Value:
    return k.b.fcmp_ordered(op, a, b)


def _integers(like: ir.Type) -> ir.Type:
    return ir.VectorType(I32, like.count) if isinstance(like, ir.VectorType) else I32


def _int_constant(like: ir.Type, value: int) -> ir.Value:
    kind = _integers(like)
    return ir.Constant(kind, [value] * kind.count) if isinstance(kind, ir.VectorType) else ir.Constant(I32, value)


def _power_of_two(k: KernelBuilder, exponent: ir.Value, like: ir.Type) -> ir.Value:
    """2**exponent for an integer exponent in [-126, 127], by building the float's bits."""
    biased = k.b.add(exponent, _int_constant(like, 127))
    return k.b.bitcast(k.b.shl(biased, _int_constant(like, 23)), like)


def _scale(k: KernelBuilder, p: ir.Value, n: ir.Value) -> ir.Value:
    """p * 2**n for n in [-150, 128], overflowing to inf and underflowing to 0 as IEEE does."""
    b, kind = k.b, p.type
    whole = b.fptosi(n, _integers(kind))
    if isinstance(kind, ir.VectorType) and kind.count == 16:
        # AVX-512 has this as one instruction (vscalefps), rounding once.
        ldexp = k._declare("llvm.ldexp.v16f32.v16i32", kind, [kind, whole.type])
        return b.call(ldexp, [p, whole])
    # Elsewhere: two factors built from exponent bits, so neither leaves [-126, 127].
    half = b.ashr(whole, _int_constant(kind, 1))
    result = b.fmul(b.fmul(p, _power_of_two(k, half, kind)), _power_of_two(k, b.sub(whole, half), kind))
    return result


def exp(k: KernelBuilder, x: ir.Value) -> ir.Value:
    b, kind = k.b, x.type

    def c(value):
        return constant(kind, value)

    # minnum/maxnum would drop a NaN: it is restored by the last select.
    clamped = k.intrinsic("llvm.maxnum", k.intrinsic("llvm.minnum", x, c(_EXP_MAX + 0.5)), c(_EXP_MIN))
    n = k.intrinsic("llvm.floor", b.fadd(b.fmul(clamped, c(_LOG2E)), c(0.5)))
    r = b.fsub(b.fsub(clamped, b.fmul(n, c(_LN2_HI))), b.fmul(n, c(_LN2_LO)))
    p = c(_EXP_POLY[0])
    for coefficient in _EXP_POLY[1:]:
        p = b.fadd(b.fmul(p, r), c(coefficient))
    p = b.fadd(b.fadd(b.fmul(b.fmul(p, r), r), r), c(1.0))
    return b.select(b.fcmp_unordered("uno", x, x), x, _scale(k, p, n))


def sigmoid(k: KernelBuilder, x: ir.Value) -> ir.Value:
    one = constant(x.type, 1.0)
    return k.b.fdiv(one, k.b.fadd(one, exp(k, k.b.fneg(x))))


def tanh(k: KernelBuilder, x: ir.Value) -> ir.Value:
    b, kind = k.b, x.type

    def c(value):
        return constant(kind, value)

    magnitude = k.intrinsic("llvm.fabs", x)
    # Large |x|: 1 - 2 / (exp(2|x|) + 1), with the sign of x restored.
    large = b.fsub(c(1.0), b.fdiv(c(2.0), b.fadd(exp(k, b.fmul(magnitude, c(2.0))), c(1.0))))
    large = k.intrinsic("llvm.copysign", large, x)
    z = b.fmul(x, x)
    p = c(_TANH_POLY[0])
    for coefficient in _TANH_POLY[1:]:
        p = b.fadd(b.fmul(p, z), c(coefficient))
    small = b.fadd(b.fmul(b.fmul(p, z), x), x)
    return b.select(_fcmp(k, ">", magnitude, c(0.625)), large, small)


def relu(k: KernelBuilder, x: ir.Value) -> ir.Value:
    # `x < 0` is false for NaN, so NaN passes through as in PyTorch.
    zero = constant(x.type, 0.0)
    return k.b.select(_fcmp(k, "<", x, zero), zero, x)
