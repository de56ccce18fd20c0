// tinyml int8 kernels: plain C99, no MicroPython dependency, bit-exact with TFLite Micro's reference
// kernels and with device_lib/tinyml/kernels_py.py (see docs/model-format.md for the semantics).
// Header-only: include it from one .c file (the MicroPython binding, or your own C program).
#ifndef TINYML_KERNELS_H
#define TINYML_KERNELS_H

#include <stdint.h>

#define TML_INT32_MIN (-2147483647 - 1)
#define TML_INT32_MAX 2147483647

// ---- gemmlowp / TFLM fixed point ----

// SaturatingRoundingDoublingHighMul
static inline int32_t tml_srdhm(int32_t a, int32_t b) {
    if (a == TML_INT32_MIN && b == TML_INT32_MIN) {
        return TML_INT32_MAX;
    }
    int64_t ab = (int64_t)a * b;
    int64_t nudge = ab >= 0 ? (1 << 30) : 1 - (1 << 30);
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); // C division truncates toward zero, as TFLM's
}

// RoundingDivideByPOT, 0 <= e <= 31 (e >= 32 rounds every x but INT32_MIN to 0: callers handle it)
static inline int32_t tml_rdivpot(int32_t x, int e) {
    int32_t mask = (int32_t)(((uint32_t)1 << e) - 1);
    int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + ((x & mask) > threshold); // >> of a negative int is arithmetic on every gcc target
}

// MultiplyByQuantizedMultiplier: shift > 0 is a left shift (wrapping, as TFLM's int32 acc << shift)
static inline int32_t tml_requantize(int32_t acc, int32_t mult, int32_t shift) {
    if (shift > 31 || shift < -31) {
        return 0; // acc << 32.. wraps to 0; a result of srdhm (never INT32_MIN) >> 32.. rounds to 0
    }
    if (shift > 0) {
        return tml_srdhm((int32_t)((uint32_t)acc << shift), mult);
    }
    return tml_rdivpot(tml_srdhm(acc, mult), -shift);
}

// SaturatingRoundingMultiplyByPOT, 0 < e < 31
static inline int32_t tml_sat_shl(int32_t x, int e) {
    int32_t threshold = (int32_t)(((uint32_t)1 << (31 - e)) - 1);
    return x > threshold ? TML_INT32_MAX : x < -threshold ? TML_INT32_MIN : (int32_t)((uint32_t)x << e);
}

// exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.31 in and out
static inline int32_t tml_exp_quarter(int32_t a) {
    int32_t x = a + (1 << 28);
    int32_t x2 = tml_srdhm(x, x);
    int32_t x3 = tml_srdhm(x2, x);
    int32_t x4_over_4 = tml_rdivpot(tml_srdhm(x2, x2), 2);
    int32_t poly = tml_rdivpot(tml_srdhm(x4_over_4 + x3, 715827883) + x2, 1);
    return 1895147668 + tml_srdhm(1895147668, x + poly);
}

// exp_on_negative_values: Q5.26 in (a <= 0), Q0.31 out
static inline int32_t tml_exp_on_negative_values(int32_t a) {
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    int32_t a_mod = (a & ((1 << 24) - 1)) - (1 << 24);
    int32_t result = tml_exp_quarter(tml_sat_shl(a_mod, 5));
    int32_t remainder = a_mod - a;
    for (int bit = 24; bit <= 30; bit++) {
        if (remainder & (1 << bit)) {
            result = tml_srdhm(result, barrel[bit - 24]);
        }
    }
    return a == 0 ? TML_INT32_MAX : result;
}

// leading zeros of x > 0 (no __builtin_clz: on Cortex-M0 that is a libgcc call)
static inline int tml_clz32(uint32_t x) {
    int n = 0;
    while (!(x & (0x80000000u >> n))) {
        n++;
    }
    return n;
}

// GetReciprocal of x > 0 with x_integer_digits integer bits: Q0.31 scale, *bits_over_unit
static inline int32_t tml_reciprocal(uint32_t x, int x_integer_digits, int *bits_over_unit) {
    int headroom = tml_clz32(x);
    int32_t a = (int32_t)((x << headroom) - 0x80000000u);
    // one_over_one_plus_x_for_x_in_0_1: Newton-Raphson in Q2.29; RoundingHalfSum(a, one) in 64 bits
    int64_t s = (int64_t)a + TML_INT32_MAX;
    int32_t half_den = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
    int32_t x2 = 1515870810 + tml_srdhm(half_den, -1010580540);
    for (int i = 0; i < 3; i++) {
        int32_t one_minus = (1 << 29) - tml_srdhm(half_den, x2);
        x2 = x2 + tml_sat_shl(tml_srdhm(x2, one_minus), 2);
    }
    *bits_over_unit = x_integer_digits - headroom;
    return tml_sat_shl(x2, 1);
}

