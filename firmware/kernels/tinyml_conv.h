// tinyml's conv2d: 4 output channels x 2 pixels a pass over interleaved weights, SMLAD on armv7emsp.
// Plain C99 (plus a few armv7-m instructions where gcc would not find them), bit-exact with TFLite
// Micro's reference kernel and device_lib/tinyml/kernels_py.py's conv2d (docs/model-format.md gives
// the weight layout, docs/kernels.md the arguments). Included by tinyml_nn.h, whose types it uses.
#ifndef TINYML_CONV_H
#define TINYML_CONV_H

#include "tinyml_nn.h"

// ---- conv2d: 4 output channels x 2 pixels ----
//
// w holds the call's ocn channels as the converter writes them (docs/model-format.md, "conv_2d
// weights"): each block of 4 channels interleaved, for every pair of taps (k, k+1) the 8 bytes
// [c0 k, c1 k, c0 k+1, c1 k+1, c2 k, c3 k, c2 k+1, c3 k+1], an unpaired last tap (K odd) as
// [c0, c1, c2, c3]; the last ocn % 4 channels as plain rows of K bytes. The two pixels' windows are
// gathered into a pair buffer, tap by tap: on armv7emsp (SIMD) as int16 [x0 k, x0 k+1, x1 k, x1 k+1]
// per pair of taps, so that one SXTB16 of a weight word gives a channel's (k, k+1) pair for SMLAD;
// elsewhere as int8 [x0 k, x1 k] per tap.


// Bytes of the C stack tml_conv2d takes for its two pair buffers (4 windows: K <= 256 taps); larger
// windows use the caller's scratch.
#define TML_CONV_PAIRBUF (1024 * (int)sizeof(tml_px_t))
// Output channels per pass over two pixel pairs: their 4 x TML_CONV_GROUP sums wait on the C stack.
#define TML_CONV_GROUP 32

// Bytes of one pair buffer: 2 windows of K taps (rounded up to a whole pair of taps, 4-byte aligned).
static inline int tml_conv_pair_bytes(int K) {
    return 2 * ((K + 1) & ~1) * (int)sizeof(tml_px_t);
}

// Bytes of scratch tml_conv2d needs from its caller: 0 when two pair buffers of K = KH*KW*C taps fit
// TML_CONV_PAIRBUF bytes (C stack), else their size.
static inline int tml_conv2d_patch_bytes(const tml_conv_t *g) {
    int n = 2 * tml_conv_pair_bytes(g->KH * g->KW * g->C);
    return n <= TML_CONV_PAIRBUF ? 0 : n;
}

// Taps k0 .. k0+n-1 of pixel p into the pair buffer from src.
__attribute__((noinline)) static void tml_conv_put(tml_px_t *buf, int p, int k0, const int8_t *src, int n) {
#if TML_CONV_DSP
    int k = k0, i = 0;
    if (!(k & 1) && n >= 4) { // 4 taps a turn: one word, SXTB16 and PKH into two (k, k+1) pairs
        tml_px_t *d = buf + TML_PX_AT(k, p);
        for (; i + 4 <= n; i += 4, d += 8) {
            int32_t v = tml_dsp_load4(src + i), e = tml_dsp_sxtb16(v), o = tml_dsp_sxtb16_ror8(v), lo, hi;
            __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(lo) : "r"(e), "r"(o));
            __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(hi) : "r"(o), "r"(e));
            __builtin_memcpy(d, &lo, 4);
            __builtin_memcpy(d + 4, &hi, 4);
        }
        k += i;
    }
    for (; i < n; i++, k++) {
        buf[TML_PX_AT(k, p)] = src[i];
    }
#else
    tml_px_t *d = buf + TML_PX_AT(k0, p);
    for (int i = 0; i < n; i++, d += 2) {
        *d = src[i];
    }
#endif
}

// What tml_conv_gather needs of tml_conv_t, copied field by field: the non-inlined functions take no
// pointer to the caller's tml_conv_t, whose copy would then be a memcpy call (a native module has no libc).
typedef struct {
    int H, W, C, KH, KW, dil_h, dil_w, x_zp;
} tml_win_t;

