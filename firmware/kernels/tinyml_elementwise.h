// tinyml's other kernels: pooling, mean, add / sub / mul with broadcasting, lookup tables, quantize
// from float32. Plain C99, bit-exact with TFLite Micro's reference kernels and
// device_lib/tinyml/kernels_py.py (docs/model-format.md gives the semantics, docs/kernels.md the arguments).
#ifndef TINYML_ELEMENTWISE_H
#define TINYML_ELEMENTWISE_H

#include "tinyml_fixedpoint.h"

// ---- pooling, mean ----

// The g of pool2d (docs/kernels.md), by name.
typedef struct {
    int H, W, C, OH, OW, stride_h, stride_w, filter_h, filter_w, pad_top, pad_left;
    int32_t act_min, act_max;
    int is_max;
} tml_pool_t;

// TFLM reference_integer_ops::AveragePool / MaxPool: only taps inside the input count, and every
// window must hold at least one (the caller checks). The average rounds halves away from zero.
static inline void tml_pool2d(const int8_t *x, int8_t *y, const tml_pool_t *g) {
    int C = g->C;
    for (int oh = 0; oh < g->OH; oh++) {
        int ih0 = oh * g->stride_h - g->pad_top, kh0, kh1;
        tml_clip(ih0, 1, g->filter_h, g->H, &kh0, &kh1);
        for (int ow = 0; ow < g->OW; ow++) {
            int iw0 = ow * g->stride_w - g->pad_left, kw0, kw1;
            tml_clip(iw0, 1, g->filter_w, g->W, &kw0, &kw1);
            int32_t n = (kh1 - kh0) * (kw1 - kw0);
            for (int c = 0; c < C; c++, y++) {
                int32_t acc = g->is_max ? -128 : 0;
                for (int ih = ih0 + kh0; ih < ih0 + kh1; ih++) {
                    const int8_t *xr = x + (ih * g->W + iw0 + kw0) * C + c;
                    for (int kw = kw0; kw < kw1; kw++, xr += C) {
                        int32_t v = *xr;
                        if (g->is_max) {
                            acc = v > acc ? v : acc;
                        } else {
                            acc += v;
                        }
                    }
                }
                if (!g->is_max) { // C's division truncates toward zero, as TFLM's does
                    acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
                }
                *y = tml_out8(acc, 0, g->act_min, g->act_max);
            }
        }
    }
}

// The mean over H and W, int8: TFLM's QuantizedMeanOrSum, with 1/(H*W) folded into mult, shift.
// Caller's contract: 255 * n fits int32 (n = H*W).
static inline void tml_mean_hw(const int8_t *x, int8_t *y, int n, int C, int32_t x_zp, int32_t y_zp,
    int32_t mult, int32_t shift) {
    for (int c = 0; c < C; c++) {
        int32_t acc = -x_zp * n;
        for (int i = 0; i < n; i++) {
            acc += x[i * C + c];
        }
        y[c] = tml_out8(tml_requantize(acc, mult, shift), y_zp, -128, 127);
    }
}

// ---- add, sub, mul: elementwise with broadcasting ----

// The g of add, sub, mul (docs/kernels.md), by name. The output is (D0, D1, D2, D3); a and b are read
// at i0*a_stride[0] + .. + i3*a_stride[3] (a stride of 0 broadcasts that dimension).
typedef struct {
    int D[4], a_stride[4], b_stride[4];
    int32_t a_zp, b_zp;
    int32_t left_shift, a_mult, a_shift, b_mult, b_shift; // add and sub only
    int32_t y_mult, y_shift, y_zp, act_min, act_max;
} tml_binary_t;

enum { TML_BIN_PLUS, TML_BIN_MINUS, TML_BIN_TIMES, TML_BIN_SQUARED_DIFF, TML_BIN_MAX, TML_BIN_MIN, TML_BIN_PRELU,
    TML_BIN_EQUAL, TML_BIN_NOT_EQUAL, TML_BIN_LESS, TML_BIN_LESS_EQUAL, TML_BIN_GREATER, TML_BIN_GREATER_EQUAL };

