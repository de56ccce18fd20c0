// MicroPython binding of tinyml_matmul.h and tinyml_moves.h: batch_matmul, transpose_conv2d, and the
// interpreter's data moves remap and concat, of the module tinyml_kernels. Included by tinyml_kernels.c after its argument helpers (tml_check, tml_g, tml_holds,
// tml_mul31, tml_apart, tml_aligned4, tml_in); every index a kernel forms is checked here first.
#ifndef TINYML_MATMUL_BINDING_H
#define TINYML_MATMUL_BINDING_H

#include "tinyml_matmul.h"
#include "tinyml_moves.h"

// The highest element index (from 0) of n steps of stride s, each 0 <= s, n >= 1: (n - 1) * s
static uint64_t tml_last(int32_t n, int32_t s) {
    return tml_mul31((uint64_t)(n - 1), (uint64_t)s);
}

// batch_matmul(a, b, y, g)
static mp_obj_t tml_batch_matmul_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_obj_t a_obj = args[0], b_obj = args[1], y_obj = args[2], g_obj = args[3];
    mp_buffer_info_t a, b, y;
    mp_get_buffer_raise(a_obj, &a, MP_BUFFER_READ);
    mp_get_buffer_raise(b_obj, &b, MP_BUFFER_READ);
    mp_get_buffer_raise(y_obj, &y, MP_BUFFER_WRITE);
    const int32_t *g = tml_g(g_obj, TML_MATMUL_Y_ZP + 1, MP_ERROR_TEXT("batch_matmul: g must be an array('i') of 21 values"));
    bool ok = true;
    for (int i = 0; i < 3; i++) {
        ok = ok && tml_in(g[TML_MATMUL_D0 + i], 1, 65535) && tml_in(g[TML_MATMUL_A_STRIDE0 + i], 0, TML_INT32_MAX) &&
            tml_in(g[TML_MATMUL_B_STRIDE0 + i], 0, TML_INT32_MAX);
    }
    int32_t rows = g[TML_MATMUL_ROWS], cols = g[TML_MATMUL_COLS], depth = g[TML_MATMUL_DEPTH];
    ok = ok && tml_in(rows, 1, 65535) && tml_in(cols, 1, 65535) && tml_in(depth, 1, 33025) &&
        tml_in(g[TML_MATMUL_A_ROW], 0, TML_INT32_MAX) && tml_in(g[TML_MATMUL_A_K], 0, TML_INT32_MAX) &&
        tml_in(g[TML_MATMUL_B_K], 0, TML_INT32_MAX) && tml_in(g[TML_MATMUL_B_COL], 0, TML_INT32_MAX);
    tml_check(ok, MP_ERROR_TEXT("batch_matmul: sizes in 1..65535 (depth 1..33025), strides >= 0"));
    tml_check(tml_in(g[TML_MATMUL_A_ZP], -128, 127) && tml_in(g[TML_MATMUL_B_ZP], -128, 127) &&
        tml_in(g[TML_MATMUL_Y_ZP], -128, 127) && tml_in(g[TML_MATMUL_Y_SHIFT], -31, 31),
        MP_ERROR_TEXT("batch_matmul: zero points must be in -128..127, y_shift in -31..31"));
    const int32_t *d = g + TML_MATMUL_D0;
    uint64_t a_last = tml_last(d[0], g[TML_MATMUL_A_STRIDE0]) + tml_last(d[1], g[TML_MATMUL_A_STRIDE0 + 1]) +
        tml_last(d[2], g[TML_MATMUL_A_STRIDE0 + 2]) + tml_last(rows, g[TML_MATMUL_A_ROW]) +
        tml_last(depth, g[TML_MATMUL_A_K]);
    uint64_t b_last = tml_last(d[0], g[TML_MATMUL_B_STRIDE0]) + tml_last(d[1], g[TML_MATMUL_B_STRIDE0 + 1]) +
        tml_last(d[2], g[TML_MATMUL_B_STRIDE0 + 2]) + tml_last(depth, g[TML_MATMUL_B_K]) +
        tml_last(cols, g[TML_MATMUL_B_COL]);
    tml_check(a_last < TML_INT32_MAX && a_last < a.len && b_last < TML_INT32_MAX && b_last < b.len,
        MP_ERROR_TEXT("batch_matmul: g reads past a or b"));
    uint64_t n = tml_mul31(tml_mul31(tml_mul31(d[0], d[1]), tml_mul31(d[2], rows)), cols);
    tml_check(tml_holds(&y, n), MP_ERROR_TEXT("batch_matmul: y is shorter than its batches of rows x cols"));
    tml_check(tml_apart(&y, &a) && tml_apart(&y, &b), MP_ERROR_TEXT("batch_matmul: y overlaps an input"));
    tml_batch_matmul(a.buf, b.buf, y.buf, g);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_batch_matmul_obj, 4, 4, tml_batch_matmul_fn);