// Pixel p's window (top-left tap at input (ih0, iw0)) into the pair buffer, taps outside the input
// reading x_zp. A window inside the input whose rows are runs (KW == 1 or dil_w == 1) copies runs.
static void tml_conv_gather(tml_px_t *buf, int p, const int8_t *x, const tml_win_t *g, int ih0, int iw0) {
    int C = g->C, k = 0;
    int rows = g->KW == 1 || g->dil_w == 1, run = rows ? g->KW * C : C, step = rows ? g->KW : 1;
    for (int kh = 0; kh < g->KH; kh++) {
        int ih = ih0 + kh * g->dil_h;
        for (int kw = 0; kw < g->KW; kw += step) {
            int iw = iw0 + kw * g->dil_w, last = iw + (step - 1) * g->dil_w;
            if (ih >= 0 && ih < g->H && iw >= 0 && last < g->W) {
                tml_conv_put(buf, p, k, x + (ih * g->W + iw) * C, run);
                k += run;
                continue;
            }
            for (int i = 0; i < run; i++, k++) { // tap by tap: a run may cross the border
                int c = i % C, t = iw + (i / C) * g->dil_w;
                int in = ih >= 0 && ih < g->H && t >= 0 && t < g->W;
                buf[TML_PX_AT(k, p)] = in ? x[(ih * g->W + t) * C + c] : (tml_px_t)g->x_zp;
            }
        }
    }
}