// TFLM reference_integer_ops::AddElementwise (kind TML_BIN_PLUS), reference_ops::SubElementwise
// (TML_BIN_MINUS) and SquaredDifference (TML_BIN_SQUARED_DIFF, left_shift 7) for int8: the inputs
// scaled to a common scale, added, subtracted or their difference squared, requantized. Caller's
// contract: 0 <= left_shift <= 20 (7 when squared) and a_shift, b_shift <= 0 (TFLM's), so nothing
// overflows int32.
static inline int8_t tml_add_sub1(const tml_binary_t *g, int32_t a, int32_t b, int kind) {
    int32_t sa = tml_requantize((a - g->a_zp) * (1 << g->left_shift), g->a_mult, g->a_shift);
    int32_t sb = tml_requantize((b - g->b_zp) * (1 << g->left_shift), g->b_mult, g->b_shift);
    int32_t raw = kind == TML_BIN_PLUS ? sa + sb : sa - sb;
    if (kind == TML_BIN_SQUARED_DIFF) {
        raw *= raw;
    }
    return tml_out8(tml_requantize(raw, g->y_mult, g->y_shift), g->y_zp, g->act_min, g->act_max);
}

// TFLM reference_integer_ops::MulElementwise for int8
static inline int8_t tml_mul1(const tml_binary_t *g, int32_t a, int32_t b) {
    int32_t p = (a - g->a_zp) * (b - g->b_zp);
    return tml_out8(tml_requantize(p, g->y_mult, g->y_shift), g->y_zp, g->act_min, g->act_max);
}

// TFLM reference_ops::BroadcastPrelu4DSlow for int8 (x a, alpha b) on add's g: a - a_zp >= 0
// requantized by a's multiplier, else (a - a_zp) * (b - b_zp) by b's; |product| < 2**16, any shift
static inline int8_t tml_prelu1(const tml_binary_t *g, int32_t a, int32_t b) {
    int32_t x = a - g->a_zp;
    int32_t r = x >= 0 ? tml_requantize(x, g->a_mult, g->a_shift) : tml_requantize(x * (b - g->b_zp), g->b_mult, g->b_shift);
    return tml_out8(r, g->y_zp, g->act_min, g->act_max);
}

// TFLM reference_ops::ComparisonWithScaling (and its broadcast form) for int8, kind TML_BIN_EQUAL ..
// TML_BIN_GREATER_EQUAL: both inputs times 2**left_shift (8) scaled by their own scale as a multiplier
// (QuantizeMultiplierSmallerThanOneExp of the scale), then compared: 1 or 0 (a bool)
static inline int8_t tml_compare1(const tml_binary_t *g, int32_t a, int32_t b, int kind) {
    int32_t sa = tml_requantize((a - g->a_zp) * (1 << g->left_shift), g->a_mult, g->a_shift);
    int32_t sb = tml_requantize((b - g->b_zp) * (1 << g->left_shift), g->b_mult, g->b_shift);
    // if-else, not a switch: no jump table in the module's constants (ESP32 IRAM takes 32-bit loads only)
    if (kind == TML_BIN_EQUAL || kind == TML_BIN_NOT_EQUAL) {
        return (sa == sb) == (kind == TML_BIN_EQUAL);
    }
    if (kind == TML_BIN_LESS || kind == TML_BIN_GREATER_EQUAL) {
        return (sa < sb) == (kind == TML_BIN_LESS);
    }
    return (sa > sb) == (kind == TML_BIN_GREATER);
}

// y[i0, i1, i2, i3] = op(a[..], b[..]) over the whole output, in order (kind: TML_BINARY_*)
static inline void tml_binary(const int8_t *a, const int8_t *b, int8_t *y, const tml_binary_t *g, int kind) {
    const int *D = g->D, *as = g->a_stride, *bs = g->b_stride;
    for (int i0 = 0; i0 < D[0]; i0++) {
        for (int i1 = 0; i1 < D[1]; i1++) {
            for (int i2 = 0; i2 < D[2]; i2++) {
                int ia = i0 * as[0] + i1 * as[1] + i2 * as[2];
                int ib = i0 * bs[0] + i1 * bs[1] + i2 * bs[2];
                for (int i3 = 0; i3 < D[3]; i3++, ia += as[3], ib += bs[3]) {
                    int8_t va = a[ia], vb = b[ib];
                    if (kind == TML_BIN_MAX || kind == TML_BIN_MIN) { // TFLM's MaximumMinimum: the codes
                        *y++ = (kind == TML_BIN_MAX) == (va > vb) ? va : vb;
                    } else if (kind >= TML_BIN_EQUAL) {
                        *y++ = tml_compare1(g, va, vb, kind);
                    } else if (kind == TML_BIN_PRELU) {
                        *y++ = tml_prelu1(g, va, vb);
                    } else {
                        *y++ = kind == TML_BIN_TIMES ? tml_mul1(g, va, vb) : tml_add_sub1(g, va, vb, kind);
                    }
                }
            }
        }
    }
}

