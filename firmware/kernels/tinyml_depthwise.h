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
// range. On armv7emsp (Cortex-M4/M7) the 3x3 taps go two at a time through SMLAD. Rows too wide for
// the stack buffer, and dilation, take the general path (per-window clipping, the weight sum taken
// once per channel).
#ifndef TINYML_DEPTHWISE_H
#define TINYML_DEPTHWISE_H

#include "tinyml_nn.h"


#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
// Cortex-M4/M7 (armv7emsp): two 16x16 MACs per instruction
#define TML_DW_DSP 1
static inline int32_t tml_sxtb16(int32_t x) { // bytes 0 and 2, sign-extended into the two int16 lanes
    int32_t r;
    __asm__ ("sxtb16 %0, %1" : "=r" (r) : "r" (x));
    return r;
}
static inline int32_t tml_sxtb16_ror8(int32_t x) { // bytes 1 and 3
    int32_t r;
    __asm__ ("sxtb16 %0, %1, ror #8" : "=r" (r) : "r" (x));
    return r;
}
static inline int32_t tml_smlad(int32_t a, int32_t b, int32_t acc) { // acc + a.lo*b.lo + a.hi*b.hi
    int32_t r;
    __asm__ ("smlad %0, %1, %2, %3" : "=r" (r) : "r" (a), "r" (b), "r" (acc));
    return r;
}
static inline int32_t tml_smlabb(int32_t a, int32_t b, int32_t acc) { // acc + a.lo*b.lo
    int32_t r;
    __asm__ ("smlabb %0, %1, %2, %3" : "=r" (r) : "r" (a), "r" (b), "r" (acc));
    return r;
}
static inline int32_t tml_smlatb(int32_t a, int32_t b, int32_t acc) { // acc + a.hi*b.lo
    int32_t r;
    __asm__ ("smlatb %0, %1, %2, %3" : "=r" (r) : "r" (a), "r" (b), "r" (acc));
    return r;
}
static inline int32_t tml_load4(const int8_t *p) { // 4 bytes, any alignment (armv7-m loads unaligned words)
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return (int32_t)v;
}
static inline int32_t tml_pack16(int32_t lo, int32_t hi) { // two int16 lanes
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}
#else
#define TML_DW_DSP 0
#endif

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

// ---- armv7m (Cortex-M3): the 3x3 windows in assembly ----
// GCC spills the 9 weights and the output stage's constants of the loops above on armv7m (about 75
// instructions for two windows at stride 1). This loop keeps the output stage (bias, multiplier, the
// rounding constant k with the zero point folded into its high word, the shift e - 1) in registers
// across a channel's plane, reads the weights from its frame and makes two outputs per step: 57
// instructions for 18 MACs at stride 1 (60 at stride 2), tml_dwq_simple's arithmetic exactly.
#if defined(__ARM_ARCH_7M__) && !TML_DW_DSP
#define TML_DW_V7M 1

typedef struct { // a channel's usual output stage, as tml_dw3x3_v7m reads it
    int32_t bias, mult, klo, khi, e1;
} tml_dwc_t;

typedef struct { // the arguments of tml_dw3x3_v7m (offsets fixed in its code)
    const int8_t *x;    // 0: channel 0's plane, output row 0's first window; planes pstep apart
    int8_t *y;          // 4: channel 0's first output; channels 1 apart
    const tml_dwc_t *c; // 8: the channels' output stages
    const int8_t *w;    // 12: the channels' weights, 9 apart
    int32_t nch;        // 16: channels (>= 1)
    int32_t pstep;      // 20
    int32_t OH;         // 24: output rows (>= 1)
    int32_t pairs;      // 28: bytes a row's pairs of windows advance x: (OW / 2) * 2 * sw
    int32_t odd;        // 32: OW odd: a last window after the pairs
    int32_t radv;       // 36: x from the end of a row's pairs to the next row's first window
    int32_t yadv;       // 40: y likewise
    int32_t OC;         // 44: bytes between outputs
    int32_t S;          // 48: 64 or 256: bytes between rows in x (no body for 32: code size)
    int32_t sw;         // 52: 1 or 2
} tml_dwa_t;

