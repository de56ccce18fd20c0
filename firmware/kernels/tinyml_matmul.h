// tinyml's kernels of TFLM's batch matmul (both operands activations) and transpose conv, int8. Plain
// C99, no MicroPython dependency, no division (Cortex-M0 and Xtensa builds link no libgcc helper),
// bit-exact with TFLite Micro's reference kernels and device_lib/tinyml/kernels_py_matmul.py
// (docs/model-format.md for the records, docs/kernels.md for g).
#ifndef TINYML_MATMUL_H
#define TINYML_MATMUL_H

#include "tinyml_fixedpoint.h"
#include "tinyml_ops.h"

// TFLM's reference_ops::BatchMatMul for int8 (batch_matmul.cc): for each of y's batches (g's D0..D2,
// a's and b's batch strides 0 where broadcast), y[r][c] = the int32 sum over k of (a[r][k] - a_zp) *
// (b[k][c] - b_zp), MultiplyByQuantizedMultiplier, + y_zp, clamped to int8 (no fused activation).
// adj_x and adj_y are only other element strides of a and b (TFLM transposes into a scratch buffer
// first; the sums are the same integers). Caller's contract: g as validate.py checks it (every index
// inside a and b, depth <= 33025 so a sum fits int32).
static void tml_batch_matmul(const int8_t *a, const int8_t *b, int8_t *y, const int32_t *g) {
    const int32_t rows = g[TML_MATMUL_ROWS], cols = g[TML_MATMUL_COLS], depth = g[TML_MATMUL_DEPTH];
    const int32_t a_row = g[TML_MATMUL_A_ROW], a_k = g[TML_MATMUL_A_K];
    const int32_t b_k = g[TML_MATMUL_B_K], b_col = g[TML_MATMUL_B_COL];
    const int32_t a_zp = g[TML_MATMUL_A_ZP], b_zp = g[TML_MATMUL_B_ZP];
    const int32_t mult = g[TML_MATMUL_Y_MULTIPLIER], shift = g[TML_MATMUL_Y_SHIFT], y_zp = g[TML_MATMUL_Y_ZP];
    const int32_t *d = g + TML_MATMUL_D0, *as = g + TML_MATMUL_A_STRIDE0, *bs = g + TML_MATMUL_B_STRIDE0;
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                const int8_t *ab = a + i0 * as[0] + i1 * as[1] + i2 * as[2];
                const int8_t *bb = b + i0 * bs[0] + i1 * bs[1] + i2 * bs[2];
                for (int32_t r = 0; r < rows; r++, ab += a_row) {
                    // sum_k v * (b - b_zp) = sum_k v * b - b_zp * sum_k v, v = a - a_zp: the row's sum once,
                    // then four columns per pass over the row (each v loaded once); |sums| < 2**31
                    int32_t sv = 0;
                    const int8_t *pa = ab;
                    for (int32_t k = 0; k < depth; k++, pa += a_k) {
                        sv += *pa - a_zp;
                    }
                    const uint32_t zsv = (uint32_t)(b_zp * sv);
                    int32_t c = 0;
                    for (; c + 4 <= cols; c += 4) {
                        const int8_t *pb = bb + c * b_col;
                        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                        pa = ab;
                        for (int32_t k = 0; k < depth; k++, pa += a_k, pb += b_k) {
                            int32_t v = *pa - a_zp;
                            s0 += v * pb[0];
                            s1 += v * pb[b_col];
                            s2 += v * pb[2 * b_col];
                            s3 += v * pb[3 * b_col];
                        }
                        y[0] = tml_out8(tml_requantize((int32_t)((uint32_t)s0 - zsv), mult, shift), y_zp, -128, 127);
                        y[1] = tml_out8(tml_requantize((int32_t)((uint32_t)s1 - zsv), mult, shift), y_zp, -128, 127);
                        y[2] = tml_out8(tml_requantize((int32_t)((uint32_t)s2 - zsv), mult, shift), y_zp, -128, 127);
                        y[3] = tml_out8(tml_requantize((int32_t)((uint32_t)s3 - zsv), mult, shift), y_zp, -128, 127);
                        y += 4;
                    }
                    for (; c < cols; c++) {
                        const int8_t *pb = bb + c * b_col;
                        int32_t s0 = 0;
                        pa = ab;
                        for (int32_t k = 0; k < depth; k++, pa += a_k, pb += b_k) {
                            s0 += (*pa - a_zp) * *pb;
                        }
                        *y++ = tml_out8(tml_requantize((int32_t)((uint32_t)s0 - zsv), mult, shift), y_zp, -128, 127);
                    }
                }
            }
        }
    }
}

// The transposed convolution's geometry and quantization: conv2d's g (tinyml_ops.h), with the output channels
// oc0 .. oc0 + ocn - 1 of this call, whose weights, bias, multipliers and shifts are w, bias, mult, shift.
typedef struct {
    int32_t H, W, C, OH, OW, OC, KH, KW, oc0, ocn, stride_h, stride_w, pad_top, pad_left;
    int32_t x_zp, y_zp, act_min, act_max;
    const int32_t *bias, *mult, *shift;
    bool per_channel;
} tml_tconv_t;

// The taps one output pixel gathers, at most this many at once (more: the pixel is done in parts)
#define TML_TCONV_TAPS 32

