// tinyml's fixed-point arithmetic (gemmlowp / TFLM) and the small pieces every kernel shares: plain
// C99, no MicroPython dependency, bit-exact with device_lib/tinyml/fixedpoint.py. Part of the
// header-only kernels (tinyml_kernels.h includes every family).
#ifndef TINYML_FIXEDPOINT_H
#define TINYML_FIXEDPOINT_H

#include <stdint.h>

#define TML_INT32_MIN (-2147483647 - 1)
#define TML_INT32_MAX 2147483647

// ---- gemmlowp / TFLM fixed point ----

// SaturatingRoundingDoublingHighMul. TFLM computes (ab + nudge) / 2**31 truncated toward zero, with
// nudge 2**30 for ab >= 0 and 1 - 2**30 below: for ab < 0 that is floor((ab + 1 - 2**30 + 2**31 - 1) /
// 2**31), so both cases are floor((ab + 2**30) / 2**31): one 32x32->64 multiply (SMULL on ARM,
// MULL/MULSH on Xtensa, no 64-bit helper call), an add with carry and a 64-bit shift by a constant.
static inline int32_t tml_srdhm(int32_t a, int32_t b) {
    if (a == TML_INT32_MIN && b == TML_INT32_MIN) {
        return TML_INT32_MAX;
    }
    int64_t ab = (int64_t)a * b + (1 << 30);
    return (int32_t)(ab >> 31); // >> of a negative int is arithmetic (floor) on every gcc target
}

// RoundingDivideByPOT, 0 <= e <= 31 (e >= 32 rounds every x but INT32_MIN to 0: callers handle it)
static inline int32_t tml_rdivpot(int32_t x, int e) {
    int32_t mask = (int32_t)(((uint32_t)1 << e) - 1);
    int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + ((x & mask) > threshold); // >> of a negative int is arithmetic on every gcc target
}

// MultiplyByQuantizedMultiplier: shift > 0 is a left shift (wrapping, as TFLM's int32 acc << shift).
// About 15 instructions on armv7m for the usual shift <= 0.
static inline int32_t tml_requantize(int32_t acc, int32_t mult, int32_t shift) {
    if (shift <= 0) {
        if (shift < -31) {
            return 0; // a result of srdhm (never INT32_MIN) >> 32.. rounds to 0
        }
        return tml_rdivpot(tml_srdhm(acc, mult), -shift);
    }
    if (shift > 31) {
        return 0; // acc << 32.. wraps to 0
    }
    return tml_srdhm((int32_t)((uint32_t)acc << shift), mult);
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

// ---- shared pieces of the kernels ----

// clamp(r + zp, lo, hi) as int8, for any int32 r (no overflow: the clamp is done before adding zp).
// lo <= hi are int8 values; the tests are in the reference's order, so lo > hi gives what it gives.
static inline int8_t tml_out8(int32_t r, int32_t zp, int32_t lo, int32_t hi) {
    int32_t a = lo - zp, b = hi - zp;
    return (int8_t)((r < a ? a : r > b ? b : r) + zp);
}

// The kernel taps k of one axis whose input coordinate i0 + k*dil lies in [0, size): k0 <= k < k1.
// (k0 == k1 when the window misses the input.)
static inline void tml_clip(int i0, int dil, int k, int size, int *k0, int *k1) {
    int lo = i0 < 0 ? (dil - 1 - i0) / dil : 0;
    int hi = i0 >= size ? 0 : i0 + (k - 1) * dil < size ? k : (size - i0 + dil - 1) / dil;
    *k0 = lo < hi ? lo : hi;
    *k1 = hi;
}

#endif // TINYML_FIXEDPOINT_H
