# Pure-Python kernels of TFLM's math ops (issue 12): reductions over any axes, L2 normalization. The
# same functions and bytes out as the viper kernels (kernels_viper_math) and the native module;
# kernels_py re-exports them (and viper l2_normalization: a square root per row).
from array import array
from tinyml.ops import const
from tinyml.fixedpoint import (INT32_MAX, INT32_MIN, _clz32, _sat_shl, _wrap32, exp_on_negative_values, inv_sqrt,
                               rdivpot, requantize, srdhm)

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_SELECT_D0 = const(0)
_SELECT_C_STRIDE0 = const(4)
_SELECT_A_STRIDE0 = const(8)
_SELECT_B_STRIDE0 = const(12)
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


def _pot(x, e):
    # gemmlowp SaturatingRoundingMultiplyByPOTParam
    if e > 0:
        return _sat_shl(x, e)
    return rdivpot(x, -e) if e < 0 else x


def _sat32(v):
    return INT32_MIN if v < INT32_MIN else INT32_MAX if v > INT32_MAX else v


def _log_q5(sum_q12):
    # TFLM's log_x_for_x_greater_than_or_equal_to_1<5> of a Q12.19 value: the log, Q5.26 raw
    quarter6 = 1 << 23  # one quarter in Q6.25
    hr = _clz32(sum_q12 & 0xFFFFFFFF)
    r_a = _pot(srdhm(_pot(sum_q12, hr - 1), 1518500250), 1)
    a_adj = _sat32(_pot(12 - hr, 25) + quarter6)
    z_b = srdhm(sum_q12, 1518500250)
    hb = _clz32(z_b & 0xFFFFFFFF) - 1
    r_b = _pot(sum_q12, hb)
    b_adj = _sat32(_pot(12 - hb, 25) - quarter6)
    r = min(r_a, r_b)
    z_adj = max(a_adj, b_adj)
    p = _wrap32(_half_sum(r, 1805811301))
    q = _wrap32(2 * _wrap32(r - 1805811301))
    sq = srdhm(q, q)
    num = _wrap32(srdhm(q, r) + srdhm(srdhm(q, sq), 117049297))
    den = _wrap32(srdhm(p, _wrap32(1057819769 + q + srdhm(127690142, sq))) + srdhm(638450708, q))
    recip = _one_over_one_plus(den)
    return _sat_shl(_wrap32(srdhm(z_adj, 1488522236) + srdhm(rdivpot(num, 6), recip)), 1)


def _half_sum(a, b):
    # gemmlowp RoundingHalfSum in 64 bits, C division
    s = a + b + (1 if a + b >= 0 else -1)
    return s // 2 if s >= 0 else -(-s // 2)


def _one_over_one_plus(a):
    # gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out): Newton-Raphson in Q2.29
    half_den = _half_sum(a, INT32_MAX)
    x = 1515870810 + srdhm(half_den, -1010580540)
    for _ in range(3):
        x = x + _sat_shl(srdhm(x, (1 << 29) - srdhm(half_den, x)), 2)
    return _sat_shl(x, 1)


def log_softmax(x, y, n, in_mult, in_left_shift, rev_mult, rev_shift, diff_min):
    # TFLM reference_ops::LogSoftmaxQuantized for int8 (output scale 16/256, zero point 127): rows of n
    xs = array("b", bytes(x))
    ys = array("b", bytes(len(y)))
    for r in range(0, len(xs), n):
        row = xs[r:r + n]
        top = max(row)
        total = 0
        for v in row:
            if v - top >= diff_min:
                total = _wrap32(total + rdivpot(exp_on_negative_values(requantize(v - top, in_mult, in_left_shift)), 12))
        log_sum = _log_q5(total)
        adjusted = max(diff_min - 1, requantize(_wrap32(log_sum + INT32_MIN), rev_mult, rev_shift))
        for c in range(n):
            d = row[c] - top
            if d > adjusted:
                v = rdivpot(_wrap32(requantize(d, in_mult, in_left_shift) - log_sum), 22) + 127
                ys[r + c] = -128 if v < -128 else 127 if v > 127 else v
            else:
                ys[r + c] = -128
    y[:] = bytes(ys)


def select(c, a, b, y, g):
    # TFLM's Select / BroadcastSelect5DSlow for int8: a's byte where the condition's is nonzero, else b's
    # (no requantization); each input read at its strides over the output's 4 dimensions
    D0, D1, D2, D3 = g[_SELECT_D0:_SELECT_D0 + 4]
    s = [g[_SELECT_C_STRIDE0:_SELECT_C_STRIDE0 + 4], g[_SELECT_A_STRIDE0:_SELECT_A_STRIDE0 + 4],
         g[_SELECT_B_STRIDE0:_SELECT_B_STRIDE0 + 4]]
    cv, av, bv = bytes(c), bytes(a), bytes(b)
    out = bytearray(D0 * D1 * D2 * D3)
    o = 0
    for i0 in range(D0):
        for i1 in range(D1):
            for i2 in range(D2):
                for i3 in range(D3):
                    ci, ai, bi = (i0 * t[0] + i1 * t[1] + i2 * t[2] + i3 * t[3] for t in s)
                    out[o] = av[ai] if cv[ci] else bv[bi]
                    o += 1
    y[:] = out