// ---- lookup tables, quantize from float32 ----

// y[i] = table[x[i] + 128] for n values, entries of size bytes
static inline void tml_lut(const int8_t *x, uint8_t *y, const uint8_t *table, int n, int size) {
    if (size == 1) {
        for (int i = 0; i < n; i++) {
            y[i] = table[(uint8_t)(x[i] ^ 0x80)];
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        const uint8_t *t = table + (uint8_t)(x[i] ^ 0x80) * size;
        for (int k = 0; k < size; k++) {
            *y++ = t[k];
        }
    }
}

// A finite float32 from its bits: |v| = *m * 2**(e - 150) with *m in [2**23, 2**24) (subnormals
// normalized). Returns e, or 0 for a zero (and sets *m = 0).
static inline int tml_f32_unpack(uint32_t bits, uint32_t *m) {
    int e = (int)((bits >> 23) & 0xFF);
    uint32_t f = bits & 0x7FFFFF;
    if (e) {
        *m = f | 0x800000;
        return e;
    }
    *m = f;
    if (!f) {
        return 0;
    }
    for (e = 1; f < 0x800000; e--) {
        f <<= 1;
    }
    *m = f;
    return e;
}

// round(x / s), halves away from zero, where x / s is first rounded to float32 (to nearest, ties to
// even) as TFLM's float division does; x and s are float32 bits. Saturates at +-2**15 (enough for an
// int8 result), NaN gives 0. Integer code only: the same bits on every CPU, FPU or not, and no
// soft-float library (libgcc's is not position independent on Cortex-M0, which a native module must be).
static inline int32_t tml_div_round_f32(uint32_t x, uint32_t s) {
    int32_t sign = (x ^ s) >> 31 ? -1 : 1;
    int x_inf = (x & 0x7FFFFFFF) == 0x7F800000, s_inf = (s & 0x7FFFFFFF) == 0x7F800000;
    if ((x & 0x7FFFFFFF) > 0x7F800000 || (s & 0x7FFFFFFF) > 0x7F800000 || (x_inf && s_inf) ||
        (!(x & 0x7FFFFFFF) && !(s & 0x7FFFFFFF))) {
        return 0; // NaN: a NaN operand, inf / inf, 0 / 0
    }
    uint32_t mx = 0, ms = 0;
    int ex = x_inf ? 0 : tml_f32_unpack(x, &mx), es = s_inf ? 0 : tml_f32_unpack(s, &ms);
    if (x_inf || (!s_inf && !ms)) {
        return sign * (1 << 15); // inf / finite, non-zero / 0
    }
    if (s_inf || !mx) {
        return 0; // finite / inf, 0 / non-zero
    }
    int e = ex - es; // x / s = mx / ms * 2**e
    if (mx < ms) {
        mx <<= 1;
        e--;
    }
    if (e >= 15) {
        return sign * (1 << 15);
    }
    if (e < -2) {
        return 0; // |x / s| < 0.25, so its float32 rounding too
    }
    // the 24-bit significand of mx / ms (in [1, 2)) by long division, rounded to nearest even
    uint32_t sig = 0;
    for (int i = 0; i < 24; i++) {
        sig <<= 1;
        if (mx >= ms) {
            mx -= ms;
            sig |= 1;
        }
        mx <<= 1; // ends as twice the remainder
    }
    if (mx > ms || (mx == ms && (sig & 1))) {
        if (++sig == 0x1000000) {
            sig >>= 1;
            e++;
        }
    }
    // the float32 quotient is sig * 2**(e - 23), -2 <= e <= 15: add half, truncate
    return e < -1 ? 0 : sign * (int32_t)((sig + (1u << (22 - e))) >> (23 - e));
}

// TFLM reference_ops::AffineQuantize float32 -> int8: clamp(round(x / scale) + zp), the quotient in
// float32 (scale given by its bits). x is read byte by byte (little-endian): it may be unaligned.
static inline void tml_quantize_f32(const uint8_t *x, int8_t *y, int n, int32_t zp, uint32_t scale) {
    for (int i = 0; i < n; i++, x += 4) {
        uint32_t v = x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
        y[i] = tml_out8(tml_div_round_f32(v, scale), zp, -128, 127);
    }
}

#endif // TINYML_ELEMENTWISE_H
