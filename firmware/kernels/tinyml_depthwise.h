// tinyml's depthwise conv2d kernel. Plain C99, bit-exact with TFLite Micro's reference kernel and
// device_lib/tinyml/kernels_py.py (docs/model-format.md gives the semantics, docs/kernels.md the
// arguments). The geometry (tml_conv_t) and channel parameters (tml_chan_t) are conv2d's, from
// tinyml_nn.h.
//
// Loop order: channels outermost. Per channel, its output stage (bias, multiplier, shifts, clamp) is
// set up once and held in registers along its rows. Its input rows are copied once each into rows on
// the C stack, padded with x_zp outside the input, a constant S bytes apart: every window is then a
// plain one (a border costs what the inside does: no per-window clipping, no weight sums), a 3x3
// window's taps are immediate offsets, and at stride 1 it shares its columns with its neighbour (two
// outputs per step: 12 loads for 18 MACs). The output stage is SSAT when the clamp is the whole int8
// range. On ARMv7-M (Cortex-M3, and M4/M7: armv7m and armv7emsp) the 3x3 loop is assembly
// (tml_dw3x3_v7m). Small planes are copied several at a time, side by side. Rows too wide for the stack
// buffer, and dilation, take the general path (per-window clipping, the weight sum taken once per
// channel).
#ifndef TINYML_DEPTHWISE_H
#define TINYML_DEPTHWISE_H

#include "tinyml_nn.h"



// A channel's output stage: bias, requantize, zero point, clamp. The fast form (multiplier not
// INT32_MIN, |shift| <= 31: every model TFLM writes) is tml_requantize without branches: (acc << left)
// srdhm mult, then rdivpot by right, one of left/right 0. The others go through tml_requantize.
typedef struct {
    int32_t bias, mult, shift, left, right, mask, half, lo, hi, zp, fast;
    int32_t simple, klo, khi, e1; // tml_dwq_simple's case and constants
} tml_dwq_t;

static inline void tml_dwq_init(tml_dwq_t *r, int32_t bias, int32_t mult, int32_t shift, const tml_conv_t *g) {
    r->bias = bias, r->mult = mult, r->shift = shift;
    r->fast = mult != TML_INT32_MIN && shift <= 31 && shift >= -31;
    r->left = shift > 0 ? shift : 0;
    r->right = shift > 0 ? 0 : -shift;
    r->mask = r->fast ? (int32_t)(((uint32_t)1 << r->right) - 1) : 0;
    r->half = r->mask >> 1;
    r->zp = g->y_zp, r->lo = g->act_min - g->y_zp, r->hi = g->act_max - g->y_zp;
    r->simple = r->fast && r->left == 0 && r->right >= 1 && mult > (1 << 30) && r->lo == -128 - r->zp &&
        r->hi == 127 - r->zp;
    int64_t k = ((int64_t)1 << 30) + ((int64_t)1 << (30 + (r->simple ? r->right : 1)));
    r->klo = (int32_t)(uint32_t)k, r->khi = (int32_t)(k >> 32), r->e1 = r->right - 1;
}

// The fast output stage of acc (bias included), its constants as arguments so that a loop keeps them
// in registers.
static inline int8_t tml_dwq_fast(int32_t acc, int left, int32_t mult, int right, int32_t mask, int32_t half,
    int32_t lo, int32_t hi, int32_t zp) {
    int32_t h = (int32_t)(((int64_t)(int32_t)((uint32_t)acc << left) * mult + (1 << 30)) >> 31);
    int32_t v = (h >> right) + ((h & mask) > half + (h < 0));
    v = v < lo ? lo : v > hi ? hi : v;
    return (int8_t)(v + zp);
}

static inline int8_t tml_dwq(const tml_dwq_t *r, int32_t dot) {
    int32_t acc = (int32_t)((uint32_t)r->bias + (uint32_t)dot); // wraps like TFLM's int32
    if (r->fast) {
        return tml_dwq_fast(acc, r->left, r->mult, r->right, r->mask, r->half, r->lo, r->hi, r->zp);
    }
    int32_t v = tml_requantize(acc, r->mult, r->shift);
    v = v < r->lo ? r->lo : v > r->hi ? r->hi : v;
    return (int8_t)(v + r->zp);
}