// A channel's output stage as tml_dwc_t when it is tml_dwq_t's simple one and the zero point folds
// into k's high word (zp << (e - 1) far from overflowing); else 0.
static inline int tml_dwc_init(tml_dwc_t *c, int32_t bias, int32_t mult, int32_t shift, const tml_conv_t *g) {
    int e = -shift;
    if (mult <= (1 << 30) || e < 1 || e > 21 || g->act_min != -128 || g->act_max != 127) {
        return 0;
    }
    int64_t k = ((int64_t)1 << 30) + ((int64_t)1 << (30 + e));
    c->bias = bias, c->mult = mult, c->klo = (int32_t)(uint32_t)k, c->e1 = e - 1;
    c->khi = (int32_t)(k >> 32) + (int32_t)((uint32_t)g->y_zp << (e - 1));
    return 1;
}

// Frame: [sp, 0..8] the channel's weights, 12 args, 16 channels left, 20 rows left, 24 the channel's
// x, 28 its y, 32 the next output stage, 36 the pair loop (by S and stride), 40 the next weights, 44
// odd, 48 radv, 52 yadv, 56 pairs. In the loops: r0 x, r1 y, r2 the end of the row's pairs, r3 OC,
// r4/r5 the two sums, r6-r8 taps and weights, r9 bias, r10 mult, r11 klo, r12 khi, lr e - 1.
#define TML_DW_R1(o, wo, A0, A1) /* a row of two windows at stride 1: taps x[o .. o+3], weights wo .. wo+2 */ \
    "ldrsb r6, [r0, #" o "]\n ldrsb r7, [r0, #" o "+1]\n ldrsb r8, [sp, #" wo "]\n" \
    "mla r4, r6, r8, " A0 "\n mla r5, r7, r8, " A1 "\n" \
    "ldrsb r6, [r0, #" o "+2]\n ldrsb r8, [sp, #" wo "+1]\n mla r4, r7, r8, r4\n mla r5, r6, r8, r5\n" \
    "ldrsb r7, [r0, #" o "+3]\n ldrsb r8, [sp, #" wo "+2]\n mla r4, r6, r8, r4\n mla r5, r7, r8, r5\n"
#define TML_DW_R2(o, wo, A0, A1) /* stride 2: taps x[o .. o+4], column o+2 shared */ \
    "ldrsb r6, [r0, #" o "]\n ldrsb r7, [r0, #" o "+2]\n ldrsb r8, [sp, #" wo "]\n" \
    "mla r4, r6, r8, " A0 "\n mla r5, r7, r8, " A1 "\n" \
    "ldrsb r8, [sp, #" wo "+2]\n ldrsb r6, [r0, #" o "+4]\n mla r4, r7, r8, r4\n mla r5, r6, r8, r5\n" \
    "ldrsb r8, [sp, #" wo "+1]\n ldrsb r6, [r0, #" o "+1]\n ldrsb r7, [r0, #" o "+3]\n" \
    "mla r4, r6, r8, r4\n mla r5, r7, r8, r5\n"
#define TML_DW_Q(acc, st) /* tml_dwq_simple: k - (acc < 0) * 2**31 + acc * mult, high word >> e - 1, SSAT */ \
    "and r6, " acc ", #0x80000000\n subs r6, r11, r6\n sbc r7, r12, #0\n smlal r6, r7, " acc ", r10\n" \
    "asr r7, r7, lr\n ssat r7, #8, r7\n " st "\n"
#define TML_DW_PAIRS(L, R, S, S2, step) /* a row's pairs of windows, then its last one */ \
    ".Ltml_dw_p" L ":\n cmp r0, r2\n beq .Ltml_dw_t" S "\n" \
    "1:\n" R("0", "0", "r9", "r9") R(S, "3", "r4", "r5") R(S2, "6", "r4", "r5") \
    TML_DW_Q("r4", "strb r7, [r1]") TML_DW_Q("r5", "strb r7, [r1, r3]") \
    "add r1, r1, r3, lsl #1\n adds r0, #" step "\n cmp r0, r2\n bne 1b\n b .Ltml_dw_t" S "\n"
