// The int16 (16x8) element-wise kernels and softmax (tinyml/ops.py S16): lut_s16 (logistic, tanh,
// dequantization to float32), softmax_s16, requantize_s16 (int16 to int8 or int16), quantize_f32_s16 and their
// bindings, included by tinyml_s16.h. TFLM's reference arithmetic, the same bytes as kernels_py_s16.py;
// no libgcc call (variable 64-bit shifts are done on 32-bit halves, no float arithmetic).
#ifndef TINYML_S16_ACT_H
#define TINYML_S16_ACT_H

#include <stdint.h>
#include <stdbool.h>

// TFLM's reference_integer_ops::Logistic (tanh 0) and Tanh (1) of n int16 codes: each scaled by (m, s),
// m in 1..32767, then t (TFLM's sigmoid_table_uint16, 256 entries) interpolated, mirrored below 0
static void tml_sigmoid_s16(const int16_t *x, int16_t *y, const uint16_t *t, int32_t n, int32_t m, int32_t s,
                            bool tanh_form) {
    int32_t r0 = s > 0 ? (int32_t)1 << (s - 1) : 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t d = (x[i] * m + r0) >> s;
        uint32_t a = d < 0 ? (uint32_t)-d : (uint32_t)d;
        if (tanh_form) {
            uint32_t uh = a >> 8;
            int32_t r = 0xFFFF << 8;
            if (uh < 255) {
                uint32_t ua = t[uh];
                r = (int32_t)((ua << 8) + (a & 0xFF) * (uint32_t)(t[uh + 1] - ua));
            }
            r = d >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
            y[i] = (int16_t)(r >> 8);
        } else {
            uint32_t uh = a >> 9, r = 0x7FFFu << 10;
            if (uh < 255) {
                uint32_t ua = t[uh];
                r = (ua << 9) + (a & 0x1FF) * (uint32_t)(t[uh + 1] - ua);
            }
            r = d >= 0 ? r + (1 << 9) : (1u << 25) - r + (1 << 9) - 1;
            y[i] = (int16_t)(r >> 10);
        }
    }
}

// int16 -> float32: x * scale rounded once to float32 (nearest, ties to even), in integers:
// the product of |x| (16 bits) and the scale's 24-bit significand, normalized. scale: the float32's bits,
// a positive normal number (validated), so no result is subnormal or infinite
static void tml_dequantize_s16(const int16_t *x, uint32_t *y, int32_t n, uint32_t scale) {
    uint32_t e = (scale >> 23) & 0xFF, sig = (scale & 0x7FFFFF) | 0x800000;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = x[i];
        uint32_t a = v < 0 ? (uint32_t)-v : (uint32_t)v;
        if (a == 0) {
            y[i] = 0;
            continue;
        }
        uint64_t p = (uint64_t)a * sig; // under 2**40
        uint32_t hi = (uint32_t)(p >> 32), lo = (uint32_t)p;
        int bits = 0; // p's bit length, 24..40
        for (uint32_t h = hi; h; h >>= 1) {
            bits++;
        }
        if (hi) {
            bits += 32;
        } else {
            for (uint32_t l = lo; l; l >>= 1) {
                bits++;
            }
        }
        int r = bits - 24; // 0..16 bits to drop
        uint32_t m = r ? (lo >> r) | (hi << (32 - r)) : lo;
        if (r) {
            uint32_t rem = lo & ((1u << r) - 1), half = 1u << (r - 1);
            if (rem > half || (rem == half && (m & 1))) {
                m++;
                if (m == 1u << 24) {
                    m >>= 1;
                    r++;
                }
            }
        }
        y[i] = (v < 0 ? 0x80000000u : 0) | ((e + (uint32_t)r) << 23) | (m & 0x7FFFFF);
    }
}

// TFLM's generic_int16_table_lookup: a 513-entry table of int16, entry 256 + (v >> 7) interpolated
static inline int32_t tml_lut16(int32_t v, const int16_t *t) {
    int32_t i = 256 + (v >> 7);
    int16_t slope = (int16_t)(t[i + 1] - t[i]);
    return (int16_t)(t[i] + ((slope * (v & 0x7F) + 64) >> 7));
}

static inline int32_t tml_softmax16_exp(int32_t d, int32_t m, int32_t s, const int16_t *t) {
    int32_t v = tml_requantize(d, m, s) + 32767;
    return tml_lut16(v < -32768 ? -32768 : v > 32767 ? 32767 : v, t);
}

