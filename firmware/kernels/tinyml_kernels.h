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
            *y++ = tml_out8(tml_requantize(acc, mult[c], shift[c]), out_zp, act_min, act_max);
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

// ---- convolutions ----

// The geometry and parameters of conv2d / depthwise_conv2d: docs/kernels.md's `g`, by name.
typedef struct {
    int H, W, C, OH, OW, OC, KH, KW;
    int stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
    int32_t x_zp, y_zp, act_min, act_max;
    int oc0, ocn;         // the output channels computed by this call: oc0 .. oc0+ocn-1
    int depth_multiplier; // depthwise only
} tml_conv_t;

// The parameters of the call's ocn output channels: bias (with -x_zp * sum(w) folded in) and
// multiplier/shift, one pair per channel, or one pair for all when !per_channel.
typedef struct {
    const int32_t *bias, *mult, *shift;
    int per_channel;
} tml_chan_t;

// Output channel o of the call (0 <= o < ocn) from its dot product: bias, requantize, zero point, clamp.
static inline int8_t tml_conv_out(const tml_conv_t *g, const tml_chan_t *q, int o, int32_t dot) {
    int c = q->per_channel ? o : 0;
    int32_t acc = (int32_t)((uint32_t)q->bias[o] + (uint32_t)dot); // wraps like TFLM's int32
    return tml_out8(tml_requantize(acc, q->mult[c], q->shift[c]), g->y_zp, g->act_min, g->act_max);
}

// Four dot products of one input run with four weight rows n bytes apart: s[j] = x . w[j*n ..].
// One load of x serves four channels. |s[j]| <= n * 2**14: exact for n <= 2**16.
static inline void tml_dot4_s8(const int8_t *x, const int8_t *w, int n, int32_t s[4]) {
    const int8_t *w0 = w, *w1 = w + n, *w2 = w + 2 * n, *w3 = w + 3 * n;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int i = 0; i < n; i++) {
        int32_t v = x[i];
        a0 += v * w0[i];
        a1 += v * w1[i];
        a2 += v * w2[i];
        a3 += v * w3[i];
    }
    s[0] = a0, s[1] = a1, s[2] = a2, s[3] = a3;
}

// Bytes of scratch tml_conv2d needs: 0 when every window is one run of the input (a 1-row kernel
// whose taps are adjacent, no window crossing the border, e.g. any pointwise conv without padding),
// else one window, KH*KW*C.
static inline int tml_conv2d_patch_bytes(const tml_conv_t *g) {
    int one_run = g->KH == 1 && (g->KW == 1 || g->dil_w == 1);
    int inside = g->pad_top == 0 && g->pad_left == 0 && (g->OH - 1) * g->stride_h < g->H &&
        (g->OW - 1) * g->stride_w + (g->KW - 1) * g->dil_w < g->W;
    return one_run && inside ? 0 : g->KH * g->KW * g->C;
}

// The window of the output pixel whose top-left tap is input (ih0, iw0), as KH*KW*C bytes in the
// weights' order (kh, kw, c): a pointer into x when that is one run (see tml_conv2d_patch_bytes),
// else gathered into patch, taps outside the input reading x_zp.
static inline const int8_t *tml_conv_window(const int8_t *x, const tml_conv_t *g, int ih0, int iw0,
    int8_t *patch) {
    int C = g->C;
    if (!patch) {
        return x + (ih0 * g->W + iw0) * C;
    }
    int8_t *p = patch;
    for (int kh = 0; kh < g->KH; kh++) {
        int ih = ih0 + kh * g->dil_h;
        for (int kw = 0; kw < g->KW; kw++) {
            int iw = iw0 + kw * g->dil_w;
            if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W) {
                const int8_t *src = x + (ih * g->W + iw) * C;
                for (int c = 0; c < C; c++) {
                    *p++ = src[c];
                }
            } else {
                for (int c = 0; c < C; c++) {
                    *p++ = (int8_t)g->x_zp;
                }
            }
        }
    }
    return patch;
}

