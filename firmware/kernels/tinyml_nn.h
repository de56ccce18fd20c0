// tinyml's kernels of the weighted ops and softmax: fully connected, softmax, conv2d, depthwise conv2d.
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
// (tml_clip), x points at the first of them; the others read x_zp, which adds x_zp * their weights
// (w_sum: the sum of all KH*KW weights, computed once per channel).
static inline int32_t tml_dw_window_edge(const int8_t *x, int row, int col, const int8_t *w, int KW,
    int kh0, int kh1, int kw0, int kw1, int32_t x_zp, int32_t w_sum) {
    int32_t acc = 0, w_in = 0;
    for (int kh = kh0; kh < kh1; kh++, x += row) {
        const int8_t *wr = w + kh * KW;
        for (int kw = kw0; kw < kw1; kw++) {
            int32_t wv = wr[kw];
            acc += x[(kw - kw0) * col] * wv;
            w_in += wv;
        }
    }
    return acc + x_zp * (w_sum - w_in);
}

// The output columns whose windows lie inside the input's width: lo <= ow < hi.
static inline void tml_dw_inside_cols(const tml_conv_t *g, int *lo, int *hi) {
    int a = g->OW, b = g->OW;
    for (int ow = 0; ow < g->OW; ow++) {
        int iw0 = ow * g->stride_w - g->pad_left;
        if (iw0 >= 0 && iw0 + (g->KW - 1) * g->dil_w < g->W) {
            a = a < ow ? a : ow;
            b = ow + 1;
        }
    }
    *lo = a < b ? a : b;
    *hi = b;
}

// n outputs of one channel along an output row (out steps OC): windows sw apart from xr, taps nkh rows
// (row apart) of KW (col apart) against w; corr: x_zp times the weights of the rows outside the input.
// Not inlined: alone, the compiler keeps the loop's values in registers.
__attribute__((noinline)) static void tml_dw_row(const int8_t *xr, int8_t *out, int n, int sw, int OC, int row,
    int col, const int8_t *w, int nkh, int KW, int32_t corr, const tml_outq_t *r) {
    if (KW == 3 && nkh == 3) {
        for (; n > 0; n--, xr += sw, out += OC) {
            const int8_t *x1 = xr + row, *x2 = x1 + row;
            int32_t dot = xr[0] * w[0] + xr[col] * w[1] + xr[2 * col] * w[2] + x1[0] * w[3] + x1[col] * w[4] +
                x1[2 * col] * w[5] + x2[0] * w[6] + x2[col] * w[7] + x2[2 * col] * w[8];
            *out = tml_outq(r, dot + corr);
        }
    } else if (KW == 3 && nkh == 2) {
        for (; n > 0; n--, xr += sw, out += OC) {
            const int8_t *x1 = xr + row;
            int32_t dot = xr[0] * w[0] + xr[col] * w[1] + xr[2 * col] * w[2] + x1[0] * w[3] + x1[col] * w[4] +
                x1[2 * col] * w[5];
            *out = tml_outq(r, dot + corr);
        }
    } else {
        for (; n > 0; n--, xr += sw, out += OC) {
            *out = tml_outq(r, tml_dw_window(xr, row, col, w, nkh, KW) + corr);
        }
    }
}

// n input rows ih0, ih0 + step, .. of one channel (xc: its first byte) from column -pad_left, wp bytes
// each, into buf, x_zp outside the input.
static inline void tml_dw_pad_rows(int8_t *buf, const int8_t *xc, const tml_conv_t *g, int ih0, int n, int wp,
    int step) {
    int C = g->C;
    for (int k = 0; k < n; k++, buf += wp) {
        int ih = ih0 + k * step, i = 0;
        if (ih >= 0 && ih < g->H) {
            const int8_t *src = xc + ih * g->W * C;
            int i0 = g->pad_left < wp ? g->pad_left : wp, i1 = g->W + g->pad_left;
            i1 = i1 < wp ? i1 : wp;
            for (; i < i0; i++) {
                buf[i] = (int8_t)g->x_zp;
            }
            for (src += (i - g->pad_left) * C; i < i1; i++, src += C) {
                buf[i] = *src;
            }
        }
        for (; i < wp; i++) {
            buf[i] = (int8_t)g->x_zp;
        }
    }
}

// Bytes of the C stack a depthwise call takes for the input rows of an output row crossing a border.
#define TML_DW_ROWBUF 640