#define TML_DWQ_ARGS left, mult, right, mask, half, lo, hi, zp
#define TML_DWQ_LOCALS(r) int left = (r)->left, right = (r)->right, e1 = (r)->e1; \
    int32_t mult = (r)->mult, mask = (r)->mask, half = (r)->half, lo = (r)->lo, hi = (r)->hi, zp = (r)->zp; \
    int64_t k = (int64_t)(((uint64_t)(uint32_t)(r)->khi << 32) | (uint32_t)(r)->klo)

// ---- dilation 1: padded rows a constant S bytes apart (3x3: every tap an immediate offset) ----

// Bytes of the C stack a depthwise call takes for its padded input rows.
#define TML_DW_BUF 1024

// The output stage in its usual case (tml_dwq_t's simple): a right shift e >= 1, a multiplier M in
// (2**30, 2**31) (TFLM's QuantizeMultiplier gives [2**30, 2**31)), the clamp the whole int8 range.
// TFLM's SRDHM then RoundingDivideByPOT, floor((acc*M + 2**30) / 2**31) = h, then floor((h + 2**(e-1)
// - (h < 0)) / 2**e), is one floor division: floor((acc*M + 2**30 + 2**(30+e) - (h < 0) * 2**31) /
// 2**(31+e)), where h < 0 exactly when acc < 0 (as M > 2**30): one SMLAL onto a constant k, the high
// word shifted by e - 1 (|v| < 2**30: v + zp cannot wrap), SSAT.
static inline int8_t tml_dwq_simple(int32_t acc, int32_t mult, int64_t k, int e1, int32_t zp) {
    int64_t p = (int64_t)acc * mult + (k - ((int64_t)((uint32_t)acc >> 31) << 31));
    int32_t v = ((int32_t)(p >> 32) >> e1) + zp;
#if defined(__ARM_ARCH) && __ARM_ARCH >= 7 && !defined(__ARM_ARCH_6M__)
    __asm__ ("ssat %0, #8, %1" : "=r" (v) : "r" (v));
#else
    v = v < -128 ? -128 : v > 127 ? 127 : v;
#endif
    return (int8_t)v;
}

#include "tinyml_depthwise_v7m.h" // ARMv7-M: the 3x3 windows in assembly (TML_DW_ASM, tml_dw3x3_fast)

// The 3x3 windows of OH output rows of one channel: output row oh's first window at x + oh * rstep,
// its taps x[kh * S + kw]; windows sw apart, outputs OC apart, output rows ystep apart. S and simple
// are constants where tml_dw3x3_rows can make them so: the compiler specializes the body.
static inline __attribute__((always_inline)) void tml_dw3x3_body(const int8_t *x, int rstep, int OH, int OW,
    int sw, int8_t *y, int ystep, int OC, const int8_t *w, const tml_dwq_t *r, const int S, const int simple,
    int nch, int pstep) {
  for (; nch > 0; nch--, x += pstep, y++, w += 9, r++) { // channels: planes pstep bytes apart in x
    int32_t bias = r->bias; // (simple: the fast output stage; the others go through the compact loop)
    TML_DWQ_LOCALS(r);
#define TML_DW_OUT(acc) (simple ? tml_dwq_simple((acc), mult, k, e1, zp) : tml_dwq_fast((acc), TML_DWQ_ARGS))
    int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
    for (int oh = 0; oh < OH; oh++) {
        const int8_t *p = x + oh * rstep;
        int8_t *out = y + oh * ystep;
        int n = OW;
        if (sw == 1) {
            for (; n >= 2; n -= 2, p += 2, out += 2 * OC) {
                int32_t a = p[0], b = p[1], c = p[2], d = p[3];
                int32_t d0 = bias + a * w0 + b * w1 + c * w2, d1 = bias + b * w0 + c * w1 + d * w2;
                a = p[S], b = p[S + 1], c = p[S + 2], d = p[S + 3];
                d0 += a * w3 + b * w4 + c * w5, d1 += b * w3 + c * w4 + d * w5;
                a = p[2 * S], b = p[2 * S + 1], c = p[2 * S + 2], d = p[2 * S + 3];
                d0 += a * w6 + b * w7 + c * w8, d1 += b * w6 + c * w7 + d * w8;
                out[0] = TML_DW_OUT(d0);
                out[OC] = TML_DW_OUT(d1);
            }
        }
        for (; n > 0; n--, p += sw, out += OC) {
            int32_t d = bias + p[0] * w0 + p[1] * w1 + p[2] * w2 + p[S] * w3 + p[S + 1] * w4 + p[S + 2] * w5 +
                p[2 * S] * w6 + p[2 * S + 1] * w7 + p[2 * S + 2] * w8;
            *out = TML_DW_OUT(d);
        }
    }
  }
#undef TML_DW_OUT
}