// CONV_2D, output channels oc0 .. oc0+ocn-1: w is (ocn, KH, KW, C), y the whole (OH, OW, OC) output.
// Per output pixel: its window as one run of K = KH*KW*C bytes, then per channel bias + window . w[o],
// four channels at a time. patch: tml_conv2d_patch_bytes(g) bytes of scratch (NULL when that is 0).
static inline void tml_conv2d(const int8_t *x, const int8_t *w, const tml_chan_t *q, int8_t *y,
    const tml_conv_t *g, int8_t *patch) {
    int K = g->KH * g->KW * g->C, ocn = g->ocn;
    for (int oh = 0; oh < g->OH; oh++) {
        for (int ow = 0; ow < g->OW; ow++) {
            const int8_t *win = tml_conv_window(x, g, oh * g->stride_h - g->pad_top,
                ow * g->stride_w - g->pad_left, patch);
            int8_t *out = y + (oh * g->OW + ow) * g->OC + g->oc0;
            const int8_t *wo = w;
            int o = 0;
            for (; o + 4 <= ocn; o += 4, wo += 4 * K) {
                int32_t s[4];
                tml_dot4_s8(win, wo, K, s);
                for (int j = 0; j < 4; j++) {
                    out[o + j] = tml_conv_out(g, q, o + j, s[j]);
                }
            }
            for (; o < ocn; o++, wo += K) {
                out[o] = tml_conv_out(g, q, o, tml_dot_s8(win, wo, K));
            }
        }
    }
}

// A KH x KW window of one channel inside the input: x points at its top-left tap, taps `col` apart
// in a row and rows `row` apart; w is the channel's KH*KW weights. The 3x3 case is spelt out.
static inline int32_t tml_dw_window(const int8_t *x, int row, int col, const int8_t *w, int KH, int KW) {
    if (KH == 3 && KW == 3) {
        const int8_t *x1 = x + row, *x2 = x + 2 * row;
        return x[0] * w[0] + x[col] * w[1] + x[2 * col] * w[2] +
            x1[0] * w[3] + x1[col] * w[4] + x1[2 * col] * w[5] +
            x2[0] * w[6] + x2[col] * w[7] + x2[2 * col] * w[8];
    }
    int32_t acc = 0;
    for (int kh = 0; kh < KH; kh++, x += row) {
        for (int kw = 0; kw < KW; kw++) {
            acc += x[kw * col] * *w++;
        }
    }
    return acc;
}

// The same for a window crossing the input's border: its taps kh0..kh1-1 x kw0..kw1-1 are inside
// (tml_clip), x points at the first of them; the others read x_zp, which adds x_zp * their weights.
static inline int32_t tml_dw_window_edge(const int8_t *x, int row, int col, const int8_t *w, int KH, int KW,
    int kh0, int kh1, int kw0, int kw1, int32_t x_zp) {
    int32_t acc = 0, w_out = 0; // w_out: the sum of the weights of the taps outside
    for (int i = 0; i < KH * KW; i++) {
        w_out += w[i];
    }
    for (int kh = kh0; kh < kh1; kh++, x += row) {
        for (int kw = kw0; kw < kw1; kw++) {
            int32_t wv = w[kh * KW + kw];
            acc += x[(kw - kw0) * col] * wv;
            w_out -= wv;
        }
    }
    return acc + x_zp * w_out;
}