// transpose_conv2d(x, w, bias, mult, shift, y, g): g is conv2d's (20 values)
static mp_obj_t tml_transpose_conv2d_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, w, bias, mult, shift, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &w, MP_BUFFER_READ);
    mp_get_buffer_raise(args[2], &bias, MP_BUFFER_READ);
    mp_get_buffer_raise(args[3], &mult, MP_BUFFER_READ);
    mp_get_buffer_raise(args[4], &shift, MP_BUFFER_READ);
    mp_get_buffer_raise(args[5], &y, MP_BUFFER_WRITE);
    const int32_t *v = tml_g(args[6], TML_CONV_DEPTH_MULTIPLIER,
        MP_ERROR_TEXT("transpose_conv2d: g must be an array('i') of 20 values"));
    bool ok = tml_in(v[TML_CONV_H], 1, 32767) && tml_in(v[TML_CONV_W], 1, 32767) && tml_in(v[TML_CONV_C], 1, 32767) &&
        tml_in(v[TML_CONV_OH], 1, 32767) && tml_in(v[TML_CONV_OW], 1, 32767) && tml_in(v[TML_CONV_OC], 1, 32767) &&
        tml_in(v[TML_CONV_KH], 1, 32767) && tml_in(v[TML_CONV_KW], 1, 32767) &&
        tml_in(v[TML_CONV_STRIDE_H], 1, 32767) && tml_in(v[TML_CONV_STRIDE_W], 1, 32767) &&
        tml_in(v[TML_CONV_PAD_TOP], 0, 32767) && tml_in(v[TML_CONV_PAD_LEFT], 0, 32767);
    tml_check(ok, MP_ERROR_TEXT("transpose_conv2d: sizes and strides must be in 1..32767, paddings in 0..32767"));
    tml_check(tml_in(v[TML_CONV_X_ZP], -128, 127) && tml_in(v[TML_CONV_Y_ZP], -128, 127) &&
        tml_in(v[TML_CONV_ACT_MIN], -128, 127) && tml_in(v[TML_CONV_ACT_MAX], -128, 127),
        MP_ERROR_TEXT("transpose_conv2d: x_zp, y_zp, act_min, act_max must be in -128..127"));
    tml_tconv_t g = {
        .H = v[TML_CONV_H], .W = v[TML_CONV_W], .C = v[TML_CONV_C], .OH = v[TML_CONV_OH], .OW = v[TML_CONV_OW],
        .OC = v[TML_CONV_OC], .KH = v[TML_CONV_KH], .KW = v[TML_CONV_KW], .oc0 = v[TML_CONV_OC0], .ocn = v[TML_CONV_OCN],
        .stride_h = v[TML_CONV_STRIDE_H], .stride_w = v[TML_CONV_STRIDE_W],
        .pad_top = v[TML_CONV_PAD_TOP], .pad_left = v[TML_CONV_PAD_LEFT],
        .x_zp = v[TML_CONV_X_ZP], .y_zp = v[TML_CONV_Y_ZP], .act_min = v[TML_CONV_ACT_MIN], .act_max = v[TML_CONV_ACT_MAX],
    };
    tml_check(g.oc0 >= 0 && g.ocn >= 1 && g.oc0 <= g.OC - g.ocn,
        MP_ERROR_TEXT("transpose_conv2d: need 0 <= oc0 and 1 <= ocn with oc0 + ocn <= OC"));
    tml_check(tml_holds(&x, tml_mul31(tml_mul31(g.H, g.W), g.C)), MP_ERROR_TEXT("transpose_conv2d: x is shorter than H*W*C"));
    tml_check(tml_holds(&y, tml_mul31(tml_mul31(g.OH, g.OW), g.OC)),
        MP_ERROR_TEXT("transpose_conv2d: y is shorter than OH*OW*OC"));
    uint64_t k = tml_mul31(tml_mul31(g.KH, g.KW), g.C);
    tml_check(k <= 65536, MP_ERROR_TEXT("transpose_conv2d: a kernel must hold at most 65536 weights"));
    tml_check(tml_holds(&w, tml_mul31(k, g.ocn)), MP_ERROR_TEXT("transpose_conv2d: w is shorter than ocn kernels"));
    g.per_channel = mult.len > 4;
    size_t n_mult = g.per_channel ? (size_t)g.ocn : 1;
    tml_check(bias.len / 4 >= (size_t)g.ocn, MP_ERROR_TEXT("transpose_conv2d: bias holds fewer than ocn int32"));
    tml_check(mult.len / 4 >= n_mult, MP_ERROR_TEXT("transpose_conv2d: mult must hold 1 (per-tensor) or ocn int32"));
    tml_check(shift.len / 4 >= n_mult, MP_ERROR_TEXT("transpose_conv2d: shift must hold as many int32 as mult"));
    tml_check(tml_aligned4(bias.buf) && tml_aligned4(mult.buf) && tml_aligned4(shift.buf),
        MP_ERROR_TEXT("transpose_conv2d: bias, mult and shift must be 4-byte aligned"));
    tml_check(tml_apart(&y, &x) && tml_apart(&y, &w) && tml_apart(&y, &bias) && tml_apart(&y, &mult) &&
        tml_apart(&y, &shift), MP_ERROR_TEXT("transpose_conv2d: y overlaps an input"));
    g.bias = bias.buf;
    g.mult = mult.buf;
    g.shift = shift.buf;
    tml_transpose_conv2d(x.buf, w.buf, y.buf, &g);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_transpose_conv2d_obj, 7, 7, tml_transpose_conv2d_fn);