static inline int tml_dwq_is_simple(const tml_dwq_t *r) {
    return r->simple;
}

// nch channels (planes pstep bytes apart in x, outputs y, y + 1, .., weights 9 apart, stages r[]).
// Not inlined: alone, it keeps its loop's values in registers. The usual output stage gets a body
// per row pitch S (32, 64 or 256 bytes: immediate offsets), the others one compact loop.
__attribute__((noinline)) static void tml_dw3x3_rows(const int8_t *x, int S, int rstep, int OH, int OW, int sw,
    int8_t *y, int ystep, int OC, const int8_t *w, const tml_dwq_t *r, int nch, int pstep) {
    int simple = 1;
    for (int i = 0; i < nch; i++) {
        simple &= tml_dwq_is_simple(r + i);
    }
    if (!simple || TML_DW_ASM) { // a clamp inside int8 or a left shift (TFLM's converters write neither often),
        // or ARMv7-M (tml_dw3x3_v7m takes the usual stage): one compact loop
        for (; nch > 0; nch--, x += pstep, y++, w += 9, r++) {
            for (int oh = 0; oh < OH; oh++) {
                const int8_t *p = x + oh * rstep;
                int8_t *out = y + oh * ystep;
                for (int n = OW; n > 0; n--, p += sw, out += OC) {
                    *out = tml_dwq(r, p[0] * w[0] + p[1] * w[1] + p[2] * w[2] + p[S] * w[3] + p[S + 1] * w[4] +
                        p[S + 2] * w[5] + p[2 * S] * w[6] + p[2 * S + 1] * w[7] + p[2 * S + 2] * w[8]);
                }
            }
        }
    } else if (S == 32) {
        tml_dw3x3_body(x, rstep, OH, OW, sw, y, ystep, OC, w, r, 32, 1, nch, pstep);
    } else if (S == 64) {
        tml_dw3x3_body(x, rstep, OH, OW, sw, y, ystep, OC, w, r, 64, 1, nch, pstep);
    } else {
        tml_dw3x3_body(x, rstep, OH, OW, sw, y, ystep, OC, w, r, 256, 1, nch, pstep);
    }
}

// Input rows ih0 .. ih0+n-1 of one channel (xc: its first byte) into buf, rows S bytes apart, each
// from input column -pad_left on: wp bytes, x_zp outside the input. pads: the x_zp columns are
// already in place (a buffer filled once per call), only the input's bytes are copied.
__attribute__((noinline)) static void tml_dw_rows_in(int8_t *buf, int S, const int8_t *xc, const tml_conv_t *g,
    int ih0, int n, int wp, int pads) {
    int C = g->C, pl = g->pad_left;
    int i1 = g->W + pl < wp ? g->W + pl : wp; // buffer columns pl .. i1-1 are input columns 0 ..
    for (int k = 0; k < n; k++, buf += S) {
        int ih = ih0 + k;
        if (ih < 0 || ih >= g->H) {
            for (int i = 0; i < wp; i++) {
                buf[i] = (int8_t)g->x_zp;
            }
            continue;
        }
        if (!pads) {
            for (int i = 0; i < pl && i < wp; i++) {
                buf[i] = (int8_t)g->x_zp;
            }
            for (int i = i1 > pl ? i1 : pl; i < wp; i++) {
                buf[i] = (int8_t)g->x_zp;
            }
        }
        const int8_t *src = xc + ih * g->W * C;
        int i = pl;
        for (; i + 4 <= i1; i += 4, src += 4 * C) {
            int8_t a = src[0], b = src[C], c = src[2 * C], d = src[3 * C];
            buf[i] = a, buf[i + 1] = b, buf[i + 2] = c, buf[i + 3] = d;
        }
        for (; i < i1; i++, src += C) {
            buf[i] = *src;
        }
    }
}