// acc[j] += sum over the n taps (x offset xo[t], weight offset wo[t]) of (x - x_zp) * w, for the
// four output channels whose kernels start at w0, w0 + K, w0 + 2K, w0 + 3K
static void tml_tconv_4(const int8_t *x, const int8_t *w0, int32_t K, int32_t C, int32_t x_zp,
    const int32_t *xo, const int32_t *wo, int n, int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int t = 0; t < n; t++) {
        const int8_t *xp = x + xo[t], *wp = w0 + wo[t];
        for (int32_t c = 0; c < C; c++) {
            int32_t v = xp[c] - x_zp;
            a0 += v * wp[c];
            a1 += v * wp[c + K];
            a2 += v * wp[c + 2 * K];
            a3 += v * wp[c + 3 * K];
        }
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

// tml_tconv_4 for m <= 4 channels: the last group of fewer than 4 reads only its own kernels
static void tml_tconv_4_any(const int8_t *x, const int8_t *w0, int32_t K, int32_t C, int32_t x_zp,
    const int32_t *xo, const int32_t *wo, int n, int32_t *acc, int m) {
    if (m == 4) {
        tml_tconv_4(x, w0, K, C, x_zp, xo, wo, n, acc);
        return;
    }
    for (int i = 0; i < m; i++) {
        const int8_t *wi = w0 + i * K;
        int32_t a = acc[i];
        for (int t = 0; t < n; t++) {
            const int8_t *xp = x + xo[t], *wp = wi + wo[t];
            for (int32_t c = 0; c < C; c++) {
                a += (xp[c] - x_zp) * wp[c];
            }
        }
        acc[i] = a;
    }
}

// TFLM's reference_integer_ops::TransposeConv for int8: input pixel (iy, ix) adds (x - x_zp) * w[oc][fy][fx]
// to output (iy * stride_h - pad_top + fy, ix * stride_w - pad_left + fx). Gathered here per output
// instead of scattered into an int32 scratch: output row oy takes the filter rows fy = (oy + pad_top)
// - iy * stride_h, i.e. fy = (oy + pad_top) mod stride_h, then every stride_h-th, from input rows
// (oy + pad_top) div stride_h downwards (likewise for columns); the integer sums are the same, so
// are the bytes. Then the bias, the channel's multiplier, + y_zp and the clamp, as TFLM. w is
// (ocn, KH, KW, C). Each pixel's taps are listed once, then four output channels at a time read each
// input value once. The quotients and remainders are stepped along, so no division is needed.
static void tml_transpose_conv2d(const int8_t *x, const int8_t *w, int8_t *y, const tml_tconv_t *g) {
    const int32_t C = g->C, W = g->W, H = g->H, KW = g->KW, KH = g->KH, sh = g->stride_h, sw = g->stride_w;
    const int32_t K = KH * KW * C, x_zp = g->x_zp, ocn = g->ocn;
    int32_t xo[TML_TCONV_TAPS], wo[TML_TCONV_TAPS], acc[4];
    // (oy + pad_top) = qy * sh + ry at oy = 0, and likewise for columns
    int32_t qy0 = 0, ry0 = g->pad_top, qx0 = 0, rx0 = g->pad_left;
    while (ry0 >= sh) {
        ry0 -= sh;
        qy0++;
    }
    while (rx0 >= sw) {
        rx0 -= sw;
        qx0++;
    }
    int32_t qy = qy0, ry = ry0;
    for (int32_t oy = 0; oy < g->OH; oy++) {
        int32_t qx = qx0, rx = rx0;
        for (int32_t ox = 0; ox < g->OW; ox++) {
            int8_t *out = y + (oy * g->OW + ox) * g->OC + g->oc0;
            for (int32_t j = 0; j < ocn; j += 4) {
                int m = ocn - j < 4 ? (int)(ocn - j) : 4;
                for (int i = 0; i < 4; i++) {
                    acc[i] = i < m ? g->bias[j + i] : 0;
                }
                // the taps, TML_TCONV_TAPS at a time (a last group of m < 4 channels reads only its kernels)
                int n = 0;
                for (int32_t fy = ry, iy = qy; fy < KH && iy >= 0; fy += sh, iy--) {
                    if (iy >= H) {
                        continue;
                    }
                    for (int32_t fx = rx, ix = qx; fx < KW && ix >= 0; fx += sw, ix--) {
                        if (ix >= W) {
                            continue;
                        }
                        xo[n] = (iy * W + ix) * C;
                        wo[n] = (fy * KW + fx) * C;
                        if (++n == TML_TCONV_TAPS) {
                            tml_tconv_4_any(x, w + j * K, K, C, x_zp, xo, wo, n, acc, m);
                            n = 0;
                        }
                    }
                }
                tml_tconv_4_any(x, w + j * K, K, C, x_zp, xo, wo, n, acc, m);
                for (int i = 0; i < m; i++) {
                    int32_t mu = g->per_channel ? g->mult[j + i] : g->mult[0];
                    int32_t sft = g->per_channel ? g->shift[j + i] : g->shift[0];
                    out[j + i] = tml_out8(tml_requantize(acc[i], mu, sft), g->y_zp, g->act_min, g->act_max);
                }
            }
            if (++rx == sw) {
                rx = 0;
                qx++;
            }
        }
        if (++ry == sh) {
            ry = 0;
            qy++;
        }
    }
}

#endif // TINYML_MATMUL_H
