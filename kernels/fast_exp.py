"""exp(a) for a <= 0, written so that a loop calling it vectorises: sigmoid's exp(-|x|).

Numba calls the C library's scalar ``exp`` for ``np.exp`` inside a loop, one element at a time (a vector
``exp`` needs Intel's SVML, which current Numba builds do not use). That made sigmoid 20x slower than
PyTorch. For float32 this file computes exp the way vector math libraries do, with only arithmetic that
maps onto vector instructions:

    a = n ln2 + r,  n = round(a / ln2),  |r| <= ln2 / 2    (ln2 split in two parts, so r is exact)
    exp(a) = 2^n exp(r),  exp(r) ~ 1 + r + r^2 (1/2 + r/6 + ...)   (Cephes' expf polynomial, ~1 ulp)
    2^n is built from bits: the float32 with exponent field n + 127 and a zero mantissa.

For a below ln(2^-126) = -87.34 the result would be subnormal; it is flushed to 0 (its true value is
below 1.2e-38). NaN passes through. float64 keeps the C library's ``exp``: it is checked to 1e-10 against
PyTorch, and is not on RCAN's hot path.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

LOG2E = np.float32(1.4426950408889634)
LN2_HI = np.float32(0.693359375)  # ln2 = LN2_HI + LN2_LO; LN2_HI has few mantissa bits, so n * LN2_HI is exact
LN2_LO = np.float32(-2.12194440e-4)
SMALLEST = np.float32(-87.33654)  # ln(2^-126), the log of float32's smallest normal number


@intrinsic
def _bits_as_float32(typingctx, bits):
    """Reinterpret an int32's 32 bits as a float32 (no conversion: the same bits, read as a float)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(inline="always", fastmath={"contract"}, error_model="numpy")
def _exp_nonpositive_f32(a):
    clamped = a if a > SMALLEST else SMALLEST
    n = np.floor(clamped * LOG2E + np.float32(0.5))
    r = clamped - n * LN2_HI - n * LN2_LO
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    e = (p * r * r + r + np.float32(1)) * _bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))
    e = e if a >= SMALLEST else np.float32(0)
    return e if a == a else a  # NaN in, NaN out


def exp_nonpositive(a):
    """exp(a) for a <= 0 (from Python: NumPy's exp; in a Numba kernel: the vectorising float32 version)."""
    return np.exp(a)


@overload(exp_nonpositive, inline="always")
def _exp_nonpositive_overload(a):
    if a == types.float32:
        return lambda a: _exp_nonpositive_f32(a)
    return lambda a: np.exp(a)