// DEPTHWISE_CONV_2D, output channels oc0 .. oc0+ocn-1: w is (ocn, KH, KW); output channel oc reads
// input channel oc / depth_multiplier. Per output pixel and channel: bias + window . w[o].
static inline void tml_depthwise_conv2d(const int8_t *x, const int8_t *w, const tml_chan_t *q, int8_t *y,
    const tml_conv_t *g) {
    int KH = g->KH, KW = g->KW, K = KH * KW, C = g->C, dm = g->depth_multiplier;
    int row = g->dil_h * g->W * C, col = g->dil_w * C;
    for (int oh = 0; oh < g->OH; oh++) {
        int ih0 = oh * g->stride_h - g->pad_top, kh0, kh1;
        tml_clip(ih0, g->dil_h, KH, g->H, &kh0, &kh1);
        for (int ow = 0; ow < g->OW; ow++) {
            int iw0 = ow * g->stride_w - g->pad_left, kw0, kw1;
            tml_clip(iw0, g->dil_w, KW, g->W, &kw0, &kw1);
            int inside = kh0 == 0 && kh1 == KH && kw0 == 0 && kw1 == KW;
            // the window's first tap inside the input, channel 0 (any pointer when none is)
            int first = (ih0 + kh0 * g->dil_h) * g->W + iw0 + kw0 * g->dil_w;
            const int8_t *xw = kh0 < kh1 && kw0 < kw1 ? x + first * C : x;
            int8_t *out = y + (oh * g->OW + ow) * g->OC + g->oc0;
            int ic = g->oc0 / dm, m = g->oc0 % dm; // input channel of output channel oc0 + o
            const int8_t *wo = w;
            for (int o = 0; o < g->ocn; o++, wo += K) {
                int32_t dot = inside ? tml_dw_window(xw + ic, row, col, wo, KH, KW) :
                    tml_dw_window_edge(xw + ic, row, col, wo, KH, KW, kh0, kh1, kw0, kw1, g->x_zp);
                out[o] = tml_conv_out(g, q, o, dot);
                if (++m == dm) {
                    m = 0;
                    ic++;
                }
            }
        }
    }
}

// ---- pooling, MEAN ----

// AVERAGE_POOL_2D / MAX_POOL_2D: docs/kernels.md's `g`, by name.
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

// MEAN over H and W, int8: TFLM's QuantizedMeanOrSum, with 1/(H*W) folded into mult, shift.
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

// ---- ADD, MUL: elementwise with broadcasting ----

// ADD / MUL: docs/kernels.md's `g`, by name. The output is (D0, D1, D2, D3); a and b are read at
// i0*a_stride[0] + .. + i3*a_stride[3] (a stride of 0 broadcasts that dimension).
typedef struct {
    int D[4], a_stride[4], b_stride[4];
    int32_t a_zp, b_zp;
    int32_t left_shift, a_mult, a_shift, b_mult, b_shift; // ADD only
    int32_t y_mult, y_shift, y_zp, act_min, act_max;
} tml_binary_t;

// TFLM reference_integer_ops::AddElementwise for int8. Caller's contract: 0 <= left_shift <= 20 and
// a_shift, b_shift <= 0 (TFLM's), so nothing overflows int32.
static inline int8_t tml_add1(const tml_binary_t *g, int32_t a, int32_t b) {
    int32_t sa = tml_requantize((a - g->a_zp) * (1 << g->left_shift), g->a_mult, g->a_shift);
    int32_t sb = tml_requantize((b - g->b_zp) * (1 << g->left_shift), g->b_mult, g->b_shift);
    return tml_out8(tml_requantize(sa + sb, g->y_mult, g->y_shift), g->y_zp, g->act_min, g->act_max);
}

// TFLM reference_integer_ops::MulElementwise for int8
static inline int8_t tml_mul1(const tml_binary_t *g, int32_t a, int32_t b) {
    int32_t p = (a - g->a_zp) * (b - g->b_zp);
    return tml_out8(tml_requantize(p, g->y_mult, g->y_shift), g->y_zp, g->act_min, g->act_max);
}

// y[i0, i1, i2, i3] = op(a[..], b[..]) over the whole output, in order (is_mul: MUL, else ADD)
static inline void tml_binary(const int8_t *a, const int8_t *b, int8_t *y, const tml_binary_t *g, int is_mul) {
    const int *D = g->D, *as = g->a_stride, *bs = g->b_stride;
    for (int i0 = 0; i0 < D[0]; i0++) {
        for (int i1 = 0; i1 < D[1]; i1++) {
            for (int i2 = 0; i2 < D[2]; i2++) {
                int ia = i0 * as[0] + i1 * as[1] + i2 * as[2];
                int ib = i0 * bs[0] + i1 * bs[1] + i2 * bs[2];
                for (int i3 = 0; i3 < D[3]; i3++, ia += as[3], ib += bs[3]) {
                    *y++ = is_mul ? tml_mul1(g, a[ia], b[ib]) : tml_add1(g, a[ia], b[ib]);
                }
            }
        }
    }
}

// ---- lookup tables, QUANTIZE from float32 ----

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

#endif // TINYML_KERNELS_H