// ---- kernels ----

// Plain int8 dot product, 4-way unrolled; int32 partial sums are exact for n < 2**17.
static inline int32_t tml_dot_s8(const int8_t *x, const int8_t *w, int n) {
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += x[i] * w[i];
        a1 += x[i + 1] * w[i + 1];
        a2 += x[i + 2] * w[i + 2];
        a3 += x[i + 3] * w[i + 3];
    }
    for (; i < n; i++) {
        a0 += x[i] * w[i];
    }
    return a0 + a1 + a2 + a3;
}

// y[b, o] = clamp(requantize(bias[o] + x[b, :] . w[o, :]) + out_zp, act_min, act_max)
// mult/shift hold n_out values when per_channel, else 1. The input zero point is folded into bias.
static inline void tml_fully_connected(const int8_t *x, const int8_t *w, const int32_t *bias,
    const int32_t *mult, const int32_t *shift, int per_channel, int8_t *y,
    int batches, int n_in, int n_out, int32_t out_zp, int32_t act_min, int32_t act_max) {
    for (int b = 0; b < batches; b++, x += n_in) {
        const int8_t *wo = w;
        for (int o = 0; o < n_out; o++, wo += n_in) {
            // int32 accumulator wraps like TFLM's (only a bias within n_in * 2**14 of INT32_MIN/MAX can)
            int32_t acc = (int32_t)((uint32_t)bias[o] + (uint32_t)tml_dot_s8(x, wo, n_in));
            int c = per_channel ? o : 0;
            int64_t v = (int64_t)tml_requantize(acc, mult[c], shift[c]) + out_zp;
            *y++ = (int8_t)(v < act_min ? act_min : v > act_max ? act_max : v);
        }
    }
}

// exp(x - max) of one value, Q0.31, or -1 when x - max < diff_min (TFLM leaves it out)
static inline int32_t tml_softmax_exp(int32_t d, int32_t in_mult, int in_left_shift, int32_t diff_min) {
    if (d < diff_min) {
        return -1;
    }
    return tml_exp_on_negative_values(tml_srdhm((int32_t)((uint32_t)d << in_left_shift), in_mult));
}

// TFLM reference_ops::Softmax for int8 in and out (output zero point -128, scale 1/256), rows of n.
// Caller's contract: n < 8192 (so the 32-bit sum of exps cannot wrap to 0), 0 <= in_left_shift <= 31
// and (x - max) << in_left_shift fits int32 whenever x - max >= diff_min (TFLM's CalculateInputRadius
// guarantees it).
static inline void tml_softmax(const int8_t *x, int8_t *y, int rows, int n,
    int32_t in_mult, int in_left_shift, int32_t diff_min) {
    for (int r = 0; r < rows; r++, x += n, y += n) {
        int32_t top = x[0];
        for (int c = 1; c < n; c++) {
            top = x[c] > top ? x[c] : top;
        }
        uint32_t total = 0; // sum of exps in Q12.19; wraps like the reference's 32-bit view of it
        for (int c = 0; c < n; c++) {
            int32_t e = tml_softmax_exp(x[c] - top, in_mult, in_left_shift, diff_min);
            if (e >= 0) {
                total += (uint32_t)tml_rdivpot(e, 12);
            }
        }
        int bits_over_unit = 9; // total == 0: every value was left out, scale is unused
        int32_t scale = total ? tml_reciprocal(total, 12, &bits_over_unit) : 0;
        int e2 = bits_over_unit + 23;
        for (int c = 0; c < n; c++) {
            // the exps are recomputed rather than stored: no scratch buffer, same values
            int32_t e = tml_softmax_exp(x[c] - top, in_mult, in_left_shift, diff_min);
            int32_t v = -128;
            if (e >= 0) {
                // srdhm(scale, e) >= 0, so an exponent of 32 or more rounds it to 0
                v = (e2 > 31 ? 0 : tml_rdivpot(tml_srdhm(scale, e), e2)) - 128;
                v = v > 127 ? 127 : v;
            }
            y[c] = (int8_t)v;
        }
    }
}

#endif // TINYML_KERNELS_H