// TFLM's reference_ops::SoftmaxInt16 over rows of n: exp of each x - max from t's first table, their sum's
// reciprocal from its second (t + 513), each exp times it. The exps are computed twice, not stored.
static void tml_softmax_s16(const int16_t *x, int16_t *y, const int16_t *t, int32_t total_n, int32_t n, int32_t m,
                            int32_t s) {
    for (int32_t done = 0; done < total_n; done += n, x += n, y += n) { // whole rows (checked)
        int32_t top = -32768, total = 0;
        for (int32_t j = 0; j < n; j++) {
            top = x[j] > top ? x[j] : top;
        }
        for (int32_t j = 0; j < n; j++) {
            total += tml_softmax16_exp(x[j] - top, m, s, t);
        }
        if (total < 0x4000) { // at least exp(0) for TFLM's table: a table not the converter's
            total = 0x4000;
        }
        int hp = 0; // leading zeros of the sum (n <= 65535 exps under 2**15: it fits int32)
        while (!((uint32_t)total & (0x80000000u >> hp))) {
            hp++;
        }
        uint32_t v = (uint32_t)total << (hp - 1);
        int32_t d = (int32_t)((v >> 14) + ((v >> 13) & 1)) - 0x18000; // Q.14, less 1.5 (the table's 1 + x)
        int32_t rcp = tml_lut16(d < -32768 ? -32768 : d > 32767 ? 32767 : d, t + 513);
        int rs = 31 - hp;
        int32_t half = (int32_t)1 << (rs - 1);
        for (int32_t j = 0; j < n; j++) {
            int32_t q = (tml_softmax16_exp(x[j] - top, m, s, t) * rcp + half) >> rs;
            y[j] = (int16_t)(q < 0 ? 0 : q > 32767 ? 32767 : q);
        }
    }
}

// int16 -> int8 (wide false) or int16: TFLM's Requantize, MultiplyByQuantizedMultiplier + zp, clamped
static void tml_requantize_s16(const int16_t *x, void *y, int32_t n, int32_t m, int32_t s, int32_t zp, bool wide) {
    int32_t lo = wide ? -32768 : -128, hi = wide ? 32767 : 127;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = tml_requantize(x[i], m, s) + zp;
        v = v < lo ? lo : v > hi ? hi : v;
        if (wide) {
            ((int16_t *)y)[i] = (int16_t)v;
        } else {
            ((int8_t *)y)[i] = (int8_t)v;
        }
    }
}

// float32 -> int16: TFLM's AffineQuantize, round(x / scale) in float32 (tml_div_round_f32, which saturates
// at +-2**15: beyond int16 for zero point 0) clamped; x read byte by byte (it may be unaligned)
static void tml_quantize_f32_s16(const uint8_t *x, int16_t *y, int32_t n, uint32_t scale) {
    for (int32_t i = 0; i < n; i++, x += 4) {
        uint32_t v = x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
        int32_t q = tml_div_round_f32(v, scale);
        y[i] = (int16_t)(q < -32768 ? -32768 : q > 32767 ? 32767 : q);
    }
}

#ifdef TML_S16_BINDINGS // tinyml_kernels.c's argument helpers and tml_aligned2 (tinyml_s16.h) are in scope

// lut_s16(x, y, t, n, mode, m, s, y_zp): mode 0 logistic, 1 tanh (t the sigmoid table), 2 dequantization to
// float32 (m the scale's bits, t None); n (the last dimension) unused
static mp_obj_t tml_lut_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y, t;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    int32_t mode = tml_int(args[4], 0, 2, MP_ERROR_TEXT("lut_s16: mode must be 0, 1 or 2"));
    int32_t m = (int32_t)mp_obj_get_int(args[5]);
    int32_t n = (int32_t)(x.len / 2);
    tml_check(tml_aligned2(x.buf) && x.len % 2 == 0 && x.len <= TML_INT32_MAX && tml_apart(&y, &x) &&
        y.len == (mode == 2 ? 2 : 1) * x.len && tml_aligned2(y.buf) && (mode < 2 || tml_aligned4(y.buf)),
        MP_ERROR_TEXT("lut_s16: x int16, y as many int16 (float32 for mode 2), aligned and apart"));
    if (mode == 2) {
        uint32_t e = ((uint32_t)m >> 23) & 0xFF;
        tml_check(m > 0 && e > 0 && e < 255, MP_ERROR_TEXT("lut_s16: the scale must be a positive normal float32"));
        tml_dequantize_s16(x.buf, y.buf, n, (uint32_t)m);
        return mp_const_none;
    }
    mp_get_buffer_raise(args[2], &t, MP_BUFFER_READ);
    int32_t s = tml_int(args[6], 0, 31, MP_ERROR_TEXT("lut_s16: shift must be in 0..31"));
    tml_check(tml_in(m, 1, 32767) && t.len == 512 && tml_aligned2(t.buf),
        MP_ERROR_TEXT("lut_s16: multiplier in 1..32767, t 256 int16, 2-byte aligned"));
    tml_sigmoid_s16(x.buf, y.buf, t.buf, n, m, s, mode == 1);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_lut_s16_obj, 8, 8, tml_lut_s16_fn);