#define TML_DW_TAP(o, wo, A) "ldrsb r6, [r0, #" o "]\n ldrsb r8, [sp, #" wo "]\n mla r4, r6, r8, " A "\n"
#define TML_DW_TAIL(S, S2) \
    ".Ltml_dw_t" S ":\n ldr r4, [sp, #44]\n cmp r4, #0\n beq .Ltml_dw_e\n" \
    TML_DW_TAP("0", "0", "r9") TML_DW_TAP("1", "1", "r4") TML_DW_TAP("2", "2", "r4") \
    TML_DW_TAP(S, "3", "r4") TML_DW_TAP(S "+1", "4", "r4") TML_DW_TAP(S "+2", "5", "r4") \
    TML_DW_TAP(S2, "6", "r4") TML_DW_TAP(S2 "+1", "7", "r4") TML_DW_TAP(S2 "+2", "8", "r4") \
    TML_DW_Q("r4", "strb r7, [r1]") "b .Ltml_dw_e\n"

__attribute__((naked, noinline)) static void tml_dw3x3_v7m(const tml_dwa_t *a) {
    (void)a;
    __asm__ volatile (
        ".syntax unified\n"
        "push {r4-r11, lr}\n sub sp, #60\n"
        "str r0, [sp, #12]\n"
        "ldr r1, [r0, #16]\n str r1, [sp, #16]\n ldr r1, [r0, #0]\n str r1, [sp, #24]\n"
        "ldr r1, [r0, #4]\n str r1, [sp, #28]\n ldr r1, [r0, #8]\n str r1, [sp, #32]\n"
        "ldr r1, [r0, #12]\n str r1, [sp, #40]\n ldr r1, [r0, #32]\n str r1, [sp, #44]\n"
        "ldr r1, [r0, #36]\n str r1, [sp, #48]\n ldr r1, [r0, #40]\n str r1, [sp, #52]\n"
        "ldr r1, [r0, #28]\n str r1, [sp, #56]\n ldr r3, [r0, #44]\n"
        "ldr r1, [r0, #48]\n ldr r2, [r0, #52]\n"
        "cmp r2, #1\n bne 2f\n"
        "adr.w r4, .Ltml_dw_p64s1\n cmp r1, #64\n beq 3f\n"
        "adr.w r4, .Ltml_dw_p256s1\n b 3f\n"
        "2:\n adr.w r4, .Ltml_dw_p64s2\n cmp r1, #64\n beq 3f\n"
        "adr.w r4, .Ltml_dw_p256s2\n"
        "3:\n orr r4, r4, #1\n str r4, [sp, #36]\n"
        // a channel: its output stage into registers, its weights into the frame
        ".Ltml_dw_c:\n ldr r4, [sp, #32]\n ldr r9, [r4]\n ldr r10, [r4, #4]\n ldr r11, [r4, #8]\n"
        "ldr r12, [r4, #12]\n ldr lr, [r4, #16]\n adds r4, #20\n str r4, [sp, #32]\n"
        "ldr r4, [sp, #40]\n ldr r5, [r4]\n ldr r6, [r4, #4]\n ldrb r7, [r4, #8]\n adds r4, #9\n str r4, [sp, #40]\n"
        "str r5, [sp]\n str r6, [sp, #4]\n strb r7, [sp, #8]\n"
        "ldr r4, [sp, #12]\n ldr r4, [r4, #24]\n str r4, [sp, #20]\n ldr r0, [sp, #24]\n ldr r1, [sp, #28]\n"
        // a row
        ".Ltml_dw_r:\n ldr r2, [sp, #56]\n add r2, r0\n ldr r4, [sp, #36]\n bx r4\n"
        TML_DW_PAIRS("64s1", TML_DW_R1, "64", "128", "2")
        TML_DW_PAIRS("256s1", TML_DW_R1, "256", "512", "2")
        TML_DW_PAIRS("64s2", TML_DW_R2, "64", "128", "4")
        TML_DW_PAIRS("256s2", TML_DW_R2, "256", "512", "4")
        TML_DW_TAIL("64", "128")
        TML_DW_TAIL("256", "512")
        // the row's end, the channel's end
        ".Ltml_dw_e:\n ldr r4, [sp, #48]\n add r0, r4\n ldr r4, [sp, #52]\n add r1, r4\n"
        "ldr r4, [sp, #20]\n subs r4, #1\n str r4, [sp, #20]\n bne .Ltml_dw_r\n"
        "ldr r4, [sp, #24]\n ldr r5, [sp, #12]\n ldr r5, [r5, #20]\n add r4, r5\n str r4, [sp, #24]\n"
        "ldr r4, [sp, #28]\n adds r4, #1\n str r4, [sp, #28]\n"
        "ldr r4, [sp, #16]\n subs r4, #1\n str r4, [sp, #16]\n bne .Ltml_dw_c\n"
        "add sp, #60\n pop {r4-r11, pc}\n");
}
#undef TML_DW_R1
#undef TML_DW_R2
#undef TML_DW_Q
#undef TML_DW_PAIRS
#undef TML_DW_TAP
#undef TML_DW_TAIL