// The depthwise convolution, output channels oc0 .. oc0+ocn-1: w is (ocn, KH, KW); output channel oc reads
// input channel oc / depth_multiplier. Channels outermost: a channel's output stage is set up once,
// and the sum of its weights (for the border windows) taken once. A small plane crossing a border is
// copied once per channel, padded with x_zp (when it fits TML_DW_ROWBUF bytes); in a larger one, an
// output row whose windows cross a border reads a copy of its KH input rows padded alike, so the
// border costs what the inside does; else the columns inside go through tml_dw_row (rows crossing
// the top or bottom border too, their missing taps a constant correction) and the others take the
// general window.
static inline void tml_depthwise_conv2d(const int8_t *x, const int8_t *w, const tml_chan_t *q, int8_t *y,
    const tml_conv_t *g) {
    int KH = g->KH, KW = g->KW, K = KH * KW, C = g->C, dm = g->depth_multiplier, OC = g->OC;
    int row = g->dil_h * g->W * C, col = g->dil_w * C, sw = g->stride_w * C;
    int32_t x_zp = g->x_zp;
    int lo, hi;
    tml_dw_inside_cols(g, &lo, &hi);
    // a row's windows span wp input columns from -pad_left; KH such rows fit the stack buffer?
    int wp = (g->OW - 1) * g->stride_w + (KW - 1) * g->dil_w + 1, span = KH * wp;
    int hp = (g->OH - 1) * g->stride_h + (KH - 1) * g->dil_h + 1; // the same, input rows of the plane
    int8_t buf[TML_DW_ROWBUF];
    int ic = g->oc0 / dm, m = g->oc0 % dm; // input channel of output channel oc0 + o
    const int8_t *wo = w;
    for (int o = 0; o < g->ocn; o++, wo += K) {
        int c = q->per_channel ? o : 0;
        tml_outq_t r;
        tml_outq_init(&r, q->bias[o], q->mult[c], q->shift[c], g);
        int32_t w_sum = 0;
        for (int i = 0; i < K; i++) {
            w_sum += wo[i];
        }
        const int8_t *xc = x + ic;
        int8_t *yo = y + g->oc0 + o;
        if (hp * wp <= TML_DW_ROWBUF && (g->pad_top || hp > g->H || lo || hi < g->OW)) {
            // a small plane crossing a border: this channel's input rows, padded with x_zp, copied once
            tml_dw_pad_rows(buf, xc, g, -g->pad_top, hp, wp, 1);
            for (int oh = 0; oh < g->OH; oh++) {
                tml_dw_row(buf + oh * g->stride_h * wp, yo + oh * g->OW * OC, g->OW, g->stride_w, OC,
                    wp * g->dil_h, g->dil_w, wo, KH, KW, 0, &r);
            }
            if (++m == dm) {
                m = 0;
                ic++;
            }
            continue;
        }
        for (int oh = 0; oh < g->OH; oh++) {
            int ih0 = oh * g->stride_h - g->pad_top, kh0, kh1;
            tml_clip(ih0, g->dil_h, KH, g->H, &kh0, &kh1);
            int8_t *out = yo + oh * g->OW * OC;
            int a = 0, b = 0; // the columns done by tml_dw_row
            int side = g->OW - (hi - lo); // columns crossing the left or right border
            if (span <= TML_DW_ROWBUF && (kh0 != 0 || kh1 != KH || 4 * side > g->OW)) {
                // a row crossing the top or bottom border, or a narrow one: the KH input rows its
                // windows read (this channel's bytes, x_zp outside the input) copied once, so that every
                // window of the row is a plain one
                tml_dw_pad_rows(buf, xc, g, ih0, KH, wp, g->dil_h);
                tml_dw_row(buf, out, g->OW, g->stride_w, OC, wp, g->dil_w, wo, KH, KW, 0, &r);
                continue;
            }
            if (kh0 < kh1 && lo < hi) {
                a = lo, b = hi;
                const int8_t *wr = wo + kh0 * KW;
                int32_t w_in = 0;
                for (int i = 0; i < (kh1 - kh0) * KW; i++) {
                    w_in += wr[i];
                }
                const int8_t *xr = xc + ((ih0 + kh0 * g->dil_h) * g->W + a * g->stride_w - g->pad_left) * C;
                tml_dw_row(xr, out + a * OC, b - a, sw, OC, row, col, wr, kh1 - kh0, KW, x_zp * (w_sum - w_in), &r);
            }
            for (int ow = 0; ow < g->OW; ow++) {
                if (ow == a && a < b) {
                    ow = b - 1; // done above
                    continue;
                }
                int iw0 = ow * g->stride_w - g->pad_left, kw0, kw1;
                tml_clip(iw0, g->dil_w, KW, g->W, &kw0, &kw1);
                int32_t dot = x_zp * w_sum; // the window misses the input: every tap reads x_zp
                if (kh0 < kh1 && kw0 < kw1) {
                    const int8_t *xw = xc + ((ih0 + kh0 * g->dil_h) * g->W + iw0 + kw0 * g->dil_w) * C;
                    dot = tml_dw_window_edge(xw, row, col, wo, KW, kh0, kh1, kw0, kw1, x_zp, w_sum);
                }
                out[ow * OC] = tml_outq(&r, dot);
            }
        }
        if (++m == dm) {
            m = 0;
            ic++;
        }
    }
}


#endif // TINYML_NN_H
