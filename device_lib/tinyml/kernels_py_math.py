# Pure-Python kernels of TFLM's math ops (issue 12): reductions over any axes, L2 normalization. The
# same functions and bytes out as the viper kernels (kernels_viper_math) and the native module;
# kernels_py re-exports them (and viper l2_normalization: a square root per row).
from array import array
from tinyml.ops import const
from tinyml.fixedpoint import requantize, inv_sqrt

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_REDUCE_D0 = const(0)
_REDUCE_R0 = const(4)
_REDUCE_STRIDE0 = const(8)
_REDUCE_X_ZP = const(12)
_REDUCE_Y_ZP = const(13)
_REDUCE_MULTIPLIER = const(14)
_REDUCE_SHIFT = const(15)
# ---- end of g's slots ----


def _reduce(x, y, g, kind):
    # TFLM's ReduceGeneric (kind 1 max, 2 min: the int8 codes themselves, one quantization),
    # QuantizedMeanOrSum (kind 0: the int32 sum less x_zp per value, requantized; a mean has 1/count
    # folded into the multiplier by the host) and ArgMinMax (kind 3 argmax, 4 argmin over one axis:
    # the int32 index of the first extreme) over the reduced indices of each output index
    D0, D1, D2, D3 = g[_REDUCE_D0:_REDUCE_D0 + 4]
    R0, R1, R2, R3 = g[_REDUCE_R0:_REDUCE_R0 + 4]
    S0, S1, S2, S3 = g[_REDUCE_STRIDE0:_REDUCE_STRIDE0 + 4]
    xs = array("b", bytes(x))
    offs = [a * S0 + b * S1 + c * S2 + d * S3 for a in range(R0) for b in range(R1) for c in range(R2)
            for d in range(R3)]
    ys = array("i" if kind > 2 else "b", bytes((4 if kind > 2 else 1) * D0 * D1 * D2 * D3))
    o = 0
    for i0 in range(D0):
        for i1 in range(D1):
            for i2 in range(D2):
                for i3 in range(D3):
                    base = i0 * S0 + i1 * S1 + i2 * S2 + i3 * S3
                    vals = [xs[base + r] for r in offs]
                    if kind > 2:
                        best = max(vals) if kind == 3 else min(vals)
                        ys[o] = vals.index(best)
                    elif kind == 1:
                        ys[o] = max(vals)
                    elif kind == 2:
                        ys[o] = min(vals)
                    else:
                        acc = sum(vals) - g[_REDUCE_X_ZP] * len(offs)
                        v = requantize(acc, g[_REDUCE_MULTIPLIER], g[_REDUCE_SHIFT]) + g[_REDUCE_Y_ZP]
                        ys[o] = -128 if v < -128 else 127 if v > 127 else v
                    o += 1
    y[:] = bytes(ys)


def reduce_sum(x, y, g):
    _reduce(x, y, g, 0)


def reduce_max(x, y, g):
    _reduce(x, y, g, 1)


def reduce_min(x, y, g):
    _reduce(x, y, g, 2)


def reduce_argmax(x, y, g):
    _reduce(x, y, g, 3)


def reduce_argmin(x, y, g):
    _reduce(x, y, g, 4)


def l2_normalization(x, y, depth, x_zp):
    # TFLM reference_integer_ops::L2Normalization: each row of depth values times the inverse square
    # root of its sum of squares (GetInvSqrtQuantizedMultiplierExp), out in 1/128 (TFLM's output scale)
    xs = array("b", bytes(x))
    ys = array("b", bytes(len(y)))
    for r in range(0, len(xs), depth):
        row = [v - x_zp for v in xs[r:r + depth]]
        m, s = inv_sqrt(sum(v * v for v in row))
        for c in range(depth):
            v = requantize(row[c], m, s + 7)
            ys[r + c] = -128 if v < -128 else 127 if v > 127 else v
    y[:] = bytes(ys)