// The 3x3 windows of nch channels (planes pstep bytes apart in x, weights w, w + 9, .., stages from
// q's channels o ..) by tml_dw3x3_v7m when every channel's output stage is the usual one; else 0.
#define TML_DW_NCH 10
__attribute__((noinline)) static int tml_dw3x3_fast(const int8_t *x, int S, int OH, int OW, int sw, int sh,
    int8_t *y, int ystep, int OC, const int8_t *w, const tml_chan_t *q, int o, int nch, int pstep,
    const tml_conv_t *g) {
    tml_dwc_t cs[TML_DW_NCH];
    if (nch > TML_DW_NCH || (sw != 1 && sw != 2) || OH < 1 || OW < 1 || nch < 1) {
        return 0;
    }
    for (int j = 0; j < nch; j++) {
        int c = q->per_channel ? o + j : 0;
        if (!tml_dwc_init(&cs[j], q->bias[o + j], q->mult[c], q->shift[c], g)) {
            return 0;
        }
    }
    int np = OW / 2;
    tml_dwa_t a = {x, y, cs, w, nch, pstep, OH, np * 2 * sw, OW & 1, sh * S - np * 2 * sw, ystep - np * 2 * OC,
        OC, S, sw};
    tml_dw3x3_v7m(&a);
    return 1;
}
#else
#define TML_DW_V7M 0
static inline int tml_dw3x3_fast(const int8_t *x, int S, int OH, int OW, int sw, int sh, int8_t *y, int ystep,
    int OC, const int8_t *w, const tml_chan_t *q, int o, int nch, int pstep, const tml_conv_t *g) {
    (void)x, (void)S, (void)OH, (void)OW, (void)sw, (void)sh, (void)y, (void)ystep, (void)OC, (void)w, (void)q;
    (void)o, (void)nch, (void)pstep, (void)g;
    return 0;
}
#endif

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
#if TML_DW_DSP
    // a row's taps (a, b, c) against (w0, w1, w2): one word load [a b c d], (a, c) and (b, d) by SXTB16,
    // then a*w0 + c*w2 by SMLAD and b*w1 by SMLABB; the next window (b, c, d) from the same word
    int32_t w02 = tml_pack16(w[0], w[2]), w35 = tml_pack16(w[3], w[5]), w68 = tml_pack16(w[6], w[8]);
    int32_t w1 = w[1], w4 = w[4], w7 = w[7];
#else
    int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
