// The ops with int16 activations and int8 weights (TFLite's 16x8 quantization; tinyml/ops.py S16):
// fully_connected_s16, conv2d_s16, depthwise_conv2d_s16, pool2d_s16, add_s16, sub_s16, mul_s16, lut_s16,
// softmax_s16, requantize_s16, quantize_f32_s16 and their bindings, included by
// tinyml_kernels.c after its argument helpers. TFLM's reference_integer_ops arithmetic: an int64
// accumulator (int64 bias, zero points 0) requantized by the 64-bit MultiplyByQuantizedMultiplier.
// No libgcc call: products are 32x32->64 widening multiplies, 64-bit shifts are by constants, the
// variable shifts are done on 32-bit halves (xtensawin's build links no helper), and a dot product
// is summed in int32 256 products at a time (each under 2**22). Same bytes as kernels_py_s16.py.
#ifndef TINYML_S16_H
#define TINYML_S16_H

#include <stdint.h>
#include <stdbool.h>

// TFLM's MultiplyByQuantizedMultiplier(int64_t x, int32_t m, int s): m rounded to 16 bits, one
// rounding shift by t = 15 - s (s in -31..7, so t in 8..46), the int64 result cast to int32 (its low
// 32 bits, as TFLM's cast). |acc| < 2**41 (validated), so the product fits int64.
static int32_t tml_req64(int64_t acc, int32_t m, int32_t s) {
    int32_t rm = m < 0x7FFF0000 ? (m + (1 << 15)) >> 16 : 0x7FFF;
    int t = 15 - s;
    uint32_t lo = (uint32_t)acc;
    int32_t hi = (int32_t)(acc >> 32);
    uint64_t p = ((uint64_t)((int64_t)hi * rm) << 32) + (uint64_t)lo * (uint32_t)rm;
    if (t > 32) {
        p += (uint64_t)(1u << (t - 33)) << 32;
    } else {
        p += (uint32_t)1 << (t - 1);
    }
    uint32_t plo = (uint32_t)p;
    uint32_t phi = (uint32_t)(p >> 32);
    if (t >= 32) {
        return (int32_t)phi >> (t - 32);
    }
    return (int32_t)((plo >> t) | (phi << (32 - t)));
}

static inline int64_t tml_bias64(const uint32_t *bias, int o) {
    return (int64_t)(((uint64_t)bias[2 * o + 1] << 32) | bias[2 * o]);
}

static inline int16_t tml_out16(int64_t acc, int32_t m, int32_t s, int32_t lo, int32_t hi) {
    int32_t v = tml_req64(acc, m, s);
    return (int16_t)(v < lo ? lo : v > hi ? hi : v);
}

// sum of x[i] * w[i], i < n, in int64: int32 runs of 256 products
static int64_t tml_dot16(const int16_t *x, const int8_t *w, int32_t n) {
    int64_t acc = 0;
    while (n > 0) {
        int32_t k = n < 256 ? n : 256;
        int32_t a = 0;
        for (int32_t i = 0; i < k; i++) {
            a += (int32_t)x[i] * w[i];
        }
        acc += a;
        x += k;
        w += k;
        n -= k;
    }
    return acc;
}

static void tml_fully_connected_s16(const int16_t *x, const int8_t *w, const uint32_t *bias, const int32_t *mult,
    const int32_t *shift, bool per_channel, int16_t *y, int32_t batches, int32_t n_in, int32_t n_out,
    int32_t act_min, int32_t act_max) {
    for (int32_t b = 0; b < batches; b++) {
        for (int32_t o = 0; o < n_out; o++) {
            int32_t c = per_channel ? o : 0;
            int64_t acc = tml_dot16(x, w + (size_t)o * n_in, n_in) + tml_bias64(bias, o);
            y[o] = tml_out16(acc, mult[c], shift[c], act_min, act_max);
        }
        x += n_in;
        y += n_out;
    }
}

