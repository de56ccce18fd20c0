// Bound ops of the module tinyml_kernels (docs/kernels.md, "Bound ops"): a kernel's arguments checked
// once, when a model is bound, then run any number of times without checking or decoding them again.
//   bind(kernel, args[, oc_max])  checks args as kernel(*args) would and returns a record (bytes): the
//       buffers' addresses and the decoded parameters behind a header naming the C code that runs them;
//       None for a kernel that has no bound form. oc_max: the output channels the weights hold (a
//       streaming window's run of them), all of them when not given.
//   run(program)                  runs the records of a program (records back to back: b"".join of
//       bind's) in one call, each for all its output channels (a streamed op's record runs alone);
//   run(record, oc0, ocn)         one weighted op's record for output channels oc0..oc0+ocn-1, its
//       weights holding those channels at their start (1 <= ocn <= oc_max).
// A record holds addresses: whoever binds keeps every buffer alive and unmoved as long as the record
// (tinyml.Model keeps its arena, window and constants for its lifetime). The direct calls
// (fully_connected(...) etc.) are bind-then-run on the stack: one set of checks for both.
// Included by tinyml_kernels.c after its argument helpers (tml_check, tml_int, tml_g, tml_holds, ...).
#ifndef TINYML_BOUND_H
#define TINYML_BOUND_H

#include "tinyml_kernels.h"

typedef void (*tml_exec_t)(const void *args, int32_t oc0, int32_t ocn);

// A record's header; its arguments follow at TML_BOUND_ARGS bytes.
typedef struct {
    uint32_t check;   // TML_BOUND_MAGIC ^ size ^ exec: a whole record bind made
    uint32_t size;    // bytes of the record, a multiple of a pointer's
    tml_exec_t exec;
    int32_t oc_max;   // output channels the weights hold (0: no weights)
    int32_t n_out;    // output channels of the op
} tml_bound_t;

#define TML_BOUND_MAGIC 0x7b1d0a5cu
#define TML_BOUND_ALIGN (sizeof(void *)) // records back to back in a program stay aligned
#define TML_BOUND_ARGS ((sizeof(tml_bound_t) + TML_BOUND_ALIGN - 1) & ~(TML_BOUND_ALIGN - 1))
#define TML_BOUND_MAX 320

static uint32_t tml_bound_check(const tml_bound_t *h) {
    return TML_BOUND_MAGIC ^ h->size ^ (uint32_t)(uintptr_t)h->exec;
}

// ---- fully_connected(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max) ----

typedef struct {
    const int8_t *x, *w;
    const int32_t *bias, *mult, *shift;
    int8_t *y;
    int32_t per_channel, batches, n_in, n_out, out_zp, act_min, act_max;
} tml_fc_args_t;