// The dot products of nb blocks of 4 interleaved channels (w) with the pair buffer's 2 windows of K
// taps, plus the channels' biases: s[8b + 2j + p] = bias[4b + j] + block b's channel j . pixel p (int32
// wrapping as TFLM's bias + dot). Not inlined: alone, its loop keeps its values in registers.
__attribute__((noinline)) static void tml_conv_blocks(const tml_px_t *xbuf, const int8_t *wb, int K, int nb,
    const int32_t *bias, int32_t *s) {
    const tml_px_t *end = xbuf + 4 * (K >> 1);
    int turns = K >> 2; // two pairs of taps a turn
    (void)turns, (void)end;
    for (; nb > 0; nb--, s += 8, bias += 4) {
        const tml_px_t *xb = xbuf;
#if TML_CONV_DSP
        int32_t a00 = bias[0], a10 = bias[1], a20 = bias[2], a30 = bias[3];
        int32_t a01 = a00, a11 = a10, a21 = a20, a31 = a30;
        // per pair of taps: x0 = (x0 k, x0 k+1), x1 likewise (one LDRD of the pair buffer); SXTB16 of the
        // weight word [c0 k, c1 k, c0 k+1, c1 k+1] is c0's (k, k+1), of the word rotated by 8 c1's: 16 MACs
        // in 8 SMLAD, 15 instructions; two pairs a turn (an odd number of pairs enters at the second), 33
        // instructions for 32 MACs with the loop. In assembly: in C, gcc spills accumulators.
        if (xb < end) {
            int32_t x0, x1, w, c = (K >> 1) & 1;
#define TML_CONV_DSP_PAIR \
                "ldrd %[x0], %[x1], [%[xb]], #8\n\t" \
                "ldr %[w], [%[wb], #4]\n\t" \
                "sxtb16 %[c], %[w]\n\t" \
                "sxtb16 %[w], %[w], ror #8\n\t" \
                "smlad %[a20], %[c], %[x0], %[a20]\n\t" \
                "smlad %[a21], %[c], %[x1], %[a21]\n\t" \
                "smlad %[a30], %[w], %[x0], %[a30]\n\t" \
                "smlad %[a31], %[w], %[x1], %[a31]\n\t" \
                "ldr %[w], [%[wb]], #8\n\t" \
                "sxtb16 %[c], %[w]\n\t" \
                "sxtb16 %[w], %[w], ror #8\n\t" \
                "smlad %[a00], %[c], %[x0], %[a00]\n\t" \
                "smlad %[a01], %[c], %[x1], %[a01]\n\t" \
                "smlad %[a10], %[w], %[x0], %[a10]\n\t" \
                "smlad %[a11], %[w], %[x1], %[a11]\n\t"
            __asm__ volatile(
                "cmp %[c], #0\n\t"
                "bne 2f\n\t"
                "1:\n\t"
                TML_CONV_DSP_PAIR
                "2:\n\t"
                TML_CONV_DSP_PAIR
                "ldr %[c], %[end]\n\t"
                "cmp %[xb], %[c]\n\t"
                "bne 1b\n\t"
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [a20] "+r"(a20),
                  [a21] "+r"(a21), [a30] "+r"(a30), [a31] "+r"(a31), [xb] "+r"(xb), [wb] "+r"(wb),
                  [x0] "=&r"(x0), [x1] "=&r"(x1), [w] "=&r"(w), [c] "+r"(c)
                : [end] "m"(end)
                : "cc", "memory");
#undef TML_CONV_DSP_PAIR
        }
        if (K & 1) { // the unpaired last tap: [x0, -, x1, -]
            int32_t x0 = xb[0], x1 = xb[2];
#else
        // the biases added after the loop: as the loop's first values, gcc spills one more register
        int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0, a20 = 0, a21 = 0, a30 = 0, a31 = 0;
        // per pair of taps: 4 input bytes, 8 weight bytes, each loaded once for 2 or 4 MACs; two pairs a turn
#define TML_CONV_PAIR(X, W) \
    x0 = (X)[0], x1 = (X)[1]; \
    w = (W)[0], a00 += x0 * w, a01 += x1 * w; \
    w = (W)[1], a10 += x0 * w, a11 += x1 * w; \
    w = (W)[4], a20 += x0 * w, a21 += x1 * w; \
    w = (W)[5], a30 += x0 * w, a31 += x1 * w; \
    x0 = (X)[2], x1 = (X)[3]; \
    w = (W)[2], a00 += x0 * w, a01 += x1 * w; \
    w = (W)[3], a10 += x0 * w, a11 += x1 * w; \
    w = (W)[6], a20 += x0 * w, a21 += x1 * w; \
    w = (W)[7], a30 += x0 * w, a31 += x1 * w
        int32_t x0, x1, w;
#if defined(__XTENSA__)
        // one pixel at a time, 4 accumulators: with 8, gcc spills them out of xtensa's 14 free registers
        const int8_t *w0 = wb;
        for (int p = 0; p < 2; p++) {
            const tml_px_t *xp = xbuf + p;
            int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
            for (wb = w0; xp < end + p; xp += 4, wb += 8) {
                x0 = xp[0], x1 = xp[2];
                c0 += x0 * wb[0] + x1 * wb[2];
                c1 += x0 * wb[1] + x1 * wb[3];
                c2 += x0 * wb[4] + x1 * wb[6];
                c3 += x0 * wb[5] + x1 * wb[7];
            }
            if (p) {
                a01 += c0, a11 += c1, a21 += c2, a31 += c3;
            } else {
                a00 += c0, a10 += c1, a20 += c2, a30 += c3;
            }
        }
        (void)w, (void)turns;
        xb = end;
#else
        for (int i = turns; i > 0; i--, xb += 8, wb += 16) {
            TML_CONV_PAIR(xb, wb);
            TML_CONV_PAIR(xb + 4, wb + 8);
        }
        if (K & 2) { // an odd number of pairs
            TML_CONV_PAIR(xb, wb);
            xb += 4, wb += 8;
        }
#endif
#undef TML_CONV_PAIR
        if (K & 1) { // the unpaired last tap: [x0, x1]
            x0 = xb[0], x1 = xb[1];
#endif
            a00 += x0 * wb[0], a01 += x1 * wb[0];
            a10 += x0 * wb[1], a11 += x1 * wb[1];
            a20 += x0 * wb[2], a21 += x1 * wb[2];
            a30 += x0 * wb[3], a31 += x1 * wb[3];
            wb += 4;
        }
#if !TML_CONV_DSP
        a00 += bias[0], a01 += bias[0], a10 += bias[1], a11 += bias[1];
        a20 += bias[2], a21 += bias[2], a30 += bias[3], a31 += bias[3];
#endif
        s[0] = a00, s[1] = a01, s[2] = a10, s[3] = a11, s[4] = a20, s[5] = a21, s[6] = a30, s[7] = a31;
    }
}

// n plain rows of weights (the channels after the blocks) with the pair buffer's 2 windows, plus their
// biases: s[2o + p].
static void tml_conv_rows(const tml_px_t *xb, const int8_t *w, int K, int n, const int32_t *bias, int32_t *s) {
    for (int o = 0; o < n; o++, w += K) {
        int32_t a0 = bias[o], a1 = a0;
        for (int k = 0; k < K; k++) {
            a0 += xb[TML_PX_AT(k, 0)] * w[k];
            a1 += xb[TML_PX_AT(k, 1)] * w[k];
        }
        s[2 * o] = a0, s[2 * o + 1] = a1;
    }
}

// TFLM's SaturatingRoundingDoublingHighMul of a and b when they are not both INT32_MIN (the fast
// output stage's case): (a * b + 2**30) >> 31 on the 64-bit product (see tml_outq). On armv7-m one SMLAL
// (gcc makes a 64 x 64 multiply of it once the sign extension of b is hoisted out of a loop).
static inline int32_t tml_srdhm_fast(int32_t a, int32_t b) {
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
    uint32_t lo = (uint32_t)1 << 30;
    int32_t hi = 0;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(a), "r"(b));
    return (int32_t)((lo >> 31) | ((uint32_t)hi << 1));
#else
    return (int32_t)(((int64_t)a * b + (1 << 30)) >> 31);
#endif
}