// softmax_s16(x, y, t, n, m, s, diff_min): rows of n, t the two 513-entry tables
static mp_obj_t tml_softmax_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y, t;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    mp_get_buffer_raise(args[2], &t, MP_BUFFER_READ);
    int32_t n = tml_int(args[3], 1, 65535, MP_ERROR_TEXT("softmax_s16: rows of 1..65535"));
    int32_t m = tml_int(args[4], 0, TML_INT32_MAX, MP_ERROR_TEXT("softmax_s16: input_multiplier must be >= 0"));
    int32_t s = tml_int(args[5], -31, 15, MP_ERROR_TEXT("softmax_s16: input_left_shift must be in -31..15"));
    int32_t total_n = (int32_t)(x.len / 2), k = 0;
    while (k < total_n) { // whole rows, without a division (armv6m has none)
        k += n;
    }
    tml_check(x.len == y.len && x.len <= TML_INT32_MAX && k == total_n && x.len % 2 == 0 && tml_aligned2(x.buf) &&
        tml_aligned2(y.buf) && tml_apart(&y, &x) && t.len == 2 * 1026 && tml_aligned2(t.buf),
        MP_ERROR_TEXT("softmax_s16: x, y whole rows of int16, t 1026 int16, aligned, y apart from x"));
    tml_softmax_s16(x.buf, y.buf, t.buf, total_n, n, m, s);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_softmax_s16_obj, 7, 7, tml_softmax_s16_fn);

// requantize_s16(x, y, rq, n, y_zp, y_scale): rq the int32 (multiplier, shift); y int8 or int16
static mp_obj_t tml_requantize_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    mp_buffer_info_t q;
    mp_get_buffer_raise(args[2], &q, MP_BUFFER_READ);
    tml_check(q.len == 8 && tml_aligned4(q.buf), MP_ERROR_TEXT("requantize_s16: rq must hold 2 int32, 4-byte aligned"));
    const int32_t *rq = q.buf;
    bool wide = y.len == x.len;
    int32_t zp = tml_int(args[4], wide ? 0 : -128, wide ? 0 : 127, MP_ERROR_TEXT("requantize_s16: y_zp 0 (int16) or int8"));
    tml_check(rq[0] >= 0 && tml_in(rq[1], -31, 30), MP_ERROR_TEXT("requantize_s16: multiplier >= 0, shift -31..30"));
    tml_check(x.len % 2 == 0 && x.len <= TML_INT32_MAX && (wide || 2 * y.len == x.len) && tml_aligned2(x.buf) &&
        tml_aligned2(y.buf) && tml_apart(&y, &x), MP_ERROR_TEXT("requantize_s16: y as many int8 or int16 as x, apart"));
    tml_requantize_s16(x.buf, y.buf, (int32_t)(x.len / 2), rq[0], rq[1], zp, wide);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_requantize_s16_obj, 6, 6, tml_requantize_s16_fn);

// quantize_f32_s16(x, y, t, n, y_zp, y_scale): float32 x, int16 y, y_zp 0, t None
static mp_obj_t tml_quantize_f32_s16_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    tml_int(args[4], 0, 0, MP_ERROR_TEXT("quantize_f32_s16: y_zp must be 0"));
    uint32_t scale = (uint32_t)mp_obj_get_int(args[5]);
    tml_check(x.len == 2 * y.len && y.len <= TML_INT32_MAX && tml_aligned2(y.buf) && tml_apart(&y, &x),
        MP_ERROR_TEXT("quantize_f32_s16: y as many int16 as x float32, 2-byte aligned, apart"));
    tml_quantize_f32_s16(x.buf, y.buf, (int32_t)(y.len / 2), scale);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_quantize_f32_s16_obj, 6, 6, tml_quantize_f32_s16_fn);

#endif // TML_S16_BINDINGS
#endif // TINYML_S16_ACT_H