// oc_max: the output channels w, bias, mult and shift hold (n_out when 0)
static void tml_fc_bind(const mp_obj_t *args, int32_t oc_max, tml_fc_args_t *a) {
    mp_buffer_info_t x, w, bias, mult, shift, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &w, MP_BUFFER_READ);
    mp_get_buffer_raise(args[2], &bias, MP_BUFFER_READ);
    mp_get_buffer_raise(args[3], &mult, MP_BUFFER_READ);
    mp_get_buffer_raise(args[4], &shift, MP_BUFFER_READ);
    mp_get_buffer_raise(args[5], &y, MP_BUFFER_WRITE);
    int32_t n_in = tml_int(args[6], 1, TML_INT32_MAX, MP_ERROR_TEXT("fully_connected: n_in must be > 0"));
    int32_t n_out = tml_int(args[7], 1, TML_INT32_MAX, MP_ERROR_TEXT("fully_connected: n_out must be > 0"));
    int32_t out_zp = tml_int(args[8], -128, 127, MP_ERROR_TEXT("fully_connected: out_zp must be in -128..127"));
    int32_t act_min = tml_int(args[9], -128, 127, MP_ERROR_TEXT("fully_connected: act_min must be in -128..127"));
    int32_t act_max = tml_int(args[10], -128, 127, MP_ERROR_TEXT("fully_connected: act_max must be in -128..127"));
    int32_t n_w = oc_max ? oc_max : n_out;
    tml_check(n_w <= n_out, MP_ERROR_TEXT("bind: oc_max must be in 1..n_out"));
    size_t batches = y.len / n_out;
    bool per_channel = mult.len > 4;
    size_t n_mult = per_channel ? (size_t)n_w : 1;
    // Inputs may be longer than needed (as in kernels_py); divisions avoid size_t overflow.
    tml_check(y.len % n_out == 0, MP_ERROR_TEXT("fully_connected: len(y) must be a multiple of n_out"));
    tml_check(x.len / n_in >= batches, MP_ERROR_TEXT("fully_connected: x is shorter than batches * n_in"));
    tml_check(w.len / n_in >= (size_t)n_w, MP_ERROR_TEXT("fully_connected: w is shorter than n_out * n_in"));
    tml_check(bias.len / 4 >= (size_t)n_w, MP_ERROR_TEXT("fully_connected: bias holds fewer than n_out int32"));
    tml_check(mult.len / 4 >= n_mult, MP_ERROR_TEXT("fully_connected: mult must hold 1 (per-tensor) or n_out int32"));
    tml_check(shift.len / 4 >= n_mult, MP_ERROR_TEXT("fully_connected: shift must hold as many int32 as mult"));
    tml_check(tml_aligned4(bias.buf) && tml_aligned4(mult.buf) && tml_aligned4(shift.buf),
        MP_ERROR_TEXT("fully_connected: bias, mult and shift must be 4-byte aligned"));
    const uint8_t *xb = x.buf, *yb = y.buf;
    tml_check(yb + y.len <= xb || xb + batches * n_in <= yb, MP_ERROR_TEXT("fully_connected: y overlaps x"));
    *a = (tml_fc_args_t){
        .x = x.buf, .w = w.buf, .bias = bias.buf, .mult = mult.buf, .shift = shift.buf, .y = y.buf,
        .per_channel = per_channel, .batches = (int32_t)batches, .n_in = n_in, .n_out = n_out,
        .out_zp = out_zp, .act_min = act_min, .act_max = act_max,
    };
}

// output channels oc0..oc0+ocn-1 of every row, the weights holding them from their start
static void tml_fc_exec(const void *args, int32_t oc0, int32_t ocn) {
    const tml_fc_args_t *a = args;
    if (ocn == a->n_out) {
        tml_fully_connected(a->x, a->w, a->bias, a->mult, a->shift, a->per_channel, a->y, a->batches, a->n_in,
            a->n_out, a->out_zp, a->act_min, a->act_max);
        return;
    }
    for (int32_t b = 0; b < a->batches; b++) {
        tml_fully_connected(a->x + b * a->n_in, a->w, a->bias, a->mult, a->shift, a->per_channel,
            a->y + b * a->n_out + oc0, 1, a->n_in, ocn, a->out_zp, a->act_min, a->act_max);
    }
}

// ---- softmax(x, y, n, in_mult, in_left_shift, diff_min) ----

typedef struct {
    const int8_t *x;
    int8_t *y;
    int32_t rows, n, in_mult, left_shift, diff_min;
} tml_softmax_args_t;

static void tml_softmax_bind(const mp_obj_t *args, tml_softmax_args_t *a) {
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    int32_t n = tml_int(args[2], 1, 8191, MP_ERROR_TEXT("softmax: n must be in 1..8191"));
    int32_t in_mult = tml_int(args[3], TML_INT32_MIN, TML_INT32_MAX, MP_ERROR_TEXT("softmax: in_mult must fit int32"));
    int32_t left_shift = tml_int(args[4], 0, 31, MP_ERROR_TEXT("softmax: in_left_shift must be in 0..31"));
    int32_t diff_min = tml_int(args[5], TML_INT32_MIN, TML_INT32_MAX, MP_ERROR_TEXT("softmax: diff_min must fit int32"));
    tml_check(x.len % n == 0, MP_ERROR_TEXT("softmax: len(x) must be a multiple of n"));
    tml_check(y.len == x.len, MP_ERROR_TEXT("softmax: len(y) must equal len(x)"));
    const uint8_t *xb = x.buf, *yb = y.buf; // in place (y is x) works: each x is read before its y is written
    tml_check(yb == xb || yb + y.len <= xb || xb + x.len <= yb, MP_ERROR_TEXT("softmax: y overlaps x"));
    // The smallest x - max that is used, shifted left, must fit int32 (true for TFLM's diff_min).
    int32_t d_low = diff_min > -255 ? diff_min : -255;
    tml_check(d_low >= 0 || ((int64_t)-d_low << left_shift) <= ((int64_t)1 << 31),
        MP_ERROR_TEXT("softmax: diff_min << in_left_shift overflows int32"));
    *a = (tml_softmax_args_t){ .x = x.buf, .y = y.buf, .rows = (int32_t)(x.len / n), .n = n, .in_mult = in_mult,
        .left_shift = left_shift, .diff_min = diff_min };
}