// remap(x, y, t, g): g = d[4], esize, fill (the REMAP slots); t the int32 tables T0..T3
static mp_obj_t tml_remap_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y, t;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    mp_get_buffer_raise(args[2], &t, MP_BUFFER_READ);
    const int32_t *g = tml_g(args[3], TML_REMAP_FILL + 1, MP_ERROR_TEXT("remap: g must be an array('i') of 6 values"));
    const int32_t *d = g + TML_REMAP_D0;
    int32_t esize = g[TML_REMAP_ESIZE];
    bool ok = tml_in(esize, 1, 4) && tml_in(g[TML_REMAP_FILL], -128, 255);
    uint64_t n = 0, elements = 1;
    for (int i = 0; i < 4; i++) {
        ok = ok && tml_in(d[i], 1, 1 << 24);
        n += ok ? (uint64_t)d[i] : 0;
        elements = tml_mul31(elements, ok ? (uint64_t)d[i] : 0);
    }
    tml_check(ok, MP_ERROR_TEXT("remap: d must be in 1..2**24, esize in 1..4, fill a byte"));
    tml_check(tml_aligned4(t.buf) && t.len / 4 >= n, MP_ERROR_TEXT("remap: t must hold d0+d1+d2+d3 aligned int32s"));
    tml_check(tml_holds(&y, tml_mul31(elements, (uint64_t)esize)), MP_ERROR_TEXT("remap: y is shorter than d's elements"));
    // the largest sum of entries that is no fill, and no entry that could make a fill's sum positive
    const int32_t *e = t.buf;
    uint64_t top = 0;
    for (int i = 0; i < 4; i++) {
        int32_t most = 0;
        for (int32_t j = 0; j < d[i]; j++, e++) {
            tml_check(*e == -(1 << 28) || tml_in(*e, 0, (1 << 27) - 1), MP_ERROR_TEXT("remap: table entry out of range"));
            most = *e > most ? *e : most;
        }
        top += (uint64_t)most;
    }
    tml_check(top + (uint64_t)esize <= x.len, MP_ERROR_TEXT("remap: the tables reach past x"));
    tml_check(tml_apart(&y, &x) && tml_apart(&y, &t), MP_ERROR_TEXT("remap: y overlaps an input"));
    tml_remap(x.buf, y.buf, t.buf, d, esize, (int8_t)g[TML_REMAP_FILL]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_remap_obj, 4, 4, tml_remap_fn);

// concat(xs, y, outer, inners): xs a tuple or list of buffers, inners an array('i') of each one's bytes per run
static mp_obj_t tml_concat_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    size_t n;
    mp_obj_t *xs;
    mp_obj_get_array(args[0], &n, &xs);
    mp_buffer_info_t y, inners;
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    int32_t outer = tml_int(args[2], 1, TML_INT32_MAX, MP_ERROR_TEXT("concat: outer must be > 0"));
    mp_get_buffer_raise(args[3], &inners, MP_BUFFER_READ);
    tml_check(inners.typecode == 'i' && inners.len == 4 * n && tml_aligned4(inners.buf) && n >= 1,
        MP_ERROR_TEXT("concat: inners must be an array('i') of one size per input"));
    const int32_t *in = inners.buf;
    uint64_t row = 0;
    for (size_t k = 0; k < n; k++) {
        tml_check(tml_in(in[k], 0, TML_INT32_MAX), MP_ERROR_TEXT("concat: sizes must be >= 0"));
        row += (uint64_t)in[k];
    }
    tml_check(tml_holds(&y, tml_mul31(row, (uint64_t)outer)), MP_ERROR_TEXT("concat: y is shorter than outer * the sizes"));
    int32_t at = 0;
    for (size_t k = 0; k < n; k++) {
        mp_buffer_info_t x;
        mp_get_buffer_raise(xs[k], &x, MP_BUFFER_READ);
        tml_check(tml_holds(&x, tml_mul31((uint64_t)in[k], (uint64_t)outer)), MP_ERROR_TEXT("concat: an input is shorter than outer * its size"));
        tml_check(tml_apart(&y, &x), MP_ERROR_TEXT("concat: y overlaps an input"));
        tml_concat_part(x.buf, y.buf, outer, in[k], at, (int32_t)row);
        at += in[k];
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_concat_obj, 4, 4, tml_concat_fn);

#endif // TINYML_MATMUL_BINDING_H