typedef struct {
    int32_t H, W, C, OH, OW, OC, KH, KW, sh, sw, dh, dw, pt, pl, lo, hi, oc0, ocn, dm; // dm 0: conv2d
} tml_conv16_t;

// output channels oc0 .. oc0+ocn-1 (w, bias, mult, shift hold theirs); taps outside the input skipped
static void tml_conv_s16(const int16_t *x, const int8_t *w, const uint32_t *bias, const int32_t *mult,
    const int32_t *shift, bool per_channel, int16_t *y, const tml_conv16_t *g) {
    int32_t ci = g->dm ? 1 : g->C;
    int32_t k = g->KH * g->KW * ci;
    bool small = k <= 256;
    for (int32_t o = 0; o < g->ocn; o++) {
        int32_t cin = g->dm ? (g->oc0 + o) / g->dm : 0;
        int32_t c = per_channel ? o : 0;
        int32_t m = mult[c], s = shift[c];
        int64_t b = tml_bias64(bias, o);
        const int8_t *wo = w + (size_t)o * k;
        for (int32_t oh = 0; oh < g->OH; oh++) {
            int32_t ih0 = oh * g->sh - g->pt;
            for (int32_t ow = 0; ow < g->OW; ow++) {
                int32_t iw0 = ow * g->sw - g->pl;
                // the kernel columns kw0 .. kw1-1 inside the input
                int32_t kw0 = iw0 < 0 ? (g->dw - 1 - iw0) / g->dw : 0;
                int32_t kw1 = iw0 + (g->KW - 1) * g->dw < g->W ? g->KW : iw0 < g->W ? (g->W - iw0 + g->dw - 1) / g->dw : 0;
                int64_t acc = b;
                int32_t a = 0; // a window of at most 256 taps sums in int32 (each product under 2**22)
                for (int32_t kh = 0; kh < g->KH; kh++) {
                    int32_t ih = ih0 + kh * g->dh;
                    if (ih < 0 || ih >= g->H) {
                        continue;
                    }
                    for (int32_t kw = kw0; kw < kw1; kw++) {
                        const int16_t *xp = x + ((size_t)ih * g->W + iw0 + kw * g->dw) * g->C + cin;
                        const int8_t *wp = wo + (kh * g->KW + kw) * ci;
                        if (small) {
                            for (int32_t c = 0; c < ci; c++) {
                                a += (int32_t)xp[c] * wp[c];
                            }
                        } else {
                            acc += tml_dot16(xp, wp, ci);
                        }
                    }
                }
                acc += a;
                y[((size_t)oh * g->OW + ow) * g->OC + g->oc0 + o] = tml_out16(acc, m, s, g->lo, g->hi);
            }
        }
    }
}

// TFLM's reference_integer_ops::AveragePool / MaxPool for int16: the taps inside the input only, the
// average's int32 sum rounded half away from zero
static void tml_pool2d_s16(const int16_t *x, int16_t *y, const tml_conv16_t *g, bool is_max) {
    int16_t *out = y;
    for (int32_t oh = 0; oh < g->OH; oh++) {
        int32_t y0 = oh * g->sh - g->pt;
        int32_t r0 = y0 < 0 ? 0 : y0, r1 = y0 + g->KH > g->H ? g->H : y0 + g->KH;
        for (int32_t ow = 0; ow < g->OW; ow++) {
            int32_t x0 = ow * g->sw - g->pl;
            int32_t q0 = x0 < 0 ? 0 : x0, q1 = x0 + g->KW > g->W ? g->W : x0 + g->KW;
            for (int32_t c = 0; c < g->C; c++) {
                int32_t acc = is_max ? -32768 : 0, n = 0;
                for (int32_t ih = r0; ih < r1; ih++) {
                    for (int32_t iw = q0; iw < q1; iw++) {
                        int32_t v = x[((size_t)ih * g->W + iw) * g->C + c];
                        acc = is_max ? (v > acc ? v : acc) : acc + v;
                        n++;
                    }
                }
                if (!is_max) {
                    acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
                }
                *out++ = (int16_t)(acc < g->lo ? g->lo : acc > g->hi ? g->hi : acc);
            }
        }
    }
}

