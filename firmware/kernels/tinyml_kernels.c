// MicroPython binding of tinyml_kernels.h (every kernel family), module `tinyml_kernels`; g's slots are
// named in tinyml_ops.h, generated from the op table (device_lib/tinyml/ops.py). One source, two builds:
// - a dynamic native module (.mpy), built by the Makefile here with py/dynruntime.mk;
// - a user C module of a firmware build (micropython.mk / micropython.cmake here).
// Same functions and bytes out as device_lib/tinyml/kernels_py.py.
#ifdef MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#include "py/objstr.h"
#endif
#include "tinyml_kernels.h"

// The native module is built once per family of kernels (firmware/build_natmod.sh, -DTML_FAMILY=...):
// each .mpy registers, and so links, only its family's kernels, and a model's load imports only the
// families its ops use (tinyml/backends.py: FAMILIES, which tests/test_op_table.py checks against
// these groups). tinyml_kernels.mpy is the core (TML_NN: the convolutions, pooling, softmax, copy and
// the bound ops' run); the others are tinyml_kernels_<family>.mpy. A new kernel's registration goes in
// its family's group; a family with bound kernels has its own bind (tinyml_bound.h), which knows only
// its kernels. The firmware build (a user C module) has every family in one module.
#define TML_NN 1
#define TML_ELEMENTWISE 2
#define TML_MATH 3
#define TML_MATMUL 4
#define TML_FFT 5
#define TML_RECURRENT 6
#define TML_S16 7
#define TML_MOVES 8
#define TML_DENSE 9
#ifdef MICROPY_ENABLE_DYNRUNTIME
#ifndef TML_FAMILY
#define TML_FAMILY TML_NN
#endif
#define TML_IN(family) (TML_FAMILY == (family))
#else
#define TML_IN(family) 1
#endif

#include "tinyml_fft.h" // rfft_q15, window_q15: preprocessing (tinyml.preprocess.fft)

static void tml_check(bool ok, mp_rom_error_text_t msg) {
    if (!ok) {
        mp_raise_ValueError(msg);
    }
}

// An int argument that must lie in [lo, hi]
static int32_t tml_int(mp_obj_t o, int32_t lo, int32_t hi, mp_rom_error_text_t msg) {
    mp_int_t v = mp_obj_get_int(o);
    tml_check(lo <= v && v <= hi, msg);
    return (int32_t)v;
}

static bool tml_aligned4(const void *p) {
    return ((uintptr_t)p & 3) == 0;
}

static bool tml_in(int32_t v, int32_t lo, int32_t hi) {
    return lo <= v && v <= hi;
}

// a * b for 0 <= a, b <= 2**31, saturated at 2**31: "too big for an int32 index"
static uint64_t tml_mul31(uint64_t a, uint64_t b) {
    uint64_t p = a * b;
    return p > TML_INT32_MAX ? (uint64_t)TML_INT32_MAX + 1 : p;
}

// n bytes from the start of buffer b are at most its length and index as int32
static bool tml_holds(const mp_buffer_info_t *b, uint64_t n) {
    return n <= TML_INT32_MAX && n <= b->len;
}

// The output y shares no byte with the input a
static bool tml_apart(const mp_buffer_info_t *y, const mp_buffer_info_t *a) {
    const uint8_t *yb = y->buf, *ab = a->buf;
    return yb + y->len <= ab || ab + a->len <= yb;
}

// g: an array('i') of exactly n values (the interpreter builds them: docs/kernels.md)
static const int32_t *tml_g(mp_obj_t o, size_t n, mp_rom_error_text_t msg) {
    mp_buffer_info_t b;
    mp_get_buffer_raise(o, &b, MP_BUFFER_READ);
    tml_check(b.typecode == 'i' && b.len == 4 * n && tml_aligned4(b.buf), msg);
    return b.buf;
}

#define TML_S16_BINDINGS
#include "tinyml_s16.h" // fully_connected_s16, conv2d_s16, depthwise_conv2d_s16, pool2d_s16, add_s16, sub_s16, mul_s16, lut_s16, softmax_s16, requantize_s16, quantize_f32_s16: int16 activations (16x8)

#include "tinyml_matmul_binding.h" // batch_matmul, transpose_conv2d
#include "tinyml_recurrent_binding.h" // svdf, lstm
#include "tinyml_tail.h" // add_n, cumsum

#include "tinyml_bound.h" // fully_connected, softmax, conv2d, depthwise_conv2d, pool2d, mean_hw, copy; bind, run

