// tinyml's depthwise 3x3 loop in assembly for ARMv7-M (Cortex-M3: armv7m; Cortex-M4/M7: armv7emsp),
// part of tinyml_depthwise.h (which includes it after tml_dwq_simple, whose arithmetic it does):
// TML_DW_ASM, and tml_dw3x3_fast, which runs it or returns 0 (every other arch: always 0).
#ifndef TINYML_DEPTHWISE_V7M_H
#define TINYML_DEPTHWISE_V7M_H

// ---- ARMv7-M (armv7m, armv7emsp): the 3x3 windows in assembly ----
// GCC spills the 9 weights and the output stage's constants of the C loop below on ARMv7-M (about 75
// instructions for two windows at stride 1). This loop keeps the output stage (bias, multiplier, the
// rounding constant k with the zero point folded into its high word, the shift e - 1) in registers
// across a channel's plane, reads the weights from its frame and makes two outputs per step: 57
// instructions for 18 MACs at stride 1 (60 at stride 2), tml_dwq_simple's arithmetic exactly. On
// Cortex-M4/M7 it beats the SMLAD C loop it replaced in every person_detect layer (4.8 -> 4.4
// instructions per MAC in all): SMLAD halves the multiplies, but the spills and the per-output work
// cost more than that.
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
#define TML_DW_ASM 1

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
// q's channels o ..) by tml_dw3x3_v7m, TML_DW_NCH channels a call, when every channel's output stage
// is the usual one; else 0 (the caller's C loop then computes them all: a model with both kinds of
// stage in one layer, which TFLM's converters do not write, pays twice for the first ones).
#define TML_DW_NCH 10
__attribute__((noinline)) static int tml_dw3x3_fast(const int8_t *x, int S, int OH, int OW, int sw, int sh,
    int8_t *y, int ystep, int OC, const int8_t *w, const tml_chan_t *q, int o, int nch, int pstep,
    const tml_conv_t *g) {
    tml_dwc_t cs[TML_DW_NCH];
    if ((sw != 1 && sw != 2) || OH < 1 || OW < 1) {
        return 0;
    }
    int np = OW / 2;
    tml_dwa_t a = {x, y, cs, w, 0, pstep, OH, np * 2 * sw, OW & 1, sh * S - np * 2 * sw, ystep - np * 2 * OC,
        OC, S, sw};
    for (int j0 = 0; j0 < nch; j0 += TML_DW_NCH) {
        int m = nch - j0 < TML_DW_NCH ? nch - j0 : TML_DW_NCH;
        for (int j = 0; j < m; j++) {
            int c = q->per_channel ? o + j0 + j : 0;
            if (!tml_dwc_init(&cs[j], q->bias[o + j0 + j], q->mult[c], q->shift[c], g)) {
                return 0;
            }
        }
        a.x = x + j0 * pstep, a.y = y + j0, a.w = w + j0 * 9, a.nch = m;
        tml_dw3x3_v7m(&a);
    }
    return 1;
}
#else
#define TML_DW_ASM 0
static inline int tml_dw3x3_fast(const int8_t *x, int S, int OH, int OW, int sw, int sh, int8_t *y, int ystep,
    int OC, const int8_t *w, const tml_chan_t *q, int o, int nch, int pstep, const tml_conv_t *g) {
    (void)x, (void)S, (void)OH, (void)OW, (void)sw, (void)sh, (void)y, (void)ystep, (void)OC, (void)w, (void)q;
    (void)o, (void)nch, (void)pstep, (void)g;
    return 0;
}
#endif

#endif // TINYML_DEPTHWISE_V7M_H