static void tml_softmax_exec(const void *args, int32_t oc0, int32_t ocn) {
    const tml_softmax_args_t *a = args;
    (void)oc0, (void)ocn;
    tml_softmax(a->x, a->y, a->rows, a->n, a->in_mult, a->left_shift, a->diff_min);
}

// ---- conv2d(x, w, bias, mult, shift, y, g) and depthwise_conv2d(x, w, bias, mult, shift, y, g) ----

typedef struct {
    const int8_t *x, *w;
    int8_t *y, *patch; // patch: conv2d's scratch (tml_conv2d_patch_bytes), NULL when none
    tml_chan_t q;
    tml_conv_t g;
    int32_t depthwise, patch_bytes;
} tml_conv_args_t;

// oc_max: the output channels w, bias, mult and shift hold (g's ocn when 0); g's oc0 and ocn are the
// call's (a direct call), a bound record takes them from run
static void tml_conv_bind(const mp_obj_t *args, bool depthwise, int32_t oc_max, tml_conv_args_t *a) {
    mp_buffer_info_t x, w, bias, mult, shift, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &w, MP_BUFFER_READ);
    mp_get_buffer_raise(args[2], &bias, MP_BUFFER_READ);
    mp_get_buffer_raise(args[3], &mult, MP_BUFFER_READ);
    mp_get_buffer_raise(args[4], &shift, MP_BUFFER_READ);
    mp_get_buffer_raise(args[5], &y, MP_BUFFER_WRITE);
    const int32_t *v = depthwise
        ? tml_g(args[6], TML_CONV_DEPTH_MULTIPLIER + 1, MP_ERROR_TEXT("depthwise_conv2d: g must be an array('i') of 21 values"))
        : tml_g(args[6], TML_CONV_DEPTH_MULTIPLIER, MP_ERROR_TEXT("conv2d: g must be an array('i') of 20 values"));
    // sizes, strides and dilations in 1..32767 (no table of slots: constant data must be read as words on xtensa)
    bool ok = tml_in(v[TML_CONV_H], 1, 32767) && tml_in(v[TML_CONV_W], 1, 32767) && tml_in(v[TML_CONV_C], 1, 32767) &&
        tml_in(v[TML_CONV_OH], 1, 32767) && tml_in(v[TML_CONV_OW], 1, 32767) && tml_in(v[TML_CONV_OC], 1, 32767) &&
        tml_in(v[TML_CONV_KH], 1, 32767) && tml_in(v[TML_CONV_KW], 1, 32767) &&
        tml_in(v[TML_CONV_STRIDE_H], 1, 32767) && tml_in(v[TML_CONV_STRIDE_W], 1, 32767) &&
        tml_in(v[TML_CONV_DILATION_H], 1, 32767) && tml_in(v[TML_CONV_DILATION_W], 1, 32767);
    tml_check(ok && tml_in(v[TML_CONV_PAD_TOP], 0, 32767) && tml_in(v[TML_CONV_PAD_LEFT], 0, 32767),
        MP_ERROR_TEXT("conv: sizes, strides and dilations must be in 1..32767, paddings in 0..32767"));
    tml_check(tml_in(v[TML_CONV_X_ZP], -128, 127) && tml_in(v[TML_CONV_Y_ZP], -128, 127) &&
        tml_in(v[TML_CONV_ACT_MIN], -128, 127) && tml_in(v[TML_CONV_ACT_MAX], -128, 127),
        MP_ERROR_TEXT("conv: x_zp, y_zp, act_min, act_max must be in -128..127"));
    tml_conv_t g = {
        .H = v[TML_CONV_H], .W = v[TML_CONV_W], .C = v[TML_CONV_C], .OH = v[TML_CONV_OH], .OW = v[TML_CONV_OW],
        .OC = v[TML_CONV_OC], .KH = v[TML_CONV_KH], .KW = v[TML_CONV_KW],
        .stride_h = v[TML_CONV_STRIDE_H], .stride_w = v[TML_CONV_STRIDE_W],
        .dil_h = v[TML_CONV_DILATION_H], .dil_w = v[TML_CONV_DILATION_W],
        .pad_top = v[TML_CONV_PAD_TOP], .pad_left = v[TML_CONV_PAD_LEFT],
        .x_zp = v[TML_CONV_X_ZP], .y_zp = v[TML_CONV_Y_ZP], .act_min = v[TML_CONV_ACT_MIN], .act_max = v[TML_CONV_ACT_MAX],
        .oc0 = oc_max ? 0 : v[TML_CONV_OC0], .ocn = oc_max ? oc_max : v[TML_CONV_OCN],
        .depth_multiplier = depthwise ? v[TML_CONV_DEPTH_MULTIPLIER] : 1,
    };
    tml_check(g.oc0 >= 0 && g.ocn >= 1 && g.oc0 <= g.OC - g.ocn,
        MP_ERROR_TEXT("conv: need 0 <= oc0 and 1 <= ocn with oc0 + ocn <= OC"));
    tml_check(!depthwise || (g.depth_multiplier >= 1 && (uint64_t)g.C * g.depth_multiplier == (uint64_t)g.OC),
        MP_ERROR_TEXT("depthwise_conv2d: OC must be C * depth_multiplier"));
    tml_check(tml_holds(&x, tml_mul31(tml_mul31(g.H, g.W), g.C)), MP_ERROR_TEXT("conv: x is shorter than H*W*C"));
    tml_check(tml_holds(&y, tml_mul31(tml_mul31(g.OH, g.OW), g.OC)), MP_ERROR_TEXT("conv: y is shorter than OH*OW*OC"));
    // the offsets of a window's taps, (KH-1) rows and (KW-1) columns apart at most, fit int32
    tml_check(tml_mul31(tml_mul31(g.dil_h, g.W), g.C) <= TML_INT32_MAX && tml_mul31(g.dil_w, g.C) <= TML_INT32_MAX,
        MP_ERROR_TEXT("conv: dilation too large"));
    uint64_t k = tml_mul31(tml_mul31(g.KH, g.KW), depthwise ? 1 : g.C);
    tml_check(k <= 65536, MP_ERROR_TEXT("conv: a kernel must hold at most 65536 weights"));
    tml_check(tml_holds(&w, tml_mul31(k, g.ocn)), MP_ERROR_TEXT("conv: w is shorter than ocn kernels"));
    bool per_channel = mult.len > 4;
    size_t n_mult = per_channel ? (size_t)g.ocn : 1;
    tml_check(bias.len / 4 >= (size_t)g.ocn, MP_ERROR_TEXT("conv: bias holds fewer than ocn int32"));
    tml_check(mult.len / 4 >= n_mult, MP_ERROR_TEXT("conv: mult must hold 1 (per-tensor) or ocn int32"));
    tml_check(shift.len / 4 >= n_mult, MP_ERROR_TEXT("conv: shift must hold as many int32 as mult"));
    tml_check(tml_aligned4(bias.buf) && tml_aligned4(mult.buf) && tml_aligned4(shift.buf),
        MP_ERROR_TEXT("conv: bias, mult and shift must be 4-byte aligned"));
    tml_check(tml_apart(&y, &x) && tml_apart(&y, &w) && tml_apart(&y, &bias) && tml_apart(&y, &mult) &&
        tml_apart(&y, &shift), MP_ERROR_TEXT("conv: y overlaps an input"));
    *a = (tml_conv_args_t){
        .x = x.buf, .w = w.buf, .y = y.buf, .patch = NULL,
        .q = { .bias = bias.buf, .mult = mult.buf, .shift = shift.buf, .per_channel = per_channel },
        .g = g, .depthwise = depthwise, .patch_bytes = depthwise ? 0 : tml_conv2d_patch_bytes(&g),
    };
}