// add(a, b, y, g), sub(a, b, y, g) and mul(a, b, y, g); kind: TML_BIN_PLUS, _MINUS, _TIMES
static mp_obj_t tml_binary_common(const mp_obj_t *args, int kind) {
    mp_buffer_info_t a, b, y;
    mp_get_buffer_raise(args[0], &a, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &b, MP_BUFFER_READ);
    mp_get_buffer_raise(args[2], &y, MP_BUFFER_WRITE);
    bool codes = kind == TML_BIN_MAX || kind == TML_BIN_MIN; // g: the broadcast only
    const int32_t *v = kind == TML_BIN_TIMES
        ? tml_g(args[3], TML_MUL_ACT_MAX + 1, MP_ERROR_TEXT("mul: g must be an array('i') of 19 values"))
        : codes ? tml_g(args[3], TML_ADD_A_ZP, MP_ERROR_TEXT("maximum/minimum: g must be an array('i') of 12 values"))
        : tml_g(args[3], TML_ADD_ACT_MAX + 1, MP_ERROR_TEXT("add/sub: g must be an array('i') of 24 values"));
    tml_binary_t g;
    uint64_t n = 1, last_a = 0, last_b = 0; // output size; the largest index of a and of b
    bool ok = true;
    for (int i = 0; i < 4; i++) { // the same slots in add's g and mul's
        g.D[i] = v[TML_ADD_D0 + i], g.a_stride[i] = v[TML_ADD_A_STRIDE0 + i], g.b_stride[i] = v[TML_ADD_B_STRIDE0 + i];
        ok = ok && g.D[i] >= 1 && g.a_stride[i] >= 0 && g.b_stride[i] >= 0;
        if (ok) {
            n = tml_mul31(n, g.D[i]);
            last_a += tml_mul31(g.D[i] - 1, g.a_stride[i]);
            last_b += tml_mul31(g.D[i] - 1, g.b_stride[i]);
        }
    }
    tml_check(ok, MP_ERROR_TEXT("add/sub/mul: dimensions must be > 0, strides >= 0"));
    tml_check(n == y.len, MP_ERROR_TEXT("add/sub/mul: len(y) must be D0*D1*D2*D3"));
    tml_check(last_a < a.len && last_a <= TML_INT32_MAX, MP_ERROR_TEXT("add/sub/mul: a is too short for its strides"));
    tml_check(last_b < b.len && last_b <= TML_INT32_MAX, MP_ERROR_TEXT("add/sub/mul: b is too short for its strides"));
    tml_check(tml_apart(&y, &a) && tml_apart(&y, &b), MP_ERROR_TEXT("add/sub/mul: y overlaps an input"));
    if (codes) {
        g.a_zp = g.b_zp = g.left_shift = g.a_mult = g.a_shift = g.b_mult = g.b_shift = 0;
        g.y_mult = g.y_shift = g.y_zp = 0, g.act_min = -128, g.act_max = 127;
    } else if (kind == TML_BIN_TIMES) {
        g.a_zp = v[TML_MUL_A_ZP], g.b_zp = v[TML_MUL_B_ZP];
        g.left_shift = 0, g.a_mult = g.a_shift = g.b_mult = g.b_shift = 0;
        g.y_mult = v[TML_MUL_Y_MULTIPLIER], g.y_shift = v[TML_MUL_Y_SHIFT], g.y_zp = v[TML_MUL_Y_ZP];
        g.act_min = v[TML_MUL_ACT_MIN], g.act_max = v[TML_MUL_ACT_MAX];
    } else {
        g.a_zp = v[TML_ADD_A_ZP], g.b_zp = v[TML_ADD_B_ZP], g.left_shift = v[TML_ADD_LEFT_SHIFT];
        g.a_mult = v[TML_ADD_A_MULTIPLIER], g.a_shift = v[TML_ADD_A_SHIFT];
        g.b_mult = v[TML_ADD_B_MULTIPLIER], g.b_shift = v[TML_ADD_B_SHIFT];
        g.y_mult = v[TML_ADD_Y_MULTIPLIER], g.y_shift = v[TML_ADD_Y_SHIFT], g.y_zp = v[TML_ADD_Y_ZP];
        g.act_min = v[TML_ADD_ACT_MIN], g.act_max = v[TML_ADD_ACT_MAX];
        tml_check(kind == TML_BIN_PRELU ? g.left_shift == 0 && tml_in(g.a_shift, -31, 31) && tml_in(g.b_shift, -31, 31)
            : tml_in(g.left_shift, 0, kind == TML_BIN_SQUARED_DIFF ? 7 : 20) && g.a_shift <= 0 && g.b_shift <= 0,
            MP_ERROR_TEXT("add/sub: need 0 <= left_shift <= 20 (7 squared) and a_shift, b_shift <= 0"));
    }
    tml_check(tml_in(g.a_zp, -128, 127) && tml_in(g.b_zp, -128, 127) && tml_in(g.y_zp, -128, 127) &&
        tml_in(g.act_min, -128, 127) && tml_in(g.act_max, -128, 127),
        MP_ERROR_TEXT("add/sub/mul: zero points, act_min and act_max must be in -128..127"));
    tml_binary(a.buf, b.buf, y.buf, &g, kind);
    return mp_const_none;
}

static mp_obj_t tml_add_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_PLUS);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_add_obj, 4, 4, tml_add_fn);

static mp_obj_t tml_sub_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_MINUS);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_sub_obj, 4, 4, tml_sub_fn);

static mp_obj_t tml_mul_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_TIMES);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_mul_obj, 4, 4, tml_mul_fn);