// The input planes of nch adjacent channels (xc: the first one's first byte) into buf, plane j at
// buf + j * pstep, rows S bytes apart, from (-pad_top, -pad_left): only the input's bytes, the x_zp
// border already in place. A row at a time, 4 channels (adjacent bytes in x) per step along it: little
// per-row, per-channel set-up, which weighs most in small planes.
__attribute__((noinline)) static void tml_dw_planes_in(int8_t *buf, int S, int pstep, const int8_t *xc,
    const tml_conv_t *g, int nch, int hp, int wp) {
    int C = g->C, pt = g->pad_top, pl = g->pad_left;
    int h1 = g->H + pt < hp ? g->H : hp - pt, w1 = g->W + pl < wp ? g->W : wp - pl; // input rows, columns used
    int p2 = 2 * pstep, p3 = 3 * pstep;
    for (int ih = 0; ih < h1; ih++) {
        const int8_t *src = xc + ih * g->W * C;
        int8_t *dst = buf + (ih + pt) * S + pl;
        int j = 0;
        for (; j + 4 <= nch; j += 4, src += 4, dst += 4 * pstep) {
            const int8_t *s = src;
            int8_t *d = dst;
            for (int n = w1; n > 0; n--, s += C, d++) {
                int8_t a = s[0], b = s[1], c = s[2], e = s[3];
                d[0] = a, d[pstep] = b, d[p2] = c, d[p3] = e;
            }
        }
        for (; j + 2 <= nch; j += 2, src += 2, dst += p2) {
            const int8_t *s = src;
            int8_t *d = dst;
            for (int n = w1; n > 0; n--, s += C, d++) {
                int8_t a = s[0], b = s[1];
                d[0] = a, d[pstep] = b;
            }
        }
        if (j < nch) {
            const int8_t *s = src;
            int8_t *d = dst;
            for (int n = w1; n > 0; n--, s += C, d++) {
                *d = *s;
            }
        }
    }
}

// The same for any KH x KW window (dilation 1): taps x[kh * S + kw], weights KH*KW apart per channel.
__attribute__((noinline)) static void tml_dw_any_rows(const int8_t *x, int S, int rstep, int OH, int OW, int sw,
    int8_t *y, int ystep, int OC, const int8_t *w, int KH, int KW, const tml_dwq_t *r, int nch, int pstep) {
    int K = KH * KW, K4 = KW & ~3;
    for (; nch > 0; nch--, x += pstep, y++, w += K, r++) {
        for (int oh = 0; oh < OH; oh++) {
            const int8_t *p = x + oh * rstep;
            int8_t *out = y + oh * ystep;
            for (int n = OW; n > 0; n--, p += sw, out += OC) {
                int32_t d = 0;
                const int8_t *xr = p, *wr = w;
                for (int kh = KH; kh > 0; kh--, xr += S, wr += KW) {
                    int kw = 0;
                    for (; kw < K4; kw += 4) {
                        d += xr[kw] * wr[kw] + xr[kw + 1] * wr[kw + 1] + xr[kw + 2] * wr[kw + 2] + xr[kw + 3] * wr[kw + 3];
                    }
                    for (; kw < KW; kw++) {
                        d += xr[kw] * wr[kw];
                    }
                }
                *out = tml_dwq(r, d);
            }
        }
    }
}

