// MicroPython binding of tinyml_kernels.h, module `tinyml_kernels`. One source, two builds:
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

// fully_connected(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max)
static mp_obj_t tml_fully_connected_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
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
    size_t batches = y.len / n_out;
    bool per_channel = mult.len > 4;
    size_t n_mult = per_channel ? (size_t)n_out : 1;
    // Inputs may be longer than needed (as in kernels_py); divisions avoid size_t overflow.
    tml_check(y.len % n_out == 0, MP_ERROR_TEXT("fully_connected: len(y) must be a multiple of n_out"));
    tml_check(x.len / n_in >= batches, MP_ERROR_TEXT("fully_connected: x is shorter than batches * n_in"));
    tml_check(w.len / n_in >= (size_t)n_out, MP_ERROR_TEXT("fully_connected: w is shorter than n_out * n_in"));
    tml_check(bias.len / 4 >= (size_t)n_out, MP_ERROR_TEXT("fully_connected: bias holds fewer than n_out int32"));
    tml_check(mult.len / 4 >= n_mult, MP_ERROR_TEXT("fully_connected: mult must hold 1 (per-tensor) or n_out int32"));
    tml_check(shift.len / 4 >= n_mult, MP_ERROR_TEXT("fully_connected: shift must hold as many int32 as mult"));
    tml_check(tml_aligned4(bias.buf) && tml_aligned4(mult.buf) && tml_aligned4(shift.buf),
        MP_ERROR_TEXT("fully_connected: bias, mult and shift must be 4-byte aligned"));
    const uint8_t *xb = x.buf, *yb = y.buf;
    tml_check(yb + y.len <= xb || xb + batches * n_in <= yb, MP_ERROR_TEXT("fully_connected: y overlaps x"));
    tml_fully_connected(x.buf, w.buf, bias.buf, mult.buf, shift.buf, per_channel, y.buf,
        (int)batches, n_in, n_out, out_zp, act_min, act_max);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_fully_connected_obj, 11, 11, tml_fully_connected_fn);

// softmax(x, y, n, in_mult, in_left_shift, diff_min)
static mp_obj_t tml_softmax_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
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
    tml_softmax(x.buf, y.buf, (int)(x.len / n), n, in_mult, left_shift, diff_min);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_softmax_obj, 6, 6, tml_softmax_fn);

#ifdef MICROPY_ENABLE_DYNRUNTIME

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    mp_store_global(MP_QSTR_fully_connected, MP_OBJ_FROM_PTR(&tml_fully_connected_obj));
    mp_store_global(MP_QSTR_softmax, MP_OBJ_FROM_PTR(&tml_softmax_obj));
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
    { MP_ROM_QSTR(MP_QSTR_fully_connected), MP_ROM_PTR(&tml_fully_connected_obj) },
    { MP_ROM_QSTR(MP_QSTR_softmax), MP_ROM_PTR(&tml_softmax_obj) },
};
static MP_DEFINE_CONST_DICT(tml_module_globals, tml_module_globals_table);

const mp_obj_module_t tinyml_kernels_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&tml_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_tinyml_kernels, tinyml_kernels_module);

#endif
