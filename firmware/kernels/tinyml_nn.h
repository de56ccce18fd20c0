// tinyml's kernels of the weighted ops and softmax: fully connected, softmax, conv2d (tinyml_conv.h; depthwise conv2d:
// tinyml_depthwise.h, which shares tml_conv_t and tml_chan_t from here).
// Plain C99, bit-exact with TFLite Micro's reference kernels and device_lib/tinyml/kernels_py.py
// (docs/model-format.md gives the semantics, docs/kernels.md the arguments).
#ifndef TINYML_NN_H
#define TINYML_NN_H

#include "tinyml_fixedpoint.h"

// armv7emsp (Cortex-M4/M7, __ARM_FEATURE_DSP): SXTB16 and SMLAD, two int8 MACs per instruction
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TML_CONV_DSP 1
typedef int16_t tml_px_t;
static inline int32_t tml_dsp_sxtb16(int32_t x) { // bytes 0 and 2, sign-extended into two int16 lanes
    int32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
static inline int32_t tml_dsp_sxtb16_ror8(int32_t x) { // bytes 1 and 3
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline int32_t tml_dsp_smlad(int32_t a, int32_t b, int32_t acc) { // acc + a.lo*b.lo + a.hi*b.hi
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
// 4 bytes at p as one int32, any alignment (armv7-m loads unaligned words; never LDRD, which cannot)
static inline int32_t tml_dsp_load4(const void *p) {
    int32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}
// index of tap k of pixel p in the pair buffer
#define TML_PX_AT(k, p) (4 * ((k) >> 1) + 2 * (p) + ((k) & 1))
#else
#define TML_CONV_DSP 0
typedef int8_t tml_px_t;
#define TML_PX_AT(k, p) (2 * (k) + (p))
#endif

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

// Four dot products of x (n bytes) with four weight rows n bytes apart: s[j] = x . w[j*n ..]. Each
// input byte (armv7emsp: pair of bytes) is loaded once for the four rows. |s[j]| <= n * 2**14. Not
// inlined: alone, its loop keeps its values in registers.
__attribute__((noinline)) static void tml_fc4(const int8_t *x, const int8_t *w, int n, int32_t s[4]) {
    const int8_t *w1 = w + n, *w2 = w1 + n, *w3 = w2 + n;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
#if TML_CONV_DSP
    // 4 taps a step: (x0, x2) and (x1, x3) (SXTB16 of the input word) against each row's same pairs, 2
    // SMLAD a row; two steps a turn (an odd number of steps enters at the second), 49 instructions for 32
    // MACs with the loop. In assembly: in C, gcc spills.
    if (n >= 4) {
        const int8_t *end = x + (n & ~3);
        int32_t xe, xo, v, c = (n >> 2) & 1;
#define TML_FC_DSP_ROW(A, W) \
            "ldr %[v], [%[" W "]], #4\n\t" \
            "sxtb16 %[c], %[v]\n\t" \
            "sxtb16 %[v], %[v], ror #8\n\t" \
            "smlad %[" A "], %[c], %[xe], %[" A "]\n\t" \
            "smlad %[" A "], %[v], %[xo], %[" A "]\n\t"
#define TML_FC_DSP_STEP \
            "ldr %[xo], [%[x]], #4\n\t" \
            "sxtb16 %[xe], %[xo]\n\t" \
            "sxtb16 %[xo], %[xo], ror #8\n\t" \
            TML_FC_DSP_ROW("a0", "w0") TML_FC_DSP_ROW("a1", "w1") TML_FC_DSP_ROW("a2", "w2") TML_FC_DSP_ROW("a3", "w3")
        const int8_t *xp = x, *w0 = w;
        __asm__ volatile(
            "cmp %[c], #0\n\t"
            "bne 2f\n\t"
            "1:\n\t"
            TML_FC_DSP_STEP
            "2:\n\t"
            TML_FC_DSP_STEP
            "ldr %[c], %[end]\n\t"
            "cmp %[x], %[c]\n\t"
            "bne 1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(xp), [w0] "+r"(w0),
              [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [xe] "=&r"(xe), [xo] "=&r"(xo), [v] "=&r"(v),
              [c] "+r"(c)
            : [end] "m"(end)
            : "cc", "memory");
#undef TML_FC_DSP_STEP
#undef TML_FC_DSP_ROW
        i = n & ~3;
        w1 -= i, w2 -= i, w3 -= i; // the tail below indexes the rows from their starts
    }
#else
    // 8 taps a turn, then 4: 4 loads and 4 MLA a tap, then the 5 pointers stepped once
#define TML_FC_TAP(t) \
    u = x[i + t], a0 += u * w[i + t], a1 += u * w1[i + t], a2 += u * w2[i + t], a3 += u * w3[i + t]
    for (; i + 8 <= n; i += 8) {
        int32_t u;
        TML_FC_TAP(0); TML_FC_TAP(1); TML_FC_TAP(2); TML_FC_TAP(3);
        TML_FC_TAP(4); TML_FC_TAP(5); TML_FC_TAP(6); TML_FC_TAP(7);
    }
#undef TML_FC_TAP
    for (; i + 4 <= n; i += 4) {
        int32_t u;
        u = x[i], a0 += u * w[i], a1 += u * w1[i], a2 += u * w2[i], a3 += u * w3[i];
        u = x[i + 1], a0 += u * w[i + 1], a1 += u * w1[i + 1], a2 += u * w2[i + 1], a3 += u * w3[i + 1];
        u = x[i + 2], a0 += u * w[i + 2], a1 += u * w1[i + 2], a2 += u * w2[i + 2], a3 += u * w3[i + 2];
        u = x[i + 3], a0 += u * w[i + 3], a1 += u * w1[i + 3], a2 += u * w2[i + 3], a3 += u * w3[i + 3];
    }
#endif
    for (; i < n; i++) {
        int32_t u = x[i];
        a0 += u * w[i], a1 += u * w1[i], a2 += u * w2[i], a3 += u * w3[i];
    }
    s[0] = a0, s[1] = a1, s[2] = a2, s[3] = a3;
}

// y[b, o] = clamp(requantize(bias[o] + x[b, :] . w[o, :]) + out_zp, act_min, act_max)
// mult/shift hold n_out values when per_channel, else 1. The input zero point is folded into bias.
// Four output channels per pass over the input (tml_fc4).
static inline void tml_fully_connected(const int8_t *x, const int8_t *w, const int32_t *bias,
    const int32_t *mult, const int32_t *shift, int per_channel, int8_t *y,
    int batches, int n_in, int n_out, int32_t out_zp, int32_t act_min, int32_t act_max) {
    for (int b = 0; b < batches; b++, x += n_in) {
        const int8_t *wo = w;
        int o = 0;
        int32_t s[4];
        for (; o < n_out; o += 4, wo += 4 * n_in) {
            int k = n_out - o < 4 ? n_out - o : 4;
            if (k == 4) {
                tml_fc4(x, wo, n_in, s);
            } else {
                for (int j = 0; j < k; j++) {
                    s[j] = tml_dot_s8(x, wo + j * n_in, n_in);
                }
            }
            for (int j = 0; j < k; j++) {
                // int32 accumulator wraps like TFLM's (only a bias within n_in * 2**14 of INT32_MIN/MAX can)
                int32_t acc = (int32_t)((uint32_t)bias[o + j] + (uint32_t)s[j]);
                int c = per_channel ? o + j : 0;
                *y++ = tml_out8(tml_requantize(acc, mult[c], shift[c]), out_zp, act_min, act_max);
            }
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

#include "tinyml_conv.h" // conv2d

#endif // TINYML_NN_H