// The run of output channels is written into the record's own g (memory bind allocated, which Python
// sees only as bytes it cannot change): a copy of g would be a memcpy call, which a native module cannot link.
static void tml_conv_exec(const void *args, int32_t oc0, int32_t ocn) {
    tml_conv_args_t *a = (tml_conv_args_t *)args;
    a->g.oc0 = oc0, a->g.ocn = ocn;
    if (a->depthwise) {
        tml_depthwise_conv2d(a->x, a->w, &a->q, a->y, &a->g);
    } else {
        tml_conv2d(a->x, a->w, &a->q, a->y, &a->g, a->patch);
    }
}

// ---- pool2d(x, y, g) ----

typedef struct {
    const int8_t *x;
    int8_t *y;
    tml_pool_t g;
} tml_pool_args_t;

static void tml_pool_bind(const mp_obj_t *args, tml_pool_args_t *a) {
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    const int32_t *v = tml_g(args[2], TML_POOL_IS_MAX + 1, MP_ERROR_TEXT("pool2d: g must be an array('i') of 14 values"));
    bool ok = tml_in(v[TML_POOL_H], 1, 32767) && tml_in(v[TML_POOL_W], 1, 32767) && tml_in(v[TML_POOL_C], 1, 32767) &&
        tml_in(v[TML_POOL_OH], 1, 32767) && tml_in(v[TML_POOL_OW], 1, 32767) &&
        tml_in(v[TML_POOL_STRIDE_H], 1, 32767) && tml_in(v[TML_POOL_STRIDE_W], 1, 32767) &&
        tml_in(v[TML_POOL_FILTER_H], 1, 32767) && tml_in(v[TML_POOL_FILTER_W], 1, 32767);
    tml_check(ok && tml_in(v[TML_POOL_PAD_TOP], 0, 32767) && tml_in(v[TML_POOL_PAD_LEFT], 0, 32767),
        MP_ERROR_TEXT("pool2d: sizes, strides and filter must be in 1..32767, paddings in 0..32767"));
    tml_check(tml_in(v[TML_POOL_ACT_MIN], -128, 127) && tml_in(v[TML_POOL_ACT_MAX], -128, 127) &&
        tml_in(v[TML_POOL_IS_MAX], 0, 1), MP_ERROR_TEXT("pool2d: act_min, act_max must be in -128..127, is_max 0 or 1"));
    tml_pool_t g = {
        .H = v[TML_POOL_H], .W = v[TML_POOL_W], .C = v[TML_POOL_C], .OH = v[TML_POOL_OH], .OW = v[TML_POOL_OW],
        .stride_h = v[TML_POOL_STRIDE_H], .stride_w = v[TML_POOL_STRIDE_W],
        .filter_h = v[TML_POOL_FILTER_H], .filter_w = v[TML_POOL_FILTER_W],
        .pad_top = v[TML_POOL_PAD_TOP], .pad_left = v[TML_POOL_PAD_LEFT],
        .act_min = v[TML_POOL_ACT_MIN], .act_max = v[TML_POOL_ACT_MAX], .is_max = v[TML_POOL_IS_MAX],
    };
    tml_check(tml_mul31(g.filter_h, g.filter_w) <= (1 << 23), MP_ERROR_TEXT("pool2d: filter larger than 2**23 taps"));
    // every window holds at least one input pixel (the first and the last are the extremes)
    tml_check(g.pad_top < g.filter_h && g.pad_left < g.filter_w && (g.OH - 1) * g.stride_h - g.pad_top < g.H &&
        (g.OW - 1) * g.stride_w - g.pad_left < g.W, MP_ERROR_TEXT("pool2d: a window lies outside the input"));
    tml_check(tml_holds(&x, tml_mul31(tml_mul31(g.H, g.W), g.C)), MP_ERROR_TEXT("pool2d: x is shorter than H*W*C"));
    tml_check(tml_mul31(tml_mul31(g.OH, g.OW), g.C) == y.len, MP_ERROR_TEXT("pool2d: len(y) must be OH*OW*C"));
    tml_check(tml_apart(&y, &x), MP_ERROR_TEXT("pool2d: y overlaps x"));
    *a = (tml_pool_args_t){ .x = x.buf, .y = y.buf, .g = g };
}

