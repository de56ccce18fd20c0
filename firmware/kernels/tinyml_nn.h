// tinyml's kernels of the weighted ops and softmax: fully connected, softmax, conv2d (depthwise conv2d:
// tinyml_depthwise.h, which shares tml_conv_t, tml_chan_t and tml_outq_t from here).
// Plain C99, bit-exact with TFLite Micro's reference kernels and device_lib/tinyml/kernels_py.py
// (docs/model-format.md gives the semantics, docs/kernels.md the arguments).
#ifndef TINYML_NN_H
#define TINYML_NN_H

#include "tinyml_fixedpoint.h"

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

// A channel's output stage, set up once per channel: bias, requantize, zero point, clamp. The fast
// form (multiplier not INT32_MIN, |shift| <= 31: every model TFLM writes) is tml_requantize without
// branches: (acc << left) srdhm mult, then rdivpot by right, one of left/right 0.
typedef struct {
    int32_t bias, mult, shift, left, right, mask, half, lo, hi, zp, fast;
} tml_outq_t;

static inline void tml_outq_init(tml_outq_t *r, int32_t bias, int32_t mult, int32_t shift, const tml_conv_t *g) {
    r->bias = bias, r->mult = mult, r->shift = shift;
    r->fast = mult != TML_INT32_MIN && shift <= 31 && shift >= -31;
    r->left = shift > 0 ? shift : 0;
    r->right = shift > 0 ? 0 : -shift;
    r->mask = r->fast ? (int32_t)(((uint32_t)1 << r->right) - 1) : 0;
    r->half = r->mask >> 1;
    r->zp = g->y_zp, r->lo = g->act_min - g->y_zp, r->hi = g->act_max - g->y_zp;
}

static inline int8_t tml_outq(const tml_outq_t *r, int32_t dot) {
    int32_t acc = (int32_t)((uint32_t)r->bias + (uint32_t)dot), v; // wraps like TFLM's int32
    if (r->fast) {
        int32_t h = (int32_t)(((int64_t)(int32_t)((uint32_t)acc << r->left) * r->mult + (1 << 30)) >> 31);
        v = (h >> r->right) + ((h & r->mask) > r->half + (h < 0));
    } else {
        v = tml_requantize(acc, r->mult, r->shift);
    }
    v = v < r->lo ? r->lo : v > r->hi ? r->hi : v;
    return (int8_t)(v + r->zp);
}

// Four dot products of one input run with four weight rows n bytes apart: s[j] = x . w[j*n ..].
// One load of x serves four channels. |s[j]| <= n * 2**14: exact for n <= 2**16. Not inlined: alone, its
// loop keeps its 11 values in registers (11 instructions per 4 MACs on armv7m).
__attribute__((noinline)) static void tml_dot4_s8(const int8_t *x, const int8_t *w, int n, int32_t s[4]) {
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

// The convolution, output channels oc0 .. oc0+ocn-1: w is (ocn, KH, KW, C), y the whole (OH, OW, OC) output.
// Per output pixel: its window as one run of K = KH*KW*C bytes, then per channel bias + window . w[o],
// four channels at a time. patch: tml_conv2d_patch_bytes(g) bytes of scratch (NULL when that is 0).
static inline void tml_conv2d(const int8_t *x, const int8_t *w, const tml_chan_t *q, int8_t *y,
    const tml_conv_t *g, int8_t *patch) {
    int K = g->KH * g->KW * g->C, ocn = g->ocn;
    if (!patch && K <= 32) {
        // few taps per output, windows in place: four channels at a time over every pixel, their output
        // stages set up once (the output stage would cost more than the dot product per pixel)
        const int8_t *wo = w;
        for (int o = 0; o < ocn; o += 4, wo += 4 * K) {
            int k = ocn - o < 4 ? ocn - o : 4;
            tml_outq_t r[4];
            for (int j = 0; j < k; j++) {
                int c = q->per_channel ? o + j : 0;
                tml_outq_init(&r[j], q->bias[o + j], q->mult[c], q->shift[c], g);
            }
            for (int oh = 0; oh < g->OH; oh++) {
                for (int ow = 0; ow < g->OW; ow++) {
                    const int8_t *win = tml_conv_window(x, g, oh * g->stride_h - g->pad_top,
                        ow * g->stride_w - g->pad_left, patch);
                    int8_t *out = y + (oh * g->OW + ow) * g->OC + g->oc0 + o;
                    if (k == 4) {
                        int32_t s4[4];
                        tml_dot4_s8(win, wo, K, s4);
                        for (int j = 0; j < 4; j++) {
                            out[j] = tml_outq(&r[j], s4[j]);
                        }
                    } else {
                        for (int j = 0; j < k; j++) {
                            out[j] = tml_outq(&r[j], tml_dot_s8(win, wo + j * K, K));
                        }
                    }
                }
            }
        }
        return;
    }
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


#endif // TINYML_NN_H