typedef struct {
    int32_t D[4], as[4], bs[4], ls, am, ash, bm, bsh, ym, ysh, lo, hi;
} tml_add16_t;

// TFLM's int16 add (sign 1) and subtract (sign -1): int8's arithmetic with left_shift 15 and zero points 0,
// broadcast by element strides; multiply (sign 0): the product of the codes requantized by ym, ysh
static void tml_add_s16(const int16_t *a, const int16_t *b, int16_t *y, const tml_add16_t *g, int32_t sign) {
    for (int32_t i0 = 0; i0 < g->D[0]; i0++) {
        for (int32_t i1 = 0; i1 < g->D[1]; i1++) {
            for (int32_t i2 = 0; i2 < g->D[2]; i2++) {
                int32_t ai = i0 * g->as[0] + i1 * g->as[1] + i2 * g->as[2];
                int32_t bi = i0 * g->bs[0] + i1 * g->bs[1] + i2 * g->bs[2];
                for (int32_t i3 = 0; i3 < g->D[3]; i3++) {
                    int32_t v;
                    if (sign) {
                        int32_t sa = tml_requantize((int32_t)((uint32_t)(int32_t)a[ai] << g->ls), g->am, g->ash);
                        int32_t sb = tml_requantize((int32_t)((uint32_t)(int32_t)b[bi] << g->ls), g->bm, g->bsh);
                        v = tml_requantize(sign > 0 ? sa + sb : sa - sb, g->ym, g->ysh);
                    } else {
                        v = tml_requantize((int32_t)a[ai] * b[bi], g->ym, g->ysh);
                    }
                    *y++ = (int16_t)(v < g->lo ? g->lo : v > g->hi ? g->hi : v);
                    ai += g->as[3];
                    bi += g->bs[3];
                }
            }
        }
    }
}

#ifdef TML_S16_BINDINGS // the MicroPython side: tinyml_kernels.c defines it after its argument helpers

static bool tml_aligned2(const void *p) {
    return ((uintptr_t)p & 1) == 0;
}

// fully_connected_s16(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max): bias int64
static mp_obj_t tml_fully_connected_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, w, bias, mult, shift, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &w, MP_BUFFER_READ);
    mp_get_buffer_raise(args[2], &bias, MP_BUFFER_READ);
    mp_get_buffer_raise(args[3], &mult, MP_BUFFER_READ);
    mp_get_buffer_raise(args[4], &shift, MP_BUFFER_READ);
    mp_get_buffer_raise(args[5], &y, MP_BUFFER_WRITE);
    int32_t n_in = tml_int(args[6], 1, 65536, MP_ERROR_TEXT("fully_connected_s16: n_in must be in 1..65536"));
    int32_t n_out = tml_int(args[7], 1, 65535, MP_ERROR_TEXT("fully_connected_s16: n_out must be in 1..65535"));
    tml_int(args[8], 0, 0, MP_ERROR_TEXT("fully_connected_s16: out_zp must be 0"));
    int32_t act_min = tml_int(args[9], -32768, 32767, MP_ERROR_TEXT("fully_connected_s16: act_min must be an int16"));
    int32_t act_max = tml_int(args[10], act_min, 32767, MP_ERROR_TEXT("fully_connected_s16: act_max must be in act_min..32767"));
    bool per_channel = mult.len > 4;
    size_t n_mult = per_channel ? (size_t)n_out : 1;
    size_t batches = y.len / 2 / (size_t)n_out;
    tml_check(y.len == 2 * batches * (size_t)n_out, MP_ERROR_TEXT("fully_connected_s16: len(y) must be 2 * n_out * batches"));
    tml_check(x.len / 2 / (size_t)n_in >= batches, MP_ERROR_TEXT("fully_connected_s16: x is shorter than batches * n_in int16"));
    tml_check(w.len / (size_t)n_in >= (size_t)n_out, MP_ERROR_TEXT("fully_connected_s16: w is shorter than n_out * n_in"));
    tml_check(bias.len / 8 >= (size_t)n_out, MP_ERROR_TEXT("fully_connected_s16: bias holds fewer than n_out int64"));
    tml_check(mult.len / 4 >= n_mult && shift.len / 4 >= n_mult,
        MP_ERROR_TEXT("fully_connected_s16: mult and shift must hold 1 (per-tensor) or n_out int32"));
    tml_check(tml_aligned4(bias.buf) && tml_aligned4(mult.buf) && tml_aligned4(shift.buf) && tml_aligned2(x.buf) &&
        tml_aligned2(y.buf), MP_ERROR_TEXT("fully_connected_s16: bias, mult, shift 4-byte and x, y 2-byte aligned"));
    tml_check(tml_apart(&y, &x), MP_ERROR_TEXT("fully_connected_s16: y overlaps x"));
    const int32_t *sh = shift.buf;
    for (size_t c = 0; c < n_mult; c++) {
        tml_check(tml_in(sh[c], -31, 7), MP_ERROR_TEXT("fully_connected_s16: shifts must be in -31..7"));
    }
    tml_fully_connected_s16(x.buf, w.buf, bias.buf, mult.buf, shift.buf, per_channel, y.buf, (int32_t)batches,
        n_in, n_out, act_min, act_max);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_fully_connected_s16_obj, 11, 11, tml_fully_connected_s16_fn);