static void tml_pool_exec(const void *args, int32_t oc0, int32_t ocn) {
    const tml_pool_args_t *a = args;
    (void)oc0, (void)ocn;
    tml_pool2d(a->x, a->y, &a->g);
}

// ---- mean_hw(x, y, g) ----

typedef struct {
    const int8_t *x;
    int8_t *y;
    int32_t n, C, x_zp, y_zp, mult, shift;
} tml_mean_args_t;

static void tml_mean_bind(const mp_obj_t *args, tml_mean_args_t *a) {
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    const int32_t *v = tml_g(args[2], TML_MEAN_SHIFT + 1, MP_ERROR_TEXT("mean_hw: g must be an array('i') of 7 values"));
    int32_t H = v[TML_MEAN_H], W = v[TML_MEAN_W], C = v[TML_MEAN_C], x_zp = v[TML_MEAN_X_ZP], y_zp = v[TML_MEAN_Y_ZP];
    tml_check(tml_in(H, 1, TML_INT32_MAX) && tml_in(W, 1, TML_INT32_MAX) && tml_in(C, 1, TML_INT32_MAX),
        MP_ERROR_TEXT("mean_hw: H, W, C must be > 0"));
    uint64_t n = tml_mul31(H, W);
    tml_check(n <= (1 << 23), MP_ERROR_TEXT("mean_hw: H*W must be at most 2**23"));
    tml_check(tml_in(x_zp, -128, 127) && tml_in(y_zp, -128, 127), MP_ERROR_TEXT("mean_hw: x_zp, y_zp must be in -128..127"));
    tml_check(tml_holds(&x, tml_mul31(n, C)), MP_ERROR_TEXT("mean_hw: x is shorter than H*W*C"));
    tml_check(y.len == (size_t)C, MP_ERROR_TEXT("mean_hw: len(y) must be C"));
    tml_check(tml_apart(&y, &x), MP_ERROR_TEXT("mean_hw: y overlaps x"));
    *a = (tml_mean_args_t){ .x = x.buf, .y = y.buf, .n = (int32_t)n, .C = C, .x_zp = x_zp, .y_zp = y_zp,
        .mult = v[TML_MEAN_MULTIPLIER], .shift = v[TML_MEAN_SHIFT] };
}