static mp_obj_t tml_squared_difference_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_SQUARED_DIFF);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_squared_difference_obj, 4, 4, tml_squared_difference_fn);

static mp_obj_t tml_maximum_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_MAX);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_maximum_obj, 4, 4, tml_maximum_fn);

static mp_obj_t tml_minimum_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_MIN);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_minimum_obj, 4, 4, tml_minimum_fn);

static mp_obj_t tml_prelu_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_PRELU);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_prelu_obj, 4, 4, tml_prelu_fn);

static mp_obj_t tml_equal_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_EQUAL);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_equal_obj, 4, 4, tml_equal_fn);

static mp_obj_t tml_not_equal_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_NOT_EQUAL);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_not_equal_obj, 4, 4, tml_not_equal_fn);

static mp_obj_t tml_less_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_LESS);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_less_obj, 4, 4, tml_less_fn);

static mp_obj_t tml_less_equal_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_LESS_EQUAL);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_less_equal_obj, 4, 4, tml_less_equal_fn);

static mp_obj_t tml_greater_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_GREATER);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_greater_obj, 4, 4, tml_greater_fn);

static mp_obj_t tml_greater_equal_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_binary_common(args, TML_BIN_GREATER_EQUAL);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_greater_equal_obj, 4, 4, tml_greater_equal_fn);

// lut(x, y, table, size)
static mp_obj_t tml_lut_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y, table;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    mp_get_buffer_raise(args[2], &table, MP_BUFFER_READ);
    int32_t size = tml_int(args[3], 1, 1024, MP_ERROR_TEXT("lut: size must be in 1..1024"));
    tml_check(table.len >= 256 * (size_t)size, MP_ERROR_TEXT("lut: table must hold 256 entries of size bytes"));
    tml_check(x.len <= TML_INT32_MAX && tml_mul31(x.len, size) == y.len,
        MP_ERROR_TEXT("lut: len(y) must be len(x) * size"));
    // in place (y is x) works for 1-byte entries: each x is read before its y is written
    tml_check((size == 1 && y.buf == x.buf) || tml_apart(&y, &x), MP_ERROR_TEXT("lut: y overlaps x"));
    tml_check(tml_apart(&y, &table), MP_ERROR_TEXT("lut: y overlaps table"));
    tml_lut(x.buf, y.buf, table.buf, (int)x.len, size);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_lut_obj, 4, 4, tml_lut_fn);

// resize_bilinear(x, y, table, g)
static mp_obj_t tml_resize_bilinear_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y, table;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    mp_get_buffer_raise(args[2], &table, MP_BUFFER_READ);
    const int32_t *g = tml_g(args[3], TML_RESIZE_PARAMS, MP_ERROR_TEXT("resize_bilinear: g must be an array('i') of 5 values"));
    int32_t nb = g[TML_RESIZE_BATCHES], oh = g[TML_RESIZE_OH], ow = g[TML_RESIZE_OW], c = g[TML_RESIZE_C];
    int32_t stride = g[TML_RESIZE_IN_BATCH];
    tml_check(nb > 0 && oh > 0 && ow > 0 && c > 0 && stride >= c, MP_ERROR_TEXT("resize_bilinear: bad sizes in g"));
    tml_check(tml_holds(&x, tml_mul31(nb, stride)), MP_ERROR_TEXT("resize_bilinear: x is shorter than its images"));
    tml_check(tml_mul31(tml_mul31(tml_mul31(nb, oh), ow), c) == y.len, MP_ERROR_TEXT("resize_bilinear: len(y) must be N*OH*OW*C"));
    tml_check(tml_aligned4(table.buf) && tml_holds(&table, tml_mul31(12, (uint64_t)oh + ow)),
        MP_ERROR_TEXT("resize_bilinear: table must hold 3 * (OH + OW) aligned int32s"));
    const int32_t *t = table.buf;
    int32_t row_max = 0;
    for (int32_t i = 0; i < oh + ow; i++) {  // every offset inside an image: rows, then columns of C bytes
        tml_check(tml_in(t[3 * i], 0, stride - c) && tml_in(t[3 * i + 1], 0, stride - c) && tml_in(t[3 * i + 2], -1024, 1024),
            MP_ERROR_TEXT("resize_bilinear: table entry out of range"));
        if (i < oh) {
            row_max = t[3 * i] > row_max ? t[3 * i] : row_max;
            row_max = t[3 * i + 1] > row_max ? t[3 * i + 1] : row_max;
        } else {
            tml_check((int64_t)row_max + t[3 * i] <= stride - c && (int64_t)row_max + t[3 * i + 1] <= stride - c,
                MP_ERROR_TEXT("resize_bilinear: table entry out of range"));
        }
    }
    tml_check(tml_apart(&y, &x) && tml_apart(&y, &table), MP_ERROR_TEXT("resize_bilinear: y overlaps an input"));
    tml_resize_bilinear(x.buf, y.buf, t, g);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_resize_bilinear_obj, 4, 4, tml_resize_bilinear_fn);