// conv2d_s16(x, w, bias, mult, shift, y, g) and depthwise_conv2d_s16(...): g as conv2d's
static mp_obj_t tml_conv_s16_common(const mp_obj_t *args, bool depthwise) {
    mp_buffer_info_t x, w, bias, mult, shift, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &w, MP_BUFFER_READ);
    mp_get_buffer_raise(args[2], &bias, MP_BUFFER_READ);
    mp_get_buffer_raise(args[3], &mult, MP_BUFFER_READ);
    mp_get_buffer_raise(args[4], &shift, MP_BUFFER_READ);
    mp_get_buffer_raise(args[5], &y, MP_BUFFER_WRITE);
    const int32_t *v = depthwise
        ? tml_g(args[6], TML_CONV_DEPTH_MULTIPLIER + 1, MP_ERROR_TEXT("depthwise_conv2d_s16: g must be an array('i') of 21 values"))
        : tml_g(args[6], TML_CONV_DEPTH_MULTIPLIER, MP_ERROR_TEXT("conv2d_s16: g must be an array('i') of 20 values"));
    tml_conv16_t g = {
        .H = v[TML_CONV_H], .W = v[TML_CONV_W], .C = v[TML_CONV_C], .OH = v[TML_CONV_OH], .OW = v[TML_CONV_OW],
        .OC = v[TML_CONV_OC], .KH = v[TML_CONV_KH], .KW = v[TML_CONV_KW],
        .sh = v[TML_CONV_STRIDE_H], .sw = v[TML_CONV_STRIDE_W], .dh = v[TML_CONV_DILATION_H], .dw = v[TML_CONV_DILATION_W],
        .pt = v[TML_CONV_PAD_TOP], .pl = v[TML_CONV_PAD_LEFT], .lo = v[TML_CONV_ACT_MIN], .hi = v[TML_CONV_ACT_MAX],
        .oc0 = v[TML_CONV_OC0], .ocn = v[TML_CONV_OCN], .dm = depthwise ? v[TML_CONV_DEPTH_MULTIPLIER] : 0,
    };
    bool ok = tml_in(g.H, 1, 32767) && tml_in(g.W, 1, 32767) && tml_in(g.C, 1, 32767) && tml_in(g.OH, 1, 32767) &&
        tml_in(g.OW, 1, 32767) && tml_in(g.OC, 1, 32767) && tml_in(g.KH, 1, 255) && tml_in(g.KW, 1, 255) &&
        tml_in(g.sh, 1, 255) && tml_in(g.sw, 1, 255) && tml_in(g.dh, 1, 255) && tml_in(g.dw, 1, 255) &&
        tml_in(g.pt, 0, 32767) && tml_in(g.pl, 0, 32767);
    tml_check(ok, MP_ERROR_TEXT("conv_s16: sizes in 1..32767, kernel, strides and dilations in 1..255, paddings in 0..32767"));
    tml_check(v[TML_CONV_X_ZP] == 0 && v[TML_CONV_Y_ZP] == 0 && tml_in(g.lo, -32768, 32767) && tml_in(g.hi, g.lo, 32767),
        MP_ERROR_TEXT("conv_s16: x_zp, y_zp must be 0, act_min <= act_max int16"));
    tml_check(g.oc0 >= 0 && g.ocn >= 1 && g.oc0 <= g.OC - g.ocn,
        MP_ERROR_TEXT("conv_s16: need 0 <= oc0 and 1 <= ocn with oc0 + ocn <= OC"));
    tml_check(!depthwise || (g.dm >= 1 && (uint64_t)g.C * g.dm == (uint64_t)g.OC),
        MP_ERROR_TEXT("depthwise_conv2d_s16: OC must be C * depth_multiplier"));
    tml_check(tml_holds(&x, tml_mul31(tml_mul31(tml_mul31(g.H, g.W), g.C), 2)), MP_ERROR_TEXT("conv_s16: x is shorter than H*W*C int16"));
    tml_check(tml_holds(&y, tml_mul31(tml_mul31(tml_mul31(g.OH, g.OW), g.OC), 2)), MP_ERROR_TEXT("conv_s16: y is shorter than OH*OW*OC int16"));
    uint64_t k = tml_mul31(tml_mul31(g.KH, g.KW), depthwise ? 1 : g.C);
    tml_check(k <= 65536, MP_ERROR_TEXT("conv_s16: a kernel must hold at most 65536 weights"));
    tml_check(tml_holds(&w, tml_mul31(k, g.ocn)), MP_ERROR_TEXT("conv_s16: w is shorter than ocn kernels"));
    bool per_channel = mult.len > 4;
    size_t n_mult = per_channel ? (size_t)g.ocn : 1;
    tml_check(bias.len / 8 >= (size_t)g.ocn, MP_ERROR_TEXT("conv_s16: bias holds fewer than ocn int64"));
    tml_check(mult.len / 4 >= n_mult && shift.len / 4 >= n_mult,
        MP_ERROR_TEXT("conv_s16: mult and shift must hold 1 (per-tensor) or ocn int32"));
    tml_check(tml_aligned4(bias.buf) && tml_aligned4(mult.buf) && tml_aligned4(shift.buf) && tml_aligned2(x.buf) &&
        tml_aligned2(y.buf), MP_ERROR_TEXT("conv_s16: bias, mult, shift 4-byte and x, y 2-byte aligned"));
    tml_check(tml_apart(&y, &x) && tml_apart(&y, &w) && tml_apart(&y, &bias),
        MP_ERROR_TEXT("conv_s16: y overlaps an input"));
    const int32_t *sh = shift.buf;
    for (size_t c = 0; c < n_mult; c++) {
        tml_check(tml_in(sh[c], -31, 7), MP_ERROR_TEXT("conv_s16: shifts must be in -31..7"));
    }
    tml_conv_s16(x.buf, w.buf, bias.buf, mult.buf, shift.buf, per_channel, y.buf, &g);
    return mp_const_none;
}