static void tml_mean_exec(const void *args, int32_t oc0, int32_t ocn) {
    const tml_mean_args_t *a = args;
    (void)oc0, (void)ocn;
    tml_mean_hw(a->x, a->y, a->n, a->C, a->x_zp, a->y_zp, a->mult, a->shift);
}

// ---- copy(x, y): y = x, the same length (the ops that only reinterpret their input's shape) ----

typedef struct {
    const uint8_t *x;
    uint8_t *y;
    size_t n;
} tml_copy_args_t;

static void tml_copy_bind(const mp_obj_t *args, tml_copy_args_t *a) {
    mp_buffer_info_t x, y;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    tml_check(x.len == y.len, MP_ERROR_TEXT("copy: len(y) must equal len(x)"));
    tml_check(x.buf == y.buf || tml_apart(&y, &x), MP_ERROR_TEXT("copy: y overlaps x"));
    *a = (tml_copy_args_t){ .x = x.buf, .y = y.buf, .n = x.len };
}

static void tml_copy_exec(const void *args, int32_t oc0, int32_t ocn) {
    const tml_copy_args_t *a = args;
    (void)oc0, (void)ocn;
    const uint8_t *x = a->x;
    uint8_t *y = a->y;
    size_t i = 0, n = a->n;
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0) {
        for (; i + 4 <= n; i += 4) {
            *(uint32_t *)(y + i) = *(const uint32_t *)(x + i);
        }
    }
    for (; i < n; i++) {
        y[i] = x[i];
    }
}

// ---- the direct calls: bind on the stack, then run ----

static mp_obj_t tml_fully_connected_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    tml_fc_args_t a;
    tml_fc_bind(args, 0, &a);
    tml_fc_exec(&a, 0, a.n_out);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_fully_connected_obj, 11, 11, tml_fully_connected_fn);

static mp_obj_t tml_softmax_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    tml_softmax_args_t a;
    tml_softmax_bind(args, &a);
    tml_softmax_exec(&a, 0, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_softmax_obj, 6, 6, tml_softmax_fn);