// Depthwise with dilation 1 (3x3 or any window), the call's channels. A channel's input rows are copied into buf, S
// bytes apart (S = 32, 64 or 256, the smallest that holds a padded row), as many as fit: the x_zp
// border is written once per call, then only the input's bytes. Each copy serves every output row
// it holds in one tml_dw3x3_rows (tml_dw_any_rows) call per output channel (the channels of one input channel, a
// depth multiplier, share it); the next chunk of output rows keeps the input rows it shares with
// this one (moved to the top). Returns 0 (nothing done) when KH rows do not fit: the general path.
__attribute__((noinline)) static int tml_dw_padded(const int8_t *x, const int8_t *w, const tml_chan_t *q, int8_t *y,
    const tml_conv_t *g) {
    int KH = g->KH, KW = g->KW, K = KH * KW, is3x3 = KH == 3 && KW == 3;
    int wp = (g->OW - 1) * g->stride_w + KW, sh = g->stride_h;
    // + 4: slack past a row's last window (ARMv7-M's assembly has no body for 32: code size)
    int S = wp + 4 <= 32 && !(TML_DW_ASM && is3x3) ? 32 : wp + 4 <= 64 ? 64 : 256;
    int R = TML_DW_BUF / S; // rows in buf
    if (g->dil_h != 1 || g->dil_w != 1 || wp + 4 > S || R < KH) {
        return 0;
    }
    union { int8_t b[TML_DW_BUF]; uint32_t w[TML_DW_BUF / 4]; } u;
    int8_t *buf = u.b;
    uint32_t zp4 = (uint8_t)g->x_zp * 0x01010101u;
    for (int i = 0; i < TML_DW_BUF / 4; i++) {
        u.w[i] = zp4;
    }
    int per = (R - KH) / sh + 1; // output rows a full buffer serves
    int dm = g->depth_multiplier, OC = g->OC, ystep = g->OW * OC;
    int o = 0;
    int hp = (g->OH - 1) * sh + KH, k = dm == 1 ? R / hp : 0; // whole planes that fit buf at once, stacked
    int Sp = S, pstep = hp * S;
    if (dm == 1 && hp * 64 <= TML_DW_BUF && wp + 4 <= 64 && (64 - 4 - wp) / wp + 1 > k) {
        // or side by side in rows of 64 bytes, wp apart (a 3x3 plane of 7 x 7: 8 of them, 4 stacked)
        Sp = 64, pstep = wp, k = (64 - 4 - wp) / wp + 1;
    }
    if (k > 1) {
        // small planes, one output channel per input channel: k channels' planes copied, then one call
        tml_dwq_t rs[TML_DW_BUF / (3 * 32)];
        k = k < (int)(sizeof rs / sizeof rs[0]) ? k : (int)(sizeof rs / sizeof rs[0]);
        for (; o < g->ocn; o += k) {
            int nch = g->ocn - o < k ? g->ocn - o : k;
            if (nch >= 2) { // pixel by pixel pays from 2 channels on
                tml_dw_planes_in(buf, Sp, pstep, x + g->oc0 + o, g, nch, hp, wp);
            } else {
                for (int j = 0; j < nch; j++) {
                    tml_dw_rows_in(buf + j * pstep, Sp, x + g->oc0 + o + j, g, -g->pad_top, hp, wp, 1);
                }
            }
            if (is3x3 && tml_dw3x3_fast(buf, Sp, g->OH, g->OW, g->stride_w, sh, y + g->oc0 + o, ystep, OC, w + o * 9,
                q, o, nch, pstep, g)) {
                continue;
            }
            for (int j = 0; j < nch; j++) {
                int c = q->per_channel ? o + j : 0;
                tml_dwq_init(&rs[j], q->bias[o + j], q->mult[c], q->shift[c], g);
            }
            if (is3x3) {
                tml_dw3x3_rows(buf, Sp, sh * Sp, g->OH, g->OW, g->stride_w, y + g->oc0 + o, ystep, OC, w + o * 9, rs,
                    nch, pstep);
            } else {
                tml_dw_any_rows(buf, Sp, sh * Sp, g->OH, g->OW, g->stride_w, y + g->oc0 + o, ystep, OC, w + o * K,
                    KH, KW, rs, nch, pstep);
            }
        }
        return 1;
    }
    while (o < g->ocn) {
        int oc = g->oc0 + o, ic = oc / dm;
        int cn = dm - oc % dm; // output channels o .. o+cn-1 read input channel ic
        cn = cn < g->ocn - o ? cn : g->ocn - o;
        const int8_t *xc = x + ic;
        int top = 0, have = 0; // buf rows 0 .. have-1 hold input rows top ..
        for (int oh = 0; oh < g->OH; oh += per) {
            int n = g->OH - oh < per ? g->OH - oh : per;
            int ih0 = oh * sh - g->pad_top, rows = (n - 1) * sh + KH;
            int keep = have && ih0 >= top && ih0 < top + have ? top + have - ih0 : 0;
            if (keep && ih0 > top) { // the rows this chunk shares with the last, to the top
                uint32_t *s32 = u.w + (ih0 - top) * (S / 4);
                for (int i = 0; i < keep * (S / 4); i++) {
                    u.w[i] = s32[i];
                }
            }
            tml_dw_rows_in(buf + keep * S, S, xc, g, ih0 + keep, rows - keep, wp, 1);
            top = ih0, have = rows;
            if (is3x3 && tml_dw3x3_fast(buf, S, n, g->OW, g->stride_w, sh, y + oh * ystep + oc, ystep, OC, w + o * 9,
                q, o, cn, 0, g)) {
                continue;
            }
            for (int j = 0; j < cn; j++) {
                int c = q->per_channel ? o + j : 0;
                tml_dwq_t r;
                tml_dwq_init(&r, q->bias[o + j], q->mult[c], q->shift[c], g);
                if (is3x3) {
                    tml_dw3x3_rows(buf, S, sh * S, n, g->OW, g->stride_w, y + oh * ystep + oc + j, ystep, OC,
                        w + (o + j) * 9, &r, 1, 0);
                } else {
                    tml_dw_any_rows(buf, S, sh * S, n, g->OW, g->stride_w, y + oh * ystep + oc + j, ystep, OC,
                        w + (o + j) * K, KH, KW, &r, 1, 0);
                }
            }
        }
        o += cn;
    }
    return 1;
}

