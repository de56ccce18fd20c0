// tinyml's depthwise conv2d kernel. Plain C99, bit-exact with TFLite Micro's reference kernel and
// device_lib/tinyml/kernels_py.py (docs/model-format.md gives the semantics, docs/kernels.md the
// arguments). The geometry (tml_conv_t), channel parameters (tml_chan_t) and output stage
// (tml_outq_t) are conv2d's, from tinyml_nn.h.
#ifndef TINYML_DEPTHWISE_H
#define TINYML_DEPTHWISE_H

#include "tinyml_nn.h"

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

#endif // TINYML_DEPTHWISE_H