// Whether every channel of the call takes the fast output stage (tml_outq_t's fast): 1, or 2 when each also
// has mult >= 0 and shift in -23 .. -2, the requantization of tml_rq_arm (TFLM's quantized multipliers are
// in 2**30 .. 2**31-1, and the usual scales give right shifts of 5 to 15).
static inline int tml_conv_all_fast(const tml_chan_t *q, int ocn) {
    int n = q->per_channel ? ocn : 1, r = 2;
    for (int c = 0; c < n; c++) {
        int32_t m = q->mult[c], sh = q->shift[c];
        if (m == TML_INT32_MIN || sh > 31 || sh < -31) {
            return 0;
        }
        r = m < 0 || sh > -2 || sh < -23 ? 1 : r;
    }
    return r;
}

#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
// zp + TFLM's requantization of acc (no left shift: shift = -(sm1 + 1) in -23 .. -2, mult >= 0), saturated
// to int8, in 6 instructions. The rounding doubling high multiply, the rounding right shift by s and the
// zero point make one 64-bit sum and one floor: floor((acc * mult + 2**30 + 2**(s+30) + zp * 2**(s+31)
// - [acc < 0] * 2**31) / 2**(31+s)), SMLAL onto hi:lo, hik = 2**(s-2) + zp * 2**(s-1), then hi >> (s-1).
// TFLM's two roundings nest as floors do (floor((floor(a/m) + c)/n) = floor((a + c*m)/(m*n))); its round
// half away from zero needs the sign of the high product, for which acc's stands when mult >= 0 (where
// they differ the high product is 0 and the rounding the same). s <= 23 keeps hi within int32.
static inline int8_t tml_rq_arm(int32_t acc, int32_t mult, int32_t hik, int32_t sm1) {
    uint32_t lo = ((uint32_t)acc & 0x80000000u) | 0x40000000u;
    int32_t hi = hik + (acc >> 31);
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(mult));
    int32_t v = hi >> sm1;
    __asm__("ssat %0, #8, %1" : "=r"(v) : "r"(v));
    return (int8_t)v;
}
#endif

// The outputs of channels o0 .. o0+n-1 (of the call) for pixels p < np (up to 4) from their sums (bias
// included), sa[2o + p] for pixels 0 and 1, sb[2o + p - 2] for pixels 2 and 3: out[o + p * OC], zero
// point zp, clamped to act_min .. act_max. fast: tml_conv_all_fast. A channel's constants are set up
// once for its 4 outputs.
__attribute__((noinline)) static void tml_conv_outs(int OC, int32_t zp, int32_t act_min, int32_t act_max,
    const tml_chan_t *q, int fast, int o0, int n, const int32_t *sa, const int32_t *sb, int8_t *out, int np) {
    int step = q->per_channel;
    const int32_t *mp = q->mult + step * o0, *sp = q->shift + step * o0;
    if (!fast) {
        for (int o = 0; o < n; o++, mp += step, sp += step) {
            for (int p = 0; p < np; p++) {
                int32_t acc = p < 2 ? sa[2 * o + p] : sb[2 * o + p - 2];
                out[o + p * OC] = tml_out8(tml_requantize(acc, *mp, *sp), zp, act_min, act_max);
            }
        }
        return;
    }
    int8_t *out2 = out + 2 * OC; // pixels 2 and 3
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
    if (fast == 2 && np == 4 && act_min == -128 && act_max == 127) { // the usual case: 4 outputs a channel
        int32_t zz = 2 * zp + 1; // hik = 2**(s-2) + zp * 2**(s-1) = (2 zp + 1) * 2**(s-2)
        for (int o = 0; o < n; o++, mp += step, sp += step, sa += 2, sb += 2, out++) {
            int32_t mult = *mp, sm1 = -1 - *sp, hik = zz * (1 << (sm1 - 1));
            out[0] = tml_rq_arm(sa[0], mult, hik, sm1);
            out[OC] = tml_rq_arm(sa[1], mult, hik, sm1);
            out[2 * OC] = tml_rq_arm(sb[0], mult, hik, sm1);
            out[3 * OC] = tml_rq_arm(sb[1], mult, hik, sm1);
        }
        return;
    }
#endif
    int32_t lo = act_min - zp, hi = act_max - zp;
    for (int o = 0; o < n; o++, mp += step, sp += step, sa += 2, sb += 2, out++, out2++) {
        int32_t mult = *mp, shift = *sp;
        int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
        int32_t mask = (int32_t)(((uint32_t)1 << right) - 1), half = mask >> 1, h, v;
        // one output: requantize (the sum wraps as TFLM's int32 when shifted left), clamp, zero point
#define TML_CONV_OUT1(ACC, DST) \
        h = tml_srdhm_fast((int32_t)((uint32_t)(ACC) << left), mult); \
        v = (h >> right) + ((h & mask) > half + (h < 0)); \
        v = v < lo ? lo : v; \
        v = v > hi ? hi : v; \
        DST = (int8_t)(v + zp)
        TML_CONV_OUT1(sa[0], out[0]);
        if (np > 1) {
            TML_CONV_OUT1(sa[1], out[OC]);
        }
        if (np > 2) {
            TML_CONV_OUT1(sb[0], out2[0]);
        }
        if (np > 3) {
            TML_CONV_OUT1(sb[1], out2[OC]);
        }
#undef TML_CONV_OUT1
    }
}

