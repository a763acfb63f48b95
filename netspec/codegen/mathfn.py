"""Activation functions as straight-line float code, so loops over them vectorize.

exp uses Cody-Waite range reduction and Cephes' degree-6 polynomial for expf
(max error about 1 ulp on [-87, 88]); results beyond float range saturate to
0 or +inf and NaN propagates, as in libm.
"""
from __future__ import annotations

from llvmlite import ir

from .kernel import F32, I32, Kernel, real

_LOG2E = 1.44269504088896341
_LN2_HI = 0.693359375
_LN2_LO = -2.12194440e-4
_EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
_EXP_MAX = 88.72283905206835  # log(FLT_MAX): above this, +inf
_EXP_MIN = -103.97207708  # below this even the smallest subnormal rounds to 0

# Cephes tanhf: below 0.625 a polynomial keeps full relative accuracy near 0.
_TANH_POLY = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1)


def _fcmp(k: Kernel, op: str, a, b) -> ir.Value:
    return k.b.fcmp_ordered(op, real(a), real(b))


def _power_of_two(k: Kernel, exponent: ir.Value) -> ir.Value:
    """2**exponent for an integer exponent in [-126, 127], by building the float's bits."""
    biased = k.b.add(exponent, ir.Constant(I32, 127))
    return k.b.bitcast(k.b.shl(biased, ir.Constant(I32, 23)), F32)


def exp(k: Kernel, x: ir.Value) -> ir.Value:
    b = k.b
    clamped = b.select(_fcmp(k, ">", x, _EXP_MAX), real(_EXP_MAX), x)
    clamped = b.select(_fcmp(k, "<", clamped, _EXP_MIN), real(_EXP_MIN), clamped)
    n = k.intrinsic("llvm.floor", k.fadd(k.fmul(clamped, _LOG2E), 0.5))
    r = b.fsub(b.fsub(clamped, b.fmul(n, real(_LN2_HI))), b.fmul(n, real(_LN2_LO)))
    p = real(_EXP_POLY[0])
    for c in _EXP_POLY[1:]:
        p = b.fadd(b.fmul(p, r), real(c))
    p = b.fadd(b.fadd(b.fmul(b.fmul(p, r), r), r), real(1.0))
    # 2**n in two factors so that n in [-150, 128] never leaves the exponent range.
    whole = b.fptosi(n, I32)
    half = b.ashr(whole, ir.Constant(I32, 1))
    result = b.fmul(b.fmul(p, _power_of_two(k, half)), _power_of_two(k, b.sub(whole, half)))
    result = b.select(_fcmp(k, ">", x, _EXP_MAX), real(float("inf")), result)
    result = b.select(_fcmp(k, "<", x, _EXP_MIN), real(0.0), result)
    return b.select(b.fcmp_unordered("uno", x, x), x, result)


def sigmoid(k: Kernel, x: ir.Value) -> ir.Value:
    return k.b.fdiv(real(1.0), k.b.fadd(real(1.0), exp(k, k.b.fneg(x))))


def tanh(k: Kernel, x: ir.Value) -> ir.Value:
    b = k.b
    magnitude = k.intrinsic("llvm.fabs", x)
    # Large |x|: 1 - 2 / (exp(2|x|) + 1), with the sign of x restored.
    large = b.fsub(real(1.0), b.fdiv(real(2.0), b.fadd(exp(k, b.fmul(magnitude, real(2.0))), real(1.0))))
    large = k.intrinsic("llvm.copysign", large, x)
    z = b.fmul(x, x)
    p = real(_TANH_POLY[0])
    for c in _TANH_POLY[1:]:
        p = b.fadd(b.fmul(p, z), real(c))
    small = b.fadd(b.fmul(b.fmul(p, z), x), x)
    return b.select(_fcmp(k, ">", magnitude, 0.625), large, small)


def relu(k: Kernel, x: ir.Value) -> ir.Value:
    # `x < 0` is false for NaN, so NaN passes through as in PyTorch.
    return k.b.select(_fcmp(k, "<", x, 0.0), real(0.0), x)


ELEMENTWISE = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh}


def apply(k: Kernel, activation: str | None, x: ir.Value) -> ir.Value:
    return ELEMENTWISE[activation](k, x) if activation else x
