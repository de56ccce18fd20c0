// The long tail's arithmetic kernels and their MicroPython bindings, of the module tinyml_kernels:
// add_n(xs, y, g) and cumsum(x, y, g), bit-exact with device_lib/tinyml/kernels_py_tail.py. Included
// by tinyml_kernels.c after its argument helpers (tml_check, tml_g, tml_apart).
//
// TFLM's reference arithmetic: each input code's (x - x_zp) << 19 (the addition's left shift of 20 and input
// multiplier of 0.5, exact), summed from (-x_zp) << 19 (TFLM's accumulator starts at the input
// offset) in an int32 that wraps as TFLM's does, then the output multiplier (shift <= 0), the output
// zero point and the int8 clamp.
#ifndef TINYML_TAIL_H
#define TINYML_TAIL_H

#include "tinyml_fixedpoint.h"
#include "tinyml_ops.h"

static inline int8_t tml_tail_out(int32_t acc, const int32_t *g, int m, int s, int zp) {
    int32_t v = tml_requantize(acc, g[m], g[s]) + g[zp];
    return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}

static inline uint32_t tml_tail_in(int8_t x, int32_t zp) {
    return (uint32_t)(x - zp) << 19;
}

// y[i] = the sum of xs[k][i], n inputs of `size` elements
static void tml_add_n(const int8_t *const *xs, int n, int8_t *y, int32_t size, const int32_t *g) {
    int32_t zp = g[TML_ADDN_X_ZP];
    for (int32_t i = 0; i < size; i++) {
        uint32_t acc = (uint32_t)(-zp) << 19;
        for (int k = 0; k < n; k++) {
            acc += tml_tail_in(xs[k][i], zp);
        }
        y[i] = tml_tail_out((int32_t)acc, g, TML_ADDN_Y_MULTIPLIER, TML_ADDN_Y_SHIFT, TML_ADDN_Y_ZP);
    }
}

// running sums of x as (outer, n, inner) along n
static void tml_cumsum(const int8_t *x, int8_t *y, const int32_t *g) {
    int32_t outer = g[TML_CUMSUM_OUTER], n = g[TML_CUMSUM_N], inner = g[TML_CUMSUM_INNER];
    int32_t zp = g[TML_CUMSUM_X_ZP];
    bool exclusive = g[TML_CUMSUM_EXCLUSIVE], reverse = g[TML_CUMSUM_REVERSE];
    for (int32_t o = 0; o < outer; o++) {
        for (int32_t k = 0; k < inner; k++) {
            uint32_t acc = (uint32_t)(-zp) << 19;
            for (int32_t j = 0; j < n; j++) {
                int32_t at = (o * n + (reverse ? n - 1 - j : j)) * inner + k;
                if (exclusive) {
                    y[at] = tml_tail_out((int32_t)acc, g, TML_CUMSUM_Y_MULTIPLIER, TML_CUMSUM_Y_SHIFT, TML_CUMSUM_Y_ZP);
                }
                acc += tml_tail_in(x[at], zp);
                if (!exclusive) {
                    y[at] = tml_tail_out((int32_t)acc, g, TML_CUMSUM_Y_MULTIPLIER, TML_CUMSUM_Y_SHIFT, TML_CUMSUM_Y_ZP);
                }
            }
        }
    }
}

#define TML_TAIL_MAX_INPUTS 255

// the parameters both check: zero points, the multiplier >= 0 and its shift in -31..0
static void tml_tail_check(const int32_t *g, int xzp, int m, int s, int yzp, mp_rom_error_text_t msg) {
    tml_check(tml_in(g[xzp], -128, 127) && tml_in(g[yzp], -128, 127) && g[m] >= 0 && tml_in(g[s], -31, 0), msg);
}

// add_n(xs, y, g): xs a tuple or list of int8 buffers of len(y)
static mp_obj_t tml_add_n_fn(mp_obj_t xs_obj, mp_obj_t y_obj, mp_obj_t g_obj) {
    size_t n;
    mp_obj_t *xs;
    mp_obj_get_array(xs_obj, &n, &xs);
    mp_buffer_info_t y;
    mp_get_buffer_raise(y_obj, &y, MP_BUFFER_WRITE);
    const int32_t *g = tml_g(g_obj, TML_ADDN_Y_ZP + 1, MP_ERROR_TEXT("add_n: g must be an array('i') of 4 values"));
    tml_tail_check(g, TML_ADDN_X_ZP, TML_ADDN_Y_MULTIPLIER, TML_ADDN_Y_SHIFT, TML_ADDN_Y_ZP,
        MP_ERROR_TEXT("add_n: zero points in -128..127, y_multiplier >= 0, y_shift in -31..0"));
    tml_check(n >= 1 && n <= TML_TAIL_MAX_INPUTS && y.len <= TML_INT32_MAX, MP_ERROR_TEXT("add_n: 1 to 255 inputs"));
    const int8_t *bufs[TML_TAIL_MAX_INPUTS];
    for (size_t k = 0; k < n; k++) {
        mp_buffer_info_t x;
        mp_get_buffer_raise(xs[k], &x, MP_BUFFER_READ);
        tml_check(x.len == y.len && tml_apart(&y, &x), MP_ERROR_TEXT("add_n: each input must be len(y) bytes, apart from y"));
        bufs[k] = x.buf;
    }
    tml_add_n(bufs, (int)n, y.buf, (int32_t)y.len, g);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_add_n_obj, tml_add_n_fn);

// cumsum(x, y, g)
static mp_obj_t tml_cumsum_fn(mp_obj_t x_obj, mp_obj_t y_obj, mp_obj_t g_obj) {
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(x_obj, &x, MP_BUFFER_READ);
    mp_get_buffer_raise(y_obj, &y, MP_BUFFER_WRITE);
    const int32_t *g = tml_g(g_obj, TML_CUMSUM_Y_ZP + 1, MP_ERROR_TEXT("cumsum: g must be an array('i') of 9 values"));
    tml_tail_check(g, TML_CUMSUM_X_ZP, TML_CUMSUM_Y_MULTIPLIER, TML_CUMSUM_Y_SHIFT, TML_CUMSUM_Y_ZP,
        MP_ERROR_TEXT("cumsum: zero points in -128..127, y_multiplier >= 0, y_shift in -31..0"));
    bool ok = g[TML_CUMSUM_OUTER] >= 1 && g[TML_CUMSUM_N] >= 1 && g[TML_CUMSUM_INNER] >= 1;
    uint64_t total = ok ? tml_mul31(tml_mul31((uint64_t)g[TML_CUMSUM_OUTER], (uint64_t)g[TML_CUMSUM_N]),
                                    (uint64_t)g[TML_CUMSUM_INNER]) : 0;
    tml_check(ok && total == x.len && x.len == y.len && total <= TML_INT32_MAX && tml_apart(&y, &x),
        MP_ERROR_TEXT("cumsum: x and y must be outer * n * inner bytes, apart"));
    tml_cumsum(x.buf, y.buf, g);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_cumsum_obj, tml_cumsum_fn);

#endif