// The convolution, output channels oc0 .. oc0+ocn-1 (w: their weights, interleaved as above), y the
// whole (OH, OW, OC) output. Four output pixels at a time, two pairs: their windows into two pair
// buffers, then TML_CONV_GROUP channels at a time their sums (blocks of 4 channels: 8 dot products in
// one pass over a pair buffer; the plain channels after them), then their outputs. patch:
// tml_conv2d_patch_bytes(g) bytes of scratch (NULL when that is 0).
__attribute__((always_inline)) static inline void tml_conv2d(const int8_t *x, const int8_t *w, const tml_chan_t *q,
    int8_t *y, const tml_conv_t *g, int8_t *patch) {
    int K = g->KH * g->KW * g->C, ocn = g->ocn, nb = ocn >> 2, npix = g->OH * g->OW;
    union {
        int32_t align;
        int8_t bytes[TML_CONV_PAIRBUF];
    } stack;
    int32_t sa[2 * TML_CONV_GROUP], sb[2 * TML_CONV_GROUP];
    int8_t *bytes = patch ? patch : stack.bytes;
    tml_px_t *bufa = (tml_px_t *)(void *)bytes, *bufb = (tml_px_t *)(void *)(bytes + tml_conv_pair_bytes(K));
    int fast = tml_conv_all_fast(q, ocn);
    tml_win_t win;
    win.H = g->H, win.W = g->W, win.C = g->C, win.KH = g->KH, win.KW = g->KW, win.dil_h = g->dil_h;
    win.dil_w = g->dil_w, win.x_zp = g->x_zp;
    // pointwise (1x1, stride 1, the output the input's size): pixel i's window is the C bytes at x + i * C
    int pointwise = g->KH == 1 && g->KW == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_top == 0 &&
        g->pad_left == 0 && g->OH == g->H && g->OW == g->W;
    for (int pix = 0; pix < npix; pix += 4) {
        int np = npix - pix < 4 ? npix - pix : 4;
        for (int p = 0; p < 4 && (p < 2 || np > 2); p++) { // a last odd pixel fills its pair's both slots
            int at = pix + (p < np ? p : np - 1), oh = at / g->OW, ow = at % g->OW;
            if (pointwise) {
                tml_conv_put(p < 2 ? bufa : bufb, p & 1, 0, x + at * K, K);
                continue;
            }
            tml_conv_gather(p < 2 ? bufa : bufb, p & 1, x, &win, oh * g->stride_h - g->pad_top,
                ow * g->stride_w - g->pad_left);
        }
        int8_t *out = y + pix * g->OC + g->oc0;
        for (int o = 0; o < ocn; o += TML_CONV_GROUP) {
            int n = ocn - o < TML_CONV_GROUP ? ocn - o : TML_CONV_GROUP;
            int blocks = o + n <= 4 * nb ? n >> 2 : nb - (o >> 2); // whole blocks among these n
            const int8_t *wo = w + o * K, *wr = w + (o + 4 * blocks) * K;
            const int32_t *bo = q->bias + o, *br = bo + 4 * blocks;
            tml_conv_blocks(bufa, wo, K, blocks, bo, sa);
            tml_conv_rows(bufa, wr, K, n - 4 * blocks, br, sa + 8 * blocks);
            if (np > 2) {
                tml_conv_blocks(bufb, wo, K, blocks, bo, sb);
                tml_conv_rows(bufb, wr, K, n - 4 * blocks, br, sb + 8 * blocks);
            }
            tml_conv_outs(g->OC, g->y_zp, g->act_min, g->act_max, q, fast, o, n, sa, sb, out + o, np);
        }
    }
}

#endif // TINYML_CONV_H