// ---- the general path: windows read in place, clipped at the border ----

// A window crossing the input's border: its taps kh0..kh1-1 x kw0..kw1-1 are inside (tml_clip), x
// points at the first of them; the others read x_zp, which adds x_zp * their weights (w_sum: the sum
// of all KH*KW weights, computed once per channel).
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

static inline void tml_dw_channel_general(const int8_t *xc, const int8_t *wo, int8_t *yo, const tml_dwq_t *r,
    const tml_conv_t *g) {
    int KH = g->KH, KW = g->KW, C = g->C, OC = g->OC;
    int row = g->dil_h * g->W * C, col = g->dil_w * C;
    int32_t w_sum = 0;
    for (int i = 0; i < KH * KW; i++) {
        w_sum += wo[i];
    }
    for (int oh = 0; oh < g->OH; oh++) {
        int ih0 = oh * g->stride_h - g->pad_top, kh0, kh1;
        tml_clip(ih0, g->dil_h, KH, g->H, &kh0, &kh1);
        for (int ow = 0; ow < g->OW; ow++) {
            int iw0 = ow * g->stride_w - g->pad_left, kw0, kw1;
            tml_clip(iw0, g->dil_w, KW, g->W, &kw0, &kw1);
            int32_t dot = g->x_zp * w_sum; // the window misses the input: every tap reads x_zp
            if (kh0 < kh1 && kw0 < kw1) {
                const int8_t *xw = xc + ((ih0 + kh0 * g->dil_h) * g->W + iw0 + kw0 * g->dil_w) * C;
                dot = tml_dw_window_edge(xw, row, col, wo, KW, kh0, kh1, kw0, kw1, g->x_zp, w_sum);
            }
            yo[(oh * g->OW + ow) * OC] = tml_dwq(r, dot);
        }
    }
}

// The depthwise convolution, output channels oc0 .. oc0+ocn-1: w is (ocn, KH, KW); output channel oc
// reads input channel oc / depth_multiplier.
static inline void tml_depthwise_conv2d(const int8_t *x, const int8_t *w, const tml_chan_t *q, int8_t *y,
    const tml_conv_t *g) {
    if (tml_dw_padded(x, w, q, y, g)) {
        return;
    }
    int K = g->KH * g->KW, dm = g->depth_multiplier;
    int ic = g->oc0 / dm, m = g->oc0 % dm; // input channel of output channel oc0 + o
    const int8_t *wo = w;
    for (int o = 0; o < g->ocn; o++, wo += K) {
        int c = q->per_channel ? o : 0;
        tml_dwq_t r;
        tml_dwq_init(&r, q->bias[o], q->mult[c], q->shift[c], g);
        tml_dw_channel_general(x + ic, wo, y + g->oc0 + o, &r, g);
        if (++m == dm) {
            m = 0;
            ic++;
        }
    }
}

#endif // TINYML_DEPTHWISE_H