// quantize_f32(x, y, g)
static mp_obj_t tml_quantize_f32_fn(mp_obj_t x_obj, mp_obj_t y_obj, mp_obj_t g_obj) {
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(x_obj, &x, MP_BUFFER_READ);
    mp_get_buffer_raise(y_obj, &y, MP_BUFFER_WRITE);
    const int32_t *v = tml_g(g_obj, TML_QUANTIZE_Y_SCALE + 1, MP_ERROR_TEXT("quantize_f32: g must be an array('i') of 2 values"));
    tml_check(tml_in(v[TML_QUANTIZE_Y_ZP], -128, 127), MP_ERROR_TEXT("quantize_f32: y_zp must be in -128..127"));
    tml_check(y.len <= TML_INT32_MAX && x.len / 4 >= y.len,
        MP_ERROR_TEXT("quantize_f32: x holds fewer than len(y) float32"));
    tml_check(tml_apart(&y, &x), MP_ERROR_TEXT("quantize_f32: y overlaps x"));
    tml_quantize_f32(x.buf, y.buf, (int)y.len, v[TML_QUANTIZE_Y_ZP], (uint32_t)v[TML_QUANTIZE_Y_SCALE]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_quantize_f32_obj, tml_quantize_f32_fn);

// reduce_sum(x, y, g), reduce_max(x, y, g), reduce_min(x, y, g); kind: TML_REDUCE_SUM, _MAX, _MIN
static mp_obj_t tml_reduce_common(mp_obj_t x_obj, mp_obj_t y_obj, mp_obj_t g_obj, int kind) {
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(x_obj, &x, MP_BUFFER_READ);
    mp_get_buffer_raise(y_obj, &y, MP_BUFFER_WRITE);
    const int32_t *v = kind == TML_REDUCE_SUM
        ? tml_g(g_obj, TML_REDUCE_SHIFT + 1, MP_ERROR_TEXT("reduce_sum: g must be an array('i') of 16 values"))
        : tml_g(g_obj, TML_REDUCE_PARAMS, MP_ERROR_TEXT("reduce_max/min: g must be an array('i') of 12 values"));
    tml_reduce_t g;
    g.x_zp = g.y_zp = g.mult = g.shift = 0;
    uint64_t n_out = 1, n_red = 1, last = 0;
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        g.D[i] = v[TML_REDUCE_D0 + i], g.R[i] = v[TML_REDUCE_R0 + i], g.stride[i] = v[TML_REDUCE_STRIDE0 + i];
        ok = ok && g.D[i] >= 1 && g.R[i] >= 1 && g.stride[i] >= 0;
        if (ok) {
            n_out = tml_mul31(n_out, g.D[i]);
            n_red = tml_mul31(n_red, g.R[i]);
            last += tml_mul31(g.D[i] + g.R[i] - 2, g.stride[i]);
        }
    }
    tml_check(ok, MP_ERROR_TEXT("reduce: dimensions must be > 0, strides >= 0"));
    bool arg = kind == TML_REDUCE_ARGMAX || kind == TML_REDUCE_ARGMIN; // int32 indices out
    tml_check(tml_mul31(n_out, arg ? 4 : 1) == y.len && (!arg || tml_aligned4(y.buf)),
        MP_ERROR_TEXT("reduce: len(y) must be D0*D1*D2*D3 (times 4, aligned, for an arg)"));
    tml_check(n_red <= (1 << 23), MP_ERROR_TEXT("reduce: at most 2**23 values reduced into one"));
    tml_check(last < x.len && last <= TML_INT32_MAX, MP_ERROR_TEXT("reduce: x is too short for its strides"));
    tml_check(tml_apart(&y, &x), MP_ERROR_TEXT("reduce: y overlaps x"));
    if (kind == TML_REDUCE_SUM) {
        g.x_zp = v[TML_REDUCE_X_ZP], g.y_zp = v[TML_REDUCE_Y_ZP];
        g.mult = v[TML_REDUCE_MULTIPLIER], g.shift = v[TML_REDUCE_SHIFT];
        tml_check(tml_in(g.x_zp, -128, 127) && tml_in(g.y_zp, -128, 127) && tml_in(g.shift, -31, 31),
            MP_ERROR_TEXT("reduce_sum: x_zp, y_zp must be in -128..127, shift in -31..31"));
    }
    tml_reduce(x.buf, y.buf, &g, kind);
    return mp_const_none;
}

static mp_obj_t tml_reduce_sum_fn(mp_obj_t x, mp_obj_t y, mp_obj_t g) {
    return tml_reduce_common(x, y, g, TML_REDUCE_SUM);
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_reduce_sum_obj, tml_reduce_sum_fn);

static mp_obj_t tml_reduce_max_fn(mp_obj_t x, mp_obj_t y, mp_obj_t g) {
    return tml_reduce_common(x, y, g, TML_REDUCE_MAX);
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_reduce_max_obj, tml_reduce_max_fn);

