"""Scalar exp, tanh and sigmoid that LLVM can vectorise, for use inside kernels.

Numba lowers ``math.exp`` and ``math.tanh`` to scalar libm calls, which block
vectorisation of the loops that call them.  For float32 these helpers use a
range reduction and a polynomial written in plain arithmetic instead
(relative error about 2 ulp); for float64 they fall back to libm so that
float64 gradient checks keep full precision.
"""
import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

_F = np.float32
_LOG2E = _F(1.4426950408889634)
_LN2_HI = _F(0.693359375)
_LN2_LO = _F(-2.12194440e-4)
_EXP_MIN = _F(-87.0)
_BIAS = _F(127.0)
_MANTISSA = _F(8388608.0)  # 2**23
# Taylor coefficients 1/k! of exp on |r| <= ln(2)/2
_E2, _E3, _E4, _E5, _E6, _E7 = (_F(1 / math.factorial(k)) for k in range(2, 8))
# Taylor coefficients of tanh(x)/x in x**2, used on |x| < 0.25
_T1, _T2, _T3, _T4, _T5 = _F(-1 / 3), _F(2 / 15), _F(-17 / 315), _F(62 / 2835), _F(-1382 / 155925)
_TANH_SMALL = _F(0.25)
_ONE = _F(1.0)
_TWO = _F(2.0)


@intrinsic
def _int32_bits_as_float32(typingctx, i):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


def exp_nonpos(x):
    """exp(x) for x <= 0 (arguments below -87 give exp(-87) in float32)."""
    return math.exp(x)


def tanh(x):
    """tanh(x)."""
    return math.tanh(x)


def sigmoid(x):
    """1 / (1 + exp(-x)), without overflow for any x."""
    e = math.exp(-math.fabs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


@overload(exp_nonpos, inline="always")
def _exp_nonpos(x):
    if x != types.float32:
        return lambda x: math.exp(x)

    def impl(x):
        x = max(x, _EXP_MIN)
        n = np.floor(x * _LOG2E + _F(0.5))
        r = x - n * _LN2_HI - n * _LN2_LO
        p = _ONE + r * (_ONE + r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * _E7))))))
        return p * _int32_bits_as_float32(np.int32((n + _BIAS) * _MANTISSA))

    return impl


@overload(tanh, inline="always")
def _tanh(x):
    if x != types.float32:
        return lambda x: math.tanh(x)

    def impl(x):
        ax = math.fabs(x)
        e = exp_nonpos(-_TWO * ax)
        big = (_ONE - e) / (_ONE + e)
        xs = min(ax, _TANH_SMALL)  # the branch not taken stays finite (an infinite one would give NaN)
        x2 = xs * xs
        small = xs * (_ONE + x2 * (_T1 + x2 * (_T2 + x2 * (_T3 + x2 * (_T4 + x2 * _T5)))))
        use_small = _F(ax < _TANH_SMALL)  # arithmetic select: a conditional expression
        y = big + use_small * (small - big)  # in an inlined overload upsets Numba's IR checks
        return math.copysign(y, x)

    return impl


@overload(sigmoid, inline="always")
def _sigmoid(x):
    real = np.float32 if x == types.float32 else np.float64

    def impl(x):
        e = exp_nonpos(-math.fabs(x))
        nonneg = real(x >= 0)
        return (e + nonneg * (real(1) - e)) / (real(1) + e)

    return impl
