// tinyml's kernels of TFLM's math ops (issue 12): reductions over any axes, L2 normalization, log softmax. Plain C99, bit-exact with
// TFLite Micro's reference kernels and device_lib/tinyml/kernels_py_math.py (docs/model-format.md).
#ifndef TINYML_MATH_H
#define TINYML_MATH_H

#include "tinyml_fixedpoint.h"

// The g of reduce_sum, reduce_max, reduce_min (docs/kernels.md), by name: the input is read at
// (i + r) . stride for each output index i of D and each reduced index r of R (4-D, right-aligned).
typedef struct {
    int D[4], R[4], stride[4];
    int32_t x_zp, y_zp, mult, shift; // reduce_sum only
} tml_reduce_t;

enum { TML_REDUCE_SUM, TML_REDUCE_MAX, TML_REDUCE_MIN, TML_REDUCE_ARGMAX, TML_REDUCE_ARGMIN };

// TFLM's QuantizedMeanOrSum for int8 (TML_REDUCE_SUM: the int32 sum less x_zp per value, requantized;
// a mean has 1/count folded into mult, shift by the host) and ReduceGeneric with the maximum or the
// minimum (the codes themselves: input and output share one quantization), and ArgMinMax over one
// axis (TML_REDUCE_ARGMAX, _ARGMIN: the int32 index of the first extreme, into y as int32). Caller's
// contract: at most 2**23 values reduced into one, so the sum and x_zp times the count fit int32.
static inline void tml_reduce(const int8_t *x, void *out, const tml_reduce_t *g, int kind) {
    int8_t *y = out;
    int32_t *yi = out;
    const int *D = g->D, *R = g->R, *s = g->stride;
    int32_t zp_n = g->x_zp * (R[0] * R[1] * R[2] * R[3]);
    for (int i0 = 0; i0 < D[0]; i0++) {
        for (int i1 = 0; i1 < D[1]; i1++) {
            for (int i2 = 0; i2 < D[2]; i2++) {
                for (int i3 = 0; i3 < D[3]; i3++) {
                    const int8_t *b = x + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
                    int32_t a = kind == TML_REDUCE_SUM ? 0 : kind == TML_REDUCE_MAX || kind == TML_REDUCE_ARGMAX ? -128 : 127;
                    int32_t n = 0, best = 0;
                    for (int r0 = 0; r0 < R[0]; r0++) {
                        for (int r1 = 0; r1 < R[1]; r1++) {
                            for (int r2 = 0; r2 < R[2]; r2++) {
                                const int8_t *p = b + r0 * s[0] + r1 * s[1] + r2 * s[2];
                                for (int r3 = 0; r3 < R[3]; r3++, p += s[3]) {
                                    int32_t v = *p;
                                    if (kind == TML_REDUCE_SUM) {
                                        a += v;
                                    } else if ((kind == TML_REDUCE_MAX || kind == TML_REDUCE_ARGMAX ? v > a : v < a) || !n) {
                                        a = v, best = n;
                                    }
                                    n++;
                                }
                            }
                        }
                    }
                    if (kind == TML_REDUCE_SUM) { // TFLM's int32 difference: wraps as its does
                        a = (int32_t)((uint32_t)a - (uint32_t)zp_n);
                        a = tml_out8(tml_requantize(a, g->mult, g->shift), g->y_zp, -128, 127);
                    }
                    if (kind >= TML_REDUCE_ARGMAX) {
                        *yi++ = best;
                    } else {
                        *y++ = (int8_t)a;
                    }
                }
            }
        }
    }
}

