# The long tail's arithmetic kernels (issue 12), pure Python: TFLM's int8 ADD_N and CUMSUM. The viper
# backend's are kernels_viper_tail.py, the native module's firmware/kernels/tinyml_tail.h.
#
# Both are TFLM's reference arithmetic: every input code's (x - x_zp) << 19 (ADD's left shift 20 and
# its input multiplier of 0.5, exact), summed in an int32 that wraps as TFLM's does, the sum starting
# at (-x_zp) << 19 (TFLM's accumulator starts at the input offset, not 0), then the output multiplier
# (MultiplyByQuantizedMultiplierSmallerThanOneExp), the output zero point and the int8 clamp.
from tinyml.ops import const
from tinyml.fixedpoint import requantize

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_ADDN_X_ZP = const(0)
_ADDN_Y_MULTIPLIER = const(1)
_ADDN_Y_SHIFT = const(2)
_ADDN_Y_ZP = const(3)
_CUMSUM_OUTER = const(0)
_CUMSUM_N = const(1)
_CUMSUM_INNER = const(2)
_CUMSUM_EXCLUSIVE = const(3)
_CUMSUM_REVERSE = const(4)
_CUMSUM_X_ZP = const(5)
_CUMSUM_Y_MULTIPLIER = const(6)
_CUMSUM_Y_SHIFT = const(7)
_CUMSUM_Y_ZP = const(8)
# ---- end of g's slots ----


def _wrap(v):
    return ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def _out(acc, m, s, zp):
    v = requantize(acc, m, s) + zp
    return (-128 if v < -128 else 127 if v > 127 else v) & 0xFF


def add_n(xs, y, g):
    # y = the sum of the inputs xs (a tuple of int8 buffers of y's length)
    zp = g[_ADDN_X_ZP]
    m, s, y_zp = g[_ADDN_Y_MULTIPLIER], g[_ADDN_Y_SHIFT], g[_ADDN_Y_ZP]
    base = -zp << 19
    for i in range(len(y)):
        acc = base
        for x in xs:
            v = x[i]
            acc = _wrap(acc + (((v - 256 if v > 127 else v) - zp) << 19))
        y[i] = _out(acc, m, s, y_zp)


def cumsum(x, y, g):
    # y = the running sums of x along its axis: (outer, n, inner) elements, exclusive (the sum before
    # the element) or not, from the end when reverse
    outer, n, inner = g[_CUMSUM_OUTER], g[_CUMSUM_N], g[_CUMSUM_INNER]
    exclusive, reverse, zp = g[_CUMSUM_EXCLUSIVE], g[_CUMSUM_REVERSE], g[_CUMSUM_X_ZP]
    m, s, y_zp = g[_CUMSUM_Y_MULTIPLIER], g[_CUMSUM_Y_SHIFT], g[_CUMSUM_Y_ZP]
    base = -zp << 19
    for o in range(outer):
        for k in range(inner):
            acc = base
            for j in range(n):
                at = (o * n + (n - 1 - j if reverse else j)) * inner + k
                if exclusive:
                    y[at] = _out(acc, m, s, y_zp)
                v = x[at]
                acc = _wrap(acc + (((v - 256 if v > 127 else v) - zp) << 19))
                if not exclusive:
                    y[at] = _out(acc, m, s, y_zp)