static mp_obj_t tml_reduce_min_fn(mp_obj_t x, mp_obj_t y, mp_obj_t g) {
    return tml_reduce_common(x, y, g, TML_REDUCE_MIN);
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_reduce_min_obj, tml_reduce_min_fn);

static mp_obj_t tml_reduce_argmax_fn(mp_obj_t x, mp_obj_t y, mp_obj_t g) {
    return tml_reduce_common(x, y, g, TML_REDUCE_ARGMAX);
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_reduce_argmax_obj, tml_reduce_argmax_fn);

static mp_obj_t tml_reduce_argmin_fn(mp_obj_t x, mp_obj_t y, mp_obj_t g) {
    return tml_reduce_common(x, y, g, TML_REDUCE_ARGMIN);
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_reduce_argmin_obj, tml_reduce_argmin_fn);

// l2_normalization(x, y, depth, x_zp)
static mp_obj_t tml_l2_normalization_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    int32_t depth = tml_int(args[2], 1, 33025, MP_ERROR_TEXT("l2_normalization: depth must be in 1..33025"));
    int32_t x_zp = tml_int(args[3], -128, 127, MP_ERROR_TEXT("l2_normalization: x_zp must be in -128..127"));
    tml_check(x.len == y.len && x.len <= TML_INT32_MAX && x.len % depth == 0,
        MP_ERROR_TEXT("l2_normalization: x and y must hold the same rows of depth values"));
    tml_check(tml_apart(&y, &x), MP_ERROR_TEXT("l2_normalization: y overlaps x"));
    tml_l2_normalization(x.buf, y.buf, (int)(x.len / depth), depth, x_zp);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_l2_normalization_obj, 4, 4, tml_l2_normalization_fn);

// log_softmax(x, y, n, in_mult, in_left_shift, reverse_multiplier, reverse_shift, diff_min)
static mp_obj_t tml_log_softmax_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    int32_t n = tml_int(args[2], 1, 4096, MP_ERROR_TEXT("log_softmax: n must be in 1..4096"));
    int32_t in_mult = tml_int(args[3], 0, TML_INT32_MAX, MP_ERROR_TEXT("log_softmax: in_mult must be >= 0"));
    int32_t in_ls = tml_int(args[4], 0, 31, MP_ERROR_TEXT("log_softmax: in_left_shift must be in 0..31"));
    int32_t rev_mult = tml_int(args[5], 0, TML_INT32_MAX, MP_ERROR_TEXT("log_softmax: reverse_multiplier must be >= 0"));
    int32_t rev_shift = tml_int(args[6], -31, 0, MP_ERROR_TEXT("log_softmax: reverse_shift must be in -31..0"));
    int32_t diff_min = tml_int(args[7], -TML_INT32_MAX, 0, MP_ERROR_TEXT("log_softmax: diff_min must be in -(2**31-1)..0"));
    tml_check(x.len % n == 0 && y.len == x.len && x.len <= TML_INT32_MAX,
        MP_ERROR_TEXT("log_softmax: x and y must hold the same rows of n values"));
    tml_check(tml_apart(&y, &x), MP_ERROR_TEXT("log_softmax: y overlaps x"));
    tml_log_softmax(x.buf, y.buf, (int)(x.len / n), n, in_mult, in_ls, rev_mult, rev_shift, diff_min);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_log_softmax_obj, 8, 8, tml_log_softmax_fn);

// select(c, a, b, y, g)
static mp_obj_t tml_select_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t in[3], y;
    for (int k = 0; k < 3; k++) {
        mp_get_buffer_raise(args[k], &in[k], MP_BUFFER_READ);
    }
    mp_get_buffer_raise(args[3], &y, MP_BUFFER_WRITE);
    const int32_t *v = tml_g(args[4], TML_SELECT_B_STRIDE0 + 4, MP_ERROR_TEXT("select: g must be an array('i') of 16 values"));
    uint64_t n = 1, last[3] = {0, 0, 0};
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        int32_t d = v[TML_SELECT_D0 + i];
        ok = ok && d >= 1;
        for (int k = 0; k < 3; k++) {
            int32_t s = v[TML_SELECT_C_STRIDE0 + 4 * k + i];
            ok = ok && s >= 0;
            if (ok) {
                last[k] += tml_mul31(d - 1, s);
            }
        }
        if (ok) {
            n = tml_mul31(n, d);
        }
    }
    tml_check(ok, MP_ERROR_TEXT("select: dimensions must be > 0, strides >= 0"));
    tml_check(n == y.len, MP_ERROR_TEXT("select: len(y) must be D0*D1*D2*D3"));
    for (int k = 0; k < 3; k++) {
        tml_check(last[k] < in[k].len && last[k] <= TML_INT32_MAX && tml_apart(&y, &in[k]),
            MP_ERROR_TEXT("select: an input is too short for its strides, or overlaps y"));
    }
    tml_select(in[0].buf, in[1].buf, in[2].buf, y.buf, v + TML_SELECT_D0, v + TML_SELECT_C_STRIDE0,
        v + TML_SELECT_A_STRIDE0, v + TML_SELECT_B_STRIDE0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_select_obj, 5, 5, tml_select_fn);