#endif
    for (int oh = 0; oh < OH; oh++) {
        const int8_t *p = x + oh * rstep;
        int8_t *out = y + oh * ystep;
        int n = OW;
        if (sw == 1) {
            for (; n >= 2; n -= 2, p += 2, out += 2 * OC) {
#if TML_DW_DSP
                int32_t v = tml_load4(p), ac = tml_sxtb16(v), bd = tml_sxtb16_ror8(v);
                int32_t d0 = tml_smlabb(bd, w1, tml_smlad(ac, w02, bias));
                int32_t d1 = tml_smlatb(ac, w1, tml_smlad(bd, w02, bias));
                v = tml_load4(p + S), ac = tml_sxtb16(v), bd = tml_sxtb16_ror8(v);
                d0 = tml_smlabb(bd, w4, tml_smlad(ac, w35, d0));
                d1 = tml_smlatb(ac, w4, tml_smlad(bd, w35, d1));
                v = tml_load4(p + 2 * S), ac = tml_sxtb16(v), bd = tml_sxtb16_ror8(v);
                d0 = tml_smlabb(bd, w7, tml_smlad(ac, w68, d0));
                d1 = tml_smlatb(ac, w7, tml_smlad(bd, w68, d1));
#else
                int32_t a = p[0], b = p[1], c = p[2], d = p[3];
                int32_t d0 = bias + a * w0 + b * w1 + c * w2, d1 = bias + b * w0 + c * w1 + d * w2;
                a = p[S], b = p[S + 1], c = p[S + 2], d = p[S + 3];
                d0 += a * w3 + b * w4 + c * w5, d1 += b * w3 + c * w4 + d * w5;
                a = p[2 * S], b = p[2 * S + 1], c = p[2 * S + 2], d = p[2 * S + 3];
                d0 += a * w6 + b * w7 + c * w8, d1 += b * w6 + c * w7 + d * w8;
#endif
                out[0] = TML_DW_OUT(d0);
                out[OC] = TML_DW_OUT(d1);
            }
        } else if (sw == 2 && TML_DW_DSP) { // (armv7m: the single loop below spills less)
            // two outputs per step: columns 0-2 and 2-4, column 2 loaded once
            for (; n >= 2; n -= 2, p += 4, out += 2 * OC) {
#if TML_DW_DSP
                int32_t v = tml_load4(p), ac = tml_sxtb16(v), bd = tml_sxtb16_ror8(v), e = p[4];
                int32_t d0 = tml_smlabb(bd, w1, tml_smlad(ac, w02, bias));
                int32_t d1 = tml_smlad(tml_pack16(ac >> 16, e), w02, tml_smlatb(bd, w1, bias));
                v = tml_load4(p + S), ac = tml_sxtb16(v), bd = tml_sxtb16_ror8(v), e = p[S + 4];
                d0 = tml_smlabb(bd, w4, tml_smlad(ac, w35, d0));
                d1 = tml_smlad(tml_pack16(ac >> 16, e), w35, tml_smlatb(bd, w4, d1));
                v = tml_load4(p + 2 * S), ac = tml_sxtb16(v), bd = tml_sxtb16_ror8(v), e = p[2 * S + 4];
                d0 = tml_smlabb(bd, w7, tml_smlad(ac, w68, d0));
                d1 = tml_smlad(tml_pack16(ac >> 16, e), w68, tml_smlatb(bd, w7, d1));
#else
                int32_t a = p[0], b = p[1], c = p[2], d = p[3], e = p[4];
                int32_t d0 = bias + a * w0 + b * w1 + c * w2, d1 = bias + c * w0 + d * w1 + e * w2;
                a = p[S], b = p[S + 1], c = p[S + 2], d = p[S + 3], e = p[S + 4];
                d0 += a * w3 + b * w4 + c * w5, d1 += c * w3 + d * w4 + e * w5;
                a = p[2 * S], b = p[2 * S + 1], c = p[2 * S + 2], d = p[2 * S + 3], e = p[2 * S + 4];
                d0 += a * w6 + b * w7 + c * w8, d1 += c * w6 + d * w7 + e * w8;
#endif
                out[0] = TML_DW_OUT(d0);
                out[OC] = TML_DW_OUT(d1);
            }
        }
        for (; n > 0; n--, p += sw, out += OC) {
#if TML_DW_DSP
            int32_t v = tml_load4(p);
            int32_t d = tml_smlabb(tml_sxtb16_ror8(v), w1, tml_smlad(tml_sxtb16(v), w02, bias));
            v = tml_load4(p + S);
            d = tml_smlabb(tml_sxtb16_ror8(v), w4, tml_smlad(tml_sxtb16(v), w35, d));
            v = tml_load4(p + 2 * S);
            d = tml_smlabb(tml_sxtb16_ror8(v), w7, tml_smlad(tml_sxtb16(v), w68, d));
#else
            int32_t d = bias + p[0] * w0 + p[1] * w1 + p[2] * w2 + p[S] * w3 + p[S + 1] * w4 + p[S + 2] * w5 +
                p[2 * S] * w6 + p[2 * S + 1] * w7 + p[2 * S + 2] * w8;
#endif
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
    if (!simple || TML_DW_V7M) { // a clamp inside int8 or a left shift (TFLM's converters write neither often),
        // or armv7m (tml_dw3x3_v7m takes the usual stage): one compact loop
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
    // + 4: a row's last window loads a word, 1 byte past it (armv7m's loop has no body for 32)
    int S = wp + 4 <= 32 && !TML_DW_V7M ? 32 : wp + 4 <= 64 ? 64 : 256;
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