static mp_obj_t tml_conv2d_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_conv_s16_common(args, false);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_conv2d_s16_obj, 7, 7, tml_conv2d_s16_fn);

static mp_obj_t tml_depthwise_conv2d_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_conv_s16_common(args, true);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_depthwise_conv2d_s16_obj, 7, 7, tml_depthwise_conv2d_s16_fn);

// pool2d_s16(x, y, g): g as pool2d's
static mp_obj_t tml_pool2d_s16_fn(mp_obj_t x_obj, mp_obj_t y_obj, mp_obj_t g_obj) {
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(x_obj, &x, MP_BUFFER_READ);
    mp_get_buffer_raise(y_obj, &y, MP_BUFFER_WRITE);
    const int32_t *v = tml_g(g_obj, TML_POOL_IS_MAX + 1, MP_ERROR_TEXT("pool2d_s16: g must be an array('i') of 14 values"));
    tml_conv16_t g = {
        .H = v[TML_POOL_H], .W = v[TML_POOL_W], .C = v[TML_POOL_C], .OH = v[TML_POOL_OH], .OW = v[TML_POOL_OW],
        .KH = v[TML_POOL_FILTER_H], .KW = v[TML_POOL_FILTER_W], .sh = v[TML_POOL_STRIDE_H], .sw = v[TML_POOL_STRIDE_W],
        .pt = v[TML_POOL_PAD_TOP], .pl = v[TML_POOL_PAD_LEFT], .lo = v[TML_POOL_ACT_MIN], .hi = v[TML_POOL_ACT_MAX],
    };
    bool ok = tml_in(g.H, 1, 32767) && tml_in(g.W, 1, 32767) && tml_in(g.C, 1, 32767) && tml_in(g.OH, 1, 32767) &&
        tml_in(g.OW, 1, 32767) && tml_in(g.KH, 1, 255) && tml_in(g.KW, 1, 255) && tml_in(g.sh, 1, 255) &&
        tml_in(g.sw, 1, 255) && tml_in(g.pt, 0, 254) && tml_in(g.pl, 0, 254) && tml_in(g.lo, -32768, 32767) &&
        tml_in(g.hi, g.lo, 32767);
    tml_check(ok, MP_ERROR_TEXT("pool2d_s16: sizes in 1..32767, filter and strides in 1..255, paddings under the filter, bounds int16"));
    // every window holds a tap of the input (the padding is less than the filter; the output fits the input)
    tml_check((g.OH - 1) * (uint64_t)g.sh < (uint64_t)g.H + g.pt && (g.OW - 1) * (uint64_t)g.sw < (uint64_t)g.W + g.pl &&
        g.pt < g.KH && g.pl < g.KW, MP_ERROR_TEXT("pool2d_s16: a window lies outside the input"));
    tml_check(tml_holds(&x, tml_mul31(tml_mul31(tml_mul31(g.H, g.W), g.C), 2)) &&
        y.len == 2 * (uint64_t)g.OH * g.OW * g.C && tml_aligned2(x.buf) && tml_aligned2(y.buf) && tml_apart(&y, &x),
        MP_ERROR_TEXT("pool2d_s16: x must hold H*W*C int16, y exactly OH*OW*C, both 2-byte aligned and apart"));
    tml_pool2d_s16(x.buf, y.buf, &g, v[TML_POOL_IS_MAX] != 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_pool2d_s16_obj, tml_pool2d_s16_fn);

// add_s16(a, b, y, g) and sub_s16(a, b, y, g): g as add's; mul_s16(a, b, y, g): g as mul's
static mp_obj_t tml_add_s16_common(const mp_obj_t *args, int32_t sign) {
    mp_buffer_info_t a, b, y;
    mp_get_buffer_raise(args[0], &a, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &b, MP_BUFFER_READ);
    mp_get_buffer_raise(args[2], &y, MP_BUFFER_WRITE);
    const int32_t *v = sign ? tml_g(args[3], TML_ADD_ACT_MAX + 1, MP_ERROR_TEXT("add_s16/sub_s16: g must be an array('i') of 24 values"))
        : tml_g(args[3], TML_MUL_ACT_MAX + 1, MP_ERROR_TEXT("mul_s16: g must be an array('i') of 19 values"));
    tml_add16_t g;
    uint64_t n = 1, last_a = 0, last_b = 0;
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        g.D[i] = v[TML_ADD_D0 + i], g.as[i] = v[TML_ADD_A_STRIDE0 + i], g.bs[i] = v[TML_ADD_B_STRIDE0 + i];
        ok = ok && g.D[i] >= 1 && g.as[i] >= 0 && g.bs[i] >= 0;
        if (ok) {
            n = tml_mul31(n, g.D[i]);
            last_a += tml_mul31(g.D[i] - 1, g.as[i]);
            last_b += tml_mul31(g.D[i] - 1, g.bs[i]);
        }
    }
    tml_check(ok, MP_ERROR_TEXT("add_s16/sub_s16: dimensions must be > 0, strides >= 0"));
    tml_check(2 * n == y.len && tml_aligned2(y.buf), MP_ERROR_TEXT("add_s16/sub_s16: len(y) must be 2*D0*D1*D2*D3, 2-byte aligned"));
    tml_check(last_a < a.len / 2 && last_b < b.len / 2 && last_a <= TML_INT32_MAX && last_b <= TML_INT32_MAX &&
        tml_aligned2(a.buf) && tml_aligned2(b.buf), MP_ERROR_TEXT("add_s16/sub_s16: an input is too short for its strides"));
    tml_check(tml_apart(&y, &a) && tml_apart(&y, &b), MP_ERROR_TEXT("add_s16/sub_s16: y overlaps an input"));
    if (sign) {
        g.ls = v[TML_ADD_LEFT_SHIFT], g.am = v[TML_ADD_A_MULTIPLIER], g.ash = v[TML_ADD_A_SHIFT];
        g.bm = v[TML_ADD_B_MULTIPLIER], g.bsh = v[TML_ADD_B_SHIFT], g.ym = v[TML_ADD_Y_MULTIPLIER], g.ysh = v[TML_ADD_Y_SHIFT];
        g.lo = v[TML_ADD_ACT_MIN], g.hi = v[TML_ADD_ACT_MAX];
        tml_check(tml_in(g.ls, 0, 20) && g.ash <= 0 && g.bsh <= 0 && v[TML_ADD_A_ZP] == 0 && v[TML_ADD_B_ZP] == 0 &&
            v[TML_ADD_Y_ZP] == 0, MP_ERROR_TEXT("add_s16/sub_s16: need left_shift 0..20, a_shift, b_shift <= 0, zero points 0"));
    } else {
        g.ls = g.am = g.ash = g.bm = g.bsh = 0;
        g.ym = v[TML_MUL_Y_MULTIPLIER], g.ysh = v[TML_MUL_Y_SHIFT], g.lo = v[TML_MUL_ACT_MIN], g.hi = v[TML_MUL_ACT_MAX];
        tml_check(v[TML_MUL_A_ZP] == 0 && v[TML_MUL_B_ZP] == 0 && v[TML_MUL_Y_ZP] == 0,
            MP_ERROR_TEXT("mul_s16: zero points must be 0"));
    }
    tml_check(tml_in(g.lo, -32768, 32767) && tml_in(g.hi, g.lo, 32767), MP_ERROR_TEXT("add_s16/sub_s16/mul_s16: int16 bounds"));
    tml_add_s16(a.buf, b.buf, y.buf, &g, sign);
    return mp_const_none;
}

static mp_obj_t tml_add_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_add_s16_common(args, 1);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_add_s16_obj, 4, 4, tml_add_s16_fn);

static mp_obj_t tml_sub_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_add_s16_common(args, -1);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_sub_s16_obj, 4, 4, tml_sub_s16_fn);

static mp_obj_t tml_mul_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_add_s16_common(args, 0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_mul_s16_obj, 4, 4, tml_mul_s16_fn);

#endif // TML_S16_BINDINGS

#include "tinyml_s16_act.h" // lut_s16, softmax_s16, requantize_s16, quantize_f32_s16
#endif // TINYML_S16_H