#ifdef MICROPY_ENABLE_DYNRUNTIME

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    #if TML_IN(TML_NN)
    mp_store_global(MP_QSTR_softmax, MP_OBJ_FROM_PTR(&tml_softmax_obj));
    mp_store_global(MP_QSTR_conv2d, MP_OBJ_FROM_PTR(&tml_conv2d_obj));
    mp_store_global(MP_QSTR_depthwise_conv2d, MP_OBJ_FROM_PTR(&tml_depthwise_conv2d_obj));
    mp_store_global(MP_QSTR_pool2d, MP_OBJ_FROM_PTR(&tml_pool2d_obj));
    mp_store_global(MP_QSTR_copy, MP_OBJ_FROM_PTR(&tml_copy_obj));
    mp_store_global(MP_QSTR_bind, MP_OBJ_FROM_PTR(&tml_bind_obj));
    mp_store_global(MP_QSTR_run, MP_OBJ_FROM_PTR(&tml_run_obj));
    #endif
    #if TML_IN(TML_DENSE)
    mp_store_global(MP_QSTR_fully_connected, MP_OBJ_FROM_PTR(&tml_fully_connected_obj));
    mp_store_global(MP_QSTR_mean_hw, MP_OBJ_FROM_PTR(&tml_mean_hw_obj));
    mp_store_global(MP_QSTR_lut, MP_OBJ_FROM_PTR(&tml_lut_obj));
    mp_store_global(MP_QSTR_quantize_f32, MP_OBJ_FROM_PTR(&tml_quantize_f32_obj));
    mp_store_global(MP_QSTR_bind_dense, MP_OBJ_FROM_PTR(&tml_bind_obj)); // this family's bind
    #endif
    #if TML_IN(TML_ELEMENTWISE)
    mp_store_global(MP_QSTR_add, MP_OBJ_FROM_PTR(&tml_add_obj));
    mp_store_global(MP_QSTR_sub, MP_OBJ_FROM_PTR(&tml_sub_obj));
    mp_store_global(MP_QSTR_mul, MP_OBJ_FROM_PTR(&tml_mul_obj));
    mp_store_global(MP_QSTR_squared_difference, MP_OBJ_FROM_PTR(&tml_squared_difference_obj));
    mp_store_global(MP_QSTR_maximum, MP_OBJ_FROM_PTR(&tml_maximum_obj));
    mp_store_global(MP_QSTR_minimum, MP_OBJ_FROM_PTR(&tml_minimum_obj));
    mp_store_global(MP_QSTR_prelu, MP_OBJ_FROM_PTR(&tml_prelu_obj));
    mp_store_global(MP_QSTR_equal, MP_OBJ_FROM_PTR(&tml_equal_obj));
    mp_store_global(MP_QSTR_not_equal, MP_OBJ_FROM_PTR(&tml_not_equal_obj));
    mp_store_global(MP_QSTR_less, MP_OBJ_FROM_PTR(&tml_less_obj));
    mp_store_global(MP_QSTR_less_equal, MP_OBJ_FROM_PTR(&tml_less_equal_obj));
    mp_store_global(MP_QSTR_greater, MP_OBJ_FROM_PTR(&tml_greater_obj));
    mp_store_global(MP_QSTR_greater_equal, MP_OBJ_FROM_PTR(&tml_greater_equal_obj));
    mp_store_global(MP_QSTR_select, MP_OBJ_FROM_PTR(&tml_select_obj));
    mp_store_global(MP_QSTR_add_n, MP_OBJ_FROM_PTR(&tml_add_n_obj));
    mp_store_global(MP_QSTR_cumsum, MP_OBJ_FROM_PTR(&tml_cumsum_obj));
    #endif
    #if TML_IN(TML_MATH)
    mp_store_global(MP_QSTR_reduce_sum, MP_OBJ_FROM_PTR(&tml_reduce_sum_obj));
    mp_store_global(MP_QSTR_reduce_max, MP_OBJ_FROM_PTR(&tml_reduce_max_obj));
    mp_store_global(MP_QSTR_reduce_min, MP_OBJ_FROM_PTR(&tml_reduce_min_obj));
    mp_store_global(MP_QSTR_reduce_argmax, MP_OBJ_FROM_PTR(&tml_reduce_argmax_obj));
    mp_store_global(MP_QSTR_reduce_argmin, MP_OBJ_FROM_PTR(&tml_reduce_argmin_obj));
    mp_store_global(MP_QSTR_l2_normalization, MP_OBJ_FROM_PTR(&tml_l2_normalization_obj));
    mp_store_global(MP_QSTR_log_softmax, MP_OBJ_FROM_PTR(&tml_log_softmax_obj));
    mp_store_global(MP_QSTR_resize_bilinear, MP_OBJ_FROM_PTR(&tml_resize_bilinear_obj));
    #endif
    #if TML_IN(TML_S16)
    mp_store_global(MP_QSTR_fully_connected_s16, MP_OBJ_FROM_PTR(&tml_fully_connected_s16_obj));
    mp_store_global(MP_QSTR_conv2d_s16, MP_OBJ_FROM_PTR(&tml_conv2d_s16_obj));
    mp_store_global(MP_QSTR_depthwise_conv2d_s16, MP_OBJ_FROM_PTR(&tml_depthwise_conv2d_s16_obj));
    mp_store_global(MP_QSTR_pool2d_s16, MP_OBJ_FROM_PTR(&tml_pool2d_s16_obj));
    mp_store_global(MP_QSTR_add_s16, MP_OBJ_FROM_PTR(&tml_add_s16_obj));
    mp_store_global(MP_QSTR_sub_s16, MP_OBJ_FROM_PTR(&tml_sub_s16_obj));
    mp_store_global(MP_QSTR_mul_s16, MP_OBJ_FROM_PTR(&tml_mul_s16_obj));
    mp_store_global(MP_QSTR_lut_s16, MP_OBJ_FROM_PTR(&tml_lut_s16_obj));
    mp_store_global(MP_QSTR_softmax_s16, MP_OBJ_FROM_PTR(&tml_softmax_s16_obj));
    mp_store_global(MP_QSTR_requantize_s16, MP_OBJ_FROM_PTR(&tml_requantize_s16_obj));
    mp_store_global(MP_QSTR_quantize_f32_s16, MP_OBJ_FROM_PTR(&tml_quantize_f32_s16_obj));
    #endif
    #if TML_IN(TML_MATMUL)
    mp_store_global(MP_QSTR_batch_matmul, MP_OBJ_FROM_PTR(&tml_batch_matmul_obj));
    mp_store_global(MP_QSTR_transpose_conv2d, MP_OBJ_FROM_PTR(&tml_transpose_conv2d_obj));
    #endif
    #if TML_IN(TML_MOVES)
    mp_store_global(MP_QSTR_remap, MP_OBJ_FROM_PTR(&tml_remap_obj));
    mp_store_global(MP_QSTR_concat, MP_OBJ_FROM_PTR(&tml_concat_obj));
    #endif
    #if TML_IN(TML_RECURRENT)
    mp_store_global(MP_QSTR_svdf, MP_OBJ_FROM_PTR(&tml_svdf_obj));
    mp_store_global(MP_QSTR_lstm, MP_OBJ_FROM_PTR(&tml_lstm_obj));
    #endif
    #if TML_IN(TML_FFT)
    mp_store_global(MP_QSTR_rfft_q15, MP_OBJ_FROM_PTR(&tml_rfft_q15_obj));
    mp_store_global(MP_QSTR_window_q15, MP_OBJ_FROM_PTR(&tml_window_q15_obj));
    #endif
    mp_store_global(MP_QSTR_NAME, MP_OBJ_NEW_QSTR(MP_QSTR_native));
    mp_store_global(MP_QSTR___version__, mp_obj_new_str("1", 1));
    MP_DYNRUNTIME_INIT_EXIT
}