static mp_obj_t tml_conv(const mp_obj_t *args, bool depthwise) {
    tml_conv_args_t a;
    tml_conv_bind(args, depthwise, 0, &a);
    int n = a.patch_bytes;
    a.patch = n ? m_new(int8_t, n) : NULL;
    tml_conv_exec(&a, a.g.oc0, a.g.ocn);
    if (a.patch) {
        m_del(int8_t, a.patch, n);
    }
    return mp_const_none;
}

static mp_obj_t tml_conv2d_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_conv(args, false);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_conv2d_obj, 7, 7, tml_conv2d_fn);

static mp_obj_t tml_depthwise_conv2d_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    return tml_conv(args, true);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_depthwise_conv2d_obj, 7, 7, tml_depthwise_conv2d_fn);

static mp_obj_t tml_pool2d_fn(mp_obj_t x_obj, mp_obj_t y_obj, mp_obj_t g_obj) {
    mp_obj_t args[3] = { x_obj, y_obj, g_obj };
    tml_pool_args_t a;
    tml_pool_bind(args, &a);
    tml_pool_exec(&a, 0, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_pool2d_obj, tml_pool2d_fn);

static mp_obj_t tml_mean_hw_fn(mp_obj_t x_obj, mp_obj_t y_obj, mp_obj_t g_obj) {
    mp_obj_t args[3] = { x_obj, y_obj, g_obj };
    tml_mean_args_t a;
    tml_mean_bind(args, &a);
    tml_mean_exec(&a, 0, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(tml_mean_hw_obj, tml_mean_hw_fn);

static mp_obj_t tml_copy_fn(mp_obj_t x_obj, mp_obj_t y_obj) {
    mp_obj_t args[2] = { x_obj, y_obj };
    tml_copy_args_t a;
    tml_copy_bind(args, &a);
    tml_copy_exec(&a, 0, 0);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(tml_copy_obj, tml_copy_fn);

// ---- bind and run ----

#if TML_IN(TML_NN) || TML_IN(TML_DENSE) // the families with bound kernels
// bind(kernel, args[, oc_max]); in the native module built per family (tinyml_kernels.c), each family
// with bound kernels has its own, which knows only its family's (the dense family's is bind_dense), and
// the core's run runs every family's records
static mp_obj_t tml_bind_fn(size_t n_args, const mp_obj_t *args) {
    union {
        tml_bound_t h;
        void *align;
        uint8_t bytes[TML_BOUND_MAX];
    } r;
    void *a = r.bytes + TML_BOUND_ARGS;
    size_t n;
    mp_obj_t *items;
    mp_obj_get_array(args[1], &n, &items);
    int32_t oc_max = n_args > 2 ? tml_int(args[2], 1, TML_INT32_MAX, MP_ERROR_TEXT("bind: oc_max must be > 0")) : 0;
    mp_obj_t fn = args[0];
    tml_exec_t exec;
    size_t size;
    r.h.oc_max = r.h.n_out = 0;
    if (0) {
    #if TML_IN(TML_DENSE)
    } else if (fn == MP_OBJ_FROM_PTR(&tml_fully_connected_obj)) {
        tml_check(n == 11, MP_ERROR_TEXT("bind: fully_connected takes 11 arguments"));
        tml_fc_args_t *fc = a;
        tml_fc_bind(items, oc_max, fc);
        exec = tml_fc_exec, size = sizeof(tml_fc_args_t);
        r.h.n_out = fc->n_out, r.h.oc_max = oc_max ? oc_max : fc->n_out;
    } else if (fn == MP_OBJ_FROM_PTR(&tml_mean_hw_obj)) {
        tml_check(n == 3, MP_ERROR_TEXT("bind: mean_hw takes 3 arguments"));
        tml_mean_bind(items, a);
        exec = tml_mean_exec, size = sizeof(tml_mean_args_t);
    #endif
    #if TML_IN(TML_NN)
    } else if (fn == MP_OBJ_FROM_PTR(&tml_conv2d_obj) || fn == MP_OBJ_FROM_PTR(&tml_depthwise_conv2d_obj)) {
        tml_check(n == 7, MP_ERROR_TEXT("bind: conv2d and depthwise_conv2d take 7 arguments"));
        tml_conv_args_t *c = a;
        tml_conv_bind(items, fn == MP_OBJ_FROM_PTR(&tml_depthwise_conv2d_obj), oc_max ? oc_max : 0, c);
        if (!oc_max) { // all the channels g names, from its oc0: the record runs them
            tml_check(c->g.oc0 == 0 && c->g.ocn == c->g.OC, MP_ERROR_TEXT("bind: conv's g must name all its output channels"));
        }
        exec = tml_conv_exec, size = sizeof(tml_conv_args_t);
        r.h.n_out = c->g.OC, r.h.oc_max = c->g.ocn;
    } else if (fn == MP_OBJ_FROM_PTR(&tml_softmax_obj)) {
        tml_check(n == 6, MP_ERROR_TEXT("bind: softmax takes 6 arguments"));
        tml_softmax_bind(items, a);
        exec = tml_softmax_exec, size = sizeof(tml_softmax_args_t);
    } else if (fn == MP_OBJ_FROM_PTR(&tml_pool2d_obj)) {
        tml_check(n == 3, MP_ERROR_TEXT("bind: pool2d takes 3 arguments"));
        tml_pool_bind(items, a);
        exec = tml_pool_exec, size = sizeof(tml_pool_args_t);
    } else if (fn == MP_OBJ_FROM_PTR(&tml_copy_obj)) {
        tml_check(n == 2, MP_ERROR_TEXT("bind: copy takes 2 arguments"));
        tml_copy_bind(items, a);
        exec = tml_copy_exec, size = sizeof(tml_copy_args_t);
    #endif
    } else {
        return mp_const_none; // no bound form: the caller calls the kernel
    }
    tml_check(!oc_max || r.h.oc_max, MP_ERROR_TEXT("bind: oc_max is for fully_connected and the convolutions"));
    r.h.exec = exec;
    r.h.size = (uint32_t)((TML_BOUND_ARGS + size + TML_BOUND_ALIGN - 1) & ~(TML_BOUND_ALIGN - 1));
    r.h.check = tml_bound_check(&r.h);
    #if TML_IN(TML_NN)
    if (exec == tml_conv_exec) { // conv2d's scratch, allocated once: the record's address keeps it alive
        tml_conv_args_t *c = a;
        c->patch = c->patch_bytes ? m_new(int8_t, c->patch_bytes) : NULL;
    }
    #endif
    return mp_obj_new_bytes(r.bytes, r.h.size);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_bind_obj, 2, 3, tml_bind_fn);
#endif

static const tml_bound_t *tml_record(const uint8_t *p, const uint8_t *end) {
    const tml_bound_t *h = (const tml_bound_t *)p;
    tml_check((size_t)(end - p) >= TML_BOUND_ARGS && ((uintptr_t)p & (TML_BOUND_ALIGN - 1)) == 0 && h->size >= TML_BOUND_ARGS &&
        h->size <= (size_t)(end - p) && h->check == tml_bound_check(h), MP_ERROR_TEXT("run: not a program of bind's records"));
    return h;
}

// run(program) or run(record, oc0, ocn)
static mp_obj_t tml_run_fn(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t b;
    mp_get_buffer_raise(args[0], &b, MP_BUFFER_READ);
    const uint8_t *p = b.buf, *end = p + b.len;
    if (n_args == 3) {
        const tml_bound_t *h = tml_record(p, end);
        mp_int_t oc0 = mp_obj_get_int(args[1]), ocn = mp_obj_get_int(args[2]);
        tml_check(h->oc_max > 0 && oc0 >= 0 && ocn >= 1 && ocn <= h->oc_max && oc0 <= h->n_out - ocn,
            MP_ERROR_TEXT("run: need a weighted op's record and 1 <= ocn <= oc_max, 0 <= oc0, oc0 + ocn <= n_out"));
        h->exec(p + TML_BOUND_ARGS, (int32_t)oc0, (int32_t)ocn);
        return mp_const_none;
    }
    while (p < end) {
        const tml_bound_t *h = tml_record(p, end);
        tml_check(h->oc_max == h->n_out, MP_ERROR_TEXT("run: a streamed op's record runs alone, with oc0 and ocn"));
        h->exec(p + TML_BOUND_ARGS, 0, h->oc_max);
        p += h->size;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_run_obj, 1, 3, tml_run_fn);

#endif // TINYML_BOUND_H