// GetInvSqrtQuantizedMultiplierExp(x, kReverseShift = -1), x >= 0: 1 / sqrt(x) as a multiplier and a
// shift for tml_requantize; gemmlowp's Newton-Raphson in Q3.28 (device_lib/tinyml/fixedpoint.py)
static inline void tml_inv_sqrt(int32_t x, int32_t *mult, int32_t *shift) {
    if (x <= 1) {
        *mult = TML_INT32_MAX, *shift = 0;
        return;
    }
    int32_t s = 11;
    while (x >= (1 << 29)) {
        x /= 4;
        s++;
    }
    int pairs = (tml_clz32((uint32_t)x) - 1) / 2 - 1;
    s -= pairs;
    x <<= 2 * pairs;
    int32_t half = tml_rdivpot(x >> 1, 1), r = 1 << 28;
    for (int i = 0; i < 5; i++) {
        int32_t x3 = tml_sat_shl(tml_srdhm(tml_srdhm(r, r), r), 6);
        r = tml_sat_shl(tml_srdhm(402653184, r) - tml_srdhm(half, x3), 3); // 1.5 r - x / 2 r**3
    }
    r = tml_srdhm(r, 1518500250); // * sqrt(2) / 2
    if (s < 0) {
        r = (int32_t)((uint32_t)r << -s);
        s = 0;
    }
    *mult = r, *shift = -s;
}

// TFLM reference_integer_ops::L2Normalization: each row of depth values times the inverse square root
// of its sum of squares, out in 1/128. Caller's contract: depth <= 33025 (the sum fits int32).
static inline void tml_l2_normalization(const int8_t *x, int8_t *y, int rows, int depth, int32_t x_zp) {
    for (int r = 0; r < rows; r++, x += depth, y += depth) {
        int32_t acc = 0, mult, shift;
        for (int c = 0; c < depth; c++) {
            acc += (x[c] - x_zp) * (x[c] - x_zp);
        }
        tml_inv_sqrt(acc, &mult, &shift);
        for (int c = 0; c < depth; c++) {
            y[c] = tml_out8(tml_requantize(x[c] - x_zp, mult, shift + 7), 0, -128, 127);
        }
    }
}

// ---- log softmax: gemmlowp fixed point (device_lib/tinyml/kernels_py_math.py) ----

// SaturatingRoundingMultiplyByPOTParam, -31 < e < 31
static inline int32_t tml_pot(int32_t x, int e) {
    return e > 0 ? tml_sat_shl(x, e) : e < 0 ? tml_rdivpot(x, -e) : x;
}

static inline int32_t tml_sat32(int64_t v) {
    return v < TML_INT32_MIN ? TML_INT32_MIN : v > TML_INT32_MAX ? TML_INT32_MAX : (int32_t)v;
}