#else

static const MP_DEFINE_STR_OBJ(tml_version_obj, "1");

static const mp_rom_map_elem_t tml_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_tinyml_kernels) },
    { MP_ROM_QSTR(MP_QSTR___version__), MP_ROM_PTR(&tml_version_obj) },
    { MP_ROM_QSTR(MP_QSTR_NAME), MP_ROM_QSTR(MP_QSTR_native) },
    { MP_ROM_QSTR(MP_QSTR_rfft_q15), MP_ROM_PTR(&tml_rfft_q15_obj) },
    { MP_ROM_QSTR(MP_QSTR_window_q15), MP_ROM_PTR(&tml_window_q15_obj) },
    { MP_ROM_QSTR(MP_QSTR_fully_connected), MP_ROM_PTR(&tml_fully_connected_obj) },
    { MP_ROM_QSTR(MP_QSTR_fully_connected_s16), MP_ROM_PTR(&tml_fully_connected_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_conv2d_s16), MP_ROM_PTR(&tml_conv2d_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_depthwise_conv2d_s16), MP_ROM_PTR(&tml_depthwise_conv2d_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_pool2d_s16), MP_ROM_PTR(&tml_pool2d_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_add_s16), MP_ROM_PTR(&tml_add_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_sub_s16), MP_ROM_PTR(&tml_sub_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_mul_s16), MP_ROM_PTR(&tml_mul_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_lut_s16), MP_ROM_PTR(&tml_lut_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_softmax_s16), MP_ROM_PTR(&tml_softmax_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_requantize_s16), MP_ROM_PTR(&tml_requantize_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_quantize_f32_s16), MP_ROM_PTR(&tml_quantize_f32_s16_obj) },
    { MP_ROM_QSTR(MP_QSTR_softmax), MP_ROM_PTR(&tml_softmax_obj) },
    { MP_ROM_QSTR(MP_QSTR_conv2d), MP_ROM_PTR(&tml_conv2d_obj) },
    { MP_ROM_QSTR(MP_QSTR_depthwise_conv2d), MP_ROM_PTR(&tml_depthwise_conv2d_obj) },
    { MP_ROM_QSTR(MP_QSTR_pool2d), MP_ROM_PTR(&tml_pool2d_obj) },
    { MP_ROM_QSTR(MP_QSTR_mean_hw), MP_ROM_PTR(&tml_mean_hw_obj) },
    { MP_ROM_QSTR(MP_QSTR_copy), MP_ROM_PTR(&tml_copy_obj) },
    { MP_ROM_QSTR(MP_QSTR_bind), MP_ROM_PTR(&tml_bind_obj) },
    { MP_ROM_QSTR(MP_QSTR_run), MP_ROM_PTR(&tml_run_obj) },
    { MP_ROM_QSTR(MP_QSTR_add), MP_ROM_PTR(&tml_add_obj) },
    { MP_ROM_QSTR(MP_QSTR_sub), MP_ROM_PTR(&tml_sub_obj) },
    { MP_ROM_QSTR(MP_QSTR_mul), MP_ROM_PTR(&tml_mul_obj) },
    { MP_ROM_QSTR(MP_QSTR_lut), MP_ROM_PTR(&tml_lut_obj) },
    { MP_ROM_QSTR(MP_QSTR_quantize_f32), MP_ROM_PTR(&tml_quantize_f32_obj) },
    { MP_ROM_QSTR(MP_QSTR_squared_difference), MP_ROM_PTR(&tml_squared_difference_obj) },
    { MP_ROM_QSTR(MP_QSTR_maximum), MP_ROM_PTR(&tml_maximum_obj) },
    { MP_ROM_QSTR(MP_QSTR_minimum), MP_ROM_PTR(&tml_minimum_obj) },
    { MP_ROM_QSTR(MP_QSTR_prelu), MP_ROM_PTR(&tml_prelu_obj) },
    { MP_ROM_QSTR(MP_QSTR_equal), MP_ROM_PTR(&tml_equal_obj) },
    { MP_ROM_QSTR(MP_QSTR_not_equal), MP_ROM_PTR(&tml_not_equal_obj) },
    { MP_ROM_QSTR(MP_QSTR_less), MP_ROM_PTR(&tml_less_obj) },
    { MP_ROM_QSTR(MP_QSTR_less_equal), MP_ROM_PTR(&tml_less_equal_obj) },
    { MP_ROM_QSTR(MP_QSTR_greater), MP_ROM_PTR(&tml_greater_obj) },
    { MP_ROM_QSTR(MP_QSTR_greater_equal), MP_ROM_PTR(&tml_greater_equal_obj) },
    { MP_ROM_QSTR(MP_QSTR_reduce_sum), MP_ROM_PTR(&tml_reduce_sum_obj) },
    { MP_ROM_QSTR(MP_QSTR_reduce_max), MP_ROM_PTR(&tml_reduce_max_obj) },
    { MP_ROM_QSTR(MP_QSTR_reduce_min), MP_ROM_PTR(&tml_reduce_min_obj) },
    { MP_ROM_QSTR(MP_QSTR_reduce_argmax), MP_ROM_PTR(&tml_reduce_argmax_obj) },
    { MP_ROM_QSTR(MP_QSTR_reduce_argmin), MP_ROM_PTR(&tml_reduce_argmin_obj) },
    { MP_ROM_QSTR(MP_QSTR_l2_normalization), MP_ROM_PTR(&tml_l2_normalization_obj) },
    { MP_ROM_QSTR(MP_QSTR_log_softmax), MP_ROM_PTR(&tml_log_softmax_obj) },
    { MP_ROM_QSTR(MP_QSTR_select), MP_ROM_PTR(&tml_select_obj) },
    { MP_ROM_QSTR(MP_QSTR_add_n), MP_ROM_PTR(&tml_add_n_obj) },
    { MP_ROM_QSTR(MP_QSTR_cumsum), MP_ROM_PTR(&tml_cumsum_obj) },
    { MP_ROM_QSTR(MP_QSTR_resize_bilinear), MP_ROM_PTR(&tml_resize_bilinear_obj) },
    { MP_ROM_QSTR(MP_QSTR_batch_matmul), MP_ROM_PTR(&tml_batch_matmul_obj) },
    { MP_ROM_QSTR(MP_QSTR_transpose_conv2d), MP_ROM_PTR(&tml_transpose_conv2d_obj) },
    { MP_ROM_QSTR(MP_QSTR_remap), MP_ROM_PTR(&tml_remap_obj) },
    { MP_ROM_QSTR(MP_QSTR_concat), MP_ROM_PTR(&tml_concat_obj) },
    { MP_ROM_QSTR(MP_QSTR_svdf), MP_ROM_PTR(&tml_svdf_obj) },
    { MP_ROM_QSTR(MP_QSTR_lstm), MP_ROM_PTR(&tml_lstm_obj) },
};
static MP_DEFINE_CONST_DICT(tml_module_globals, tml_module_globals_table);

const mp_obj_module_t tinyml_kernels_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&tml_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_tinyml_kernels, tinyml_kernels_module);

#endif