static inline int32_t tml_wadd(int32_t a, int32_t b) { // int32 addition that wraps
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

// RoundingHalfSum: (a + b + sign) / 2 in 64 bits, C division (a shift and a fix-up, no libgcc call)
static inline int32_t tml_half_sum(int32_t a, int32_t b) {
    int64_t s = (int64_t)a + b;
    s += s >= 0 ? 1 : -1;
    return (int32_t)(s >= 0 ? s >> 1 : -((-s) >> 1));
}

// one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out: Newton-Raphson in Q2.29
static inline int32_t tml_one_over_one_plus(int32_t a) {
    int32_t half_den = tml_half_sum(a, TML_INT32_MAX);
    int32_t x = 1515870810 + tml_srdhm(half_den, -1010580540);
    for (int i = 0; i < 3; i++) {
        x = x + tml_sat_shl(tml_srdhm(x, (1 << 29) - tml_srdhm(half_den, x)), 2);
    }
    return tml_sat_shl(x, 1);
}

// log_x_for_x_greater_than_or_equal_to_1<5> of a Q12.19 value >= 1: the log in Q5.26
static inline int32_t tml_log_q5(int32_t s) {
    const int32_t quarter6 = 1 << 23, sqrt_half = 1518500250, sqrt_sqrt_half = 1805811301;
    int hr = tml_clz32((uint32_t)s);
    int32_t r_a = tml_pot(tml_srdhm(tml_pot(s, hr - 1), sqrt_half), 1);
    int32_t a_adj = tml_sat32((int64_t)tml_pot(12 - hr, 25) + quarter6);
    int hb = tml_clz32((uint32_t)tml_srdhm(s, sqrt_half)) - 1;
    int32_t r_b = tml_pot(s, hb);
    int32_t b_adj = tml_sat32((int64_t)tml_pot(12 - hb, 25) - quarter6);
    int32_t r = r_a < r_b ? r_a : r_b, z_adj = a_adj > b_adj ? a_adj : b_adj;
    int32_t p = tml_half_sum(r, sqrt_sqrt_half);
    int32_t q = tml_wadd(r, -sqrt_sqrt_half);
    q = tml_wadd(q, q);
    int32_t sq = tml_srdhm(q, q);
    int32_t num = tml_wadd(tml_srdhm(q, r), tml_srdhm(tml_srdhm(q, sq), 117049297));
    int32_t den = tml_wadd(tml_srdhm(p, tml_wadd(tml_wadd(1057819769, q), tml_srdhm(127690142, sq))),
        tml_srdhm(638450708, q));
    int32_t recip = tml_one_over_one_plus(den);
    return tml_sat_shl(tml_wadd(tml_srdhm(z_adj, 1488522236), tml_srdhm(tml_rdivpot(num, 6), recip)), 1);
}

// TFLM reference_ops::LogSoftmaxQuantized for int8 (output scale 16/256, zero point 127), rows of n.
// Caller's contract: n <= 4096 (the sum of exps in Q12.19).
static inline void tml_log_softmax(const int8_t *x, int8_t *y, int rows, int n, int32_t in_mult, int32_t in_ls,
    int32_t rev_mult, int32_t rev_shift, int32_t diff_min) {
    for (int r = 0; r < rows; r++, x += n, y += n) {
        int32_t top = -128, total = 0;
        for (int c = 0; c < n; c++) {
            top = x[c] > top ? x[c] : top;
        }
        for (int c = 0; c < n; c++) {
            if (x[c] - top >= diff_min) {
                int32_t e = tml_exp_on_negative_values(tml_requantize(x[c] - top, in_mult, in_ls));
                total = tml_wadd(total, tml_rdivpot(e, 12));
            }
        }
        int32_t log_sum = tml_log_q5(total);
        int32_t adjusted = tml_requantize(tml_wadd(log_sum, TML_INT32_MIN), rev_mult, rev_shift);
        adjusted = adjusted > diff_min - 1 ? adjusted : diff_min - 1;
        for (int c = 0; c < n; c++) {
            int32_t d = x[c] - top;
            y[c] = d > adjusted
                ? tml_out8(tml_rdivpot(tml_wadd(tml_requantize(d, in_mult, in_ls), -log_sum), 22), 127, -128, 127)
                : -128;
        }
    }
}

// ---- select ----

// TFLM's Select / BroadcastSelect5DSlow for int8: a's byte where the condition's is nonzero, else b's (no
// requantization); the output is (D0..D3), each input read at its element strides (0 broadcasts)
static inline void tml_select(const uint8_t *c, const int8_t *a, const int8_t *b, int8_t *y, const int32_t *D,
    const int32_t *cs, const int32_t *as, const int32_t *bs) {
    for (int i0 = 0; i0 < D[0]; i0++) {
        for (int i1 = 0; i1 < D[1]; i1++) {
            for (int i2 = 0; i2 < D[2]; i2++) {
                int ci = i0 * cs[0] + i1 * cs[1] + i2 * cs[2], ai = i0 * as[0] + i1 * as[1] + i2 * as[2];
                int bi = i0 * bs[0] + i1 * bs[1] + i2 * bs[2];
                for (int i3 = 0; i3 < D[3]; i3++, ci += cs[3], ai += as[3], bi += bs[3]) {
                    *y++ = c[ci] ? a[ai] : b[bi];
                }
            }
        }
    }
}

#endif // TINYML_MATH_H
