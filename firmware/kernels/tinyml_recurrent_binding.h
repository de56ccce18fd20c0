// MicroPython binding of tinyml_recurrent.h: svdf and lstm of the module tinyml_kernels. Included by
// tinyml_kernels.c after its argument helpers (tml_check, tml_g, tml_in, tml_mul31, tml_apart,
// tml_aligned4); every size a kernel loops over is checked against its buffers here first.
#ifndef TINYML_RECURRENT_BINDING_H
#define TINYML_RECURRENT_BINDING_H

#include "tinyml_recurrent.h"

static void tml_rc_buf(mp_obj_t o, mp_buffer_info_t *b, int flags, uint64_t len, int align, mp_rom_error_text_t msg) {
    mp_get_buffer_raise(o, b, flags);
    tml_check(len <= TML_INT32_MAX && b->len == len && ((uintptr_t)b->buf & (align - 1)) == 0, msg);
}

// svdf(x, w_feature, w_time, bias, state, y, acc, g): acc (the viper kernel's accumulators) is unused
static mp_obj_t tml_svdf_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    const int32_t *g = tml_g(args[7], TML_SVDF_Y_ZP + 1, MP_ERROR_TEXT("svdf: g must be an array('i') of 13 values"));
    int32_t batch = g[TML_SVDF_BATCH], n_in = g[TML_SVDF_N_INPUT], n_filter = g[TML_SVDF_N_FILTER];
    int32_t memory = g[TML_SVDF_MEMORY], n_unit = g[TML_SVDF_N_UNIT], rank = g[TML_SVDF_RANK];
    tml_check(tml_in(batch, 1, 65535) && tml_in(n_in, 1, 65535) && tml_in(n_filter, 1, 65535) &&
        tml_in(memory, 1, 65535) && tml_in(rank, 1, 65535) && tml_in(n_unit, 1, 65535) &&
        (uint64_t)n_unit * rank == (uint64_t)n_filter, MP_ERROR_TEXT("svdf: sizes must be 1..65535, n_filter n_unit x rank"));
    tml_check(tml_in(g[TML_SVDF_X_ZP], -128, 127) && tml_in(g[TML_SVDF_Y_ZP], -128, 127) &&
        tml_in(g[TML_SVDF_STATE_ZP], -32768, 32767) && tml_in(g[TML_SVDF_FEATURE_SHIFT], -31, 31) &&
        tml_in(g[TML_SVDF_TIME_SHIFT], -31, 31), MP_ERROR_TEXT("svdf: a zero point or shift out of range"));
    uint64_t states = tml_mul31(tml_mul31(batch, n_filter), memory);
    mp_buffer_info_t x, wf, wt, bias, state, y;
    mp_get_buffer_raise(args[4], &state, MP_BUFFER_WRITE);
    int es = states && state.len == 2 * states ? 2 : 1; // int16 time weights and state, or int8 ones
    tml_rc_buf(args[0], &x, MP_BUFFER_READ, tml_mul31(batch, n_in), 1, MP_ERROR_TEXT("svdf: x must be batch x n_input"));
    tml_rc_buf(args[1], &wf, MP_BUFFER_READ, tml_mul31(n_filter, n_in), 1,
        MP_ERROR_TEXT("svdf: w_feature must be n_filter x n_input int8"));
    tml_rc_buf(args[2], &wt, MP_BUFFER_READ, es * tml_mul31(n_filter, memory), es,
        MP_ERROR_TEXT("svdf: w_time must be n_filter x memory of the state's type (int16 aligned, or int8)"));
    tml_rc_buf(args[3], &bias, MP_BUFFER_READ, 4 * (uint64_t)n_unit, 4, MP_ERROR_TEXT("svdf: bias must be n_unit aligned int32"));
    tml_rc_buf(args[4], &state, MP_BUFFER_WRITE, es * states, es,
        MP_ERROR_TEXT("svdf: state must be batch x n_filter x memory aligned int16, or int8"));
    tml_check(es == 2 || tml_in(g[TML_SVDF_STATE_ZP], -128, 127), MP_ERROR_TEXT("svdf: an int8 state's zero point out of range"));
    tml_rc_buf(args[5], &y, MP_BUFFER_WRITE, tml_mul31(batch, n_unit), 1, MP_ERROR_TEXT("svdf: y must be batch x n_unit"));
    tml_check(tml_apart(&y, &x) && tml_apart(&y, &state) && tml_apart(&state, &x) && tml_apart(&state, &wf) &&
        tml_apart(&state, &wt) && tml_apart(&state, &bias), MP_ERROR_TEXT("svdf: y or state overlaps another buffer"));
    tml_svdf(x.buf, wf.buf, wt.buf, bias.buf, state.buf, y.buf, es, g);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_svdf_obj, 8, 8, tml_svdf_fn);

// lstm(x, w_x, w_h, bias, table, h, c, y, scratch, g): scratch holds the 4 gates' n_state int16
static mp_obj_t tml_lstm_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    const int32_t *g = tml_g(args[9], TML_LSTM_TANH_SHIFT + 1, MP_ERROR_TEXT("lstm: g must be an array('i') of 29 values"));
    int32_t steps = g[TML_LSTM_STEPS], n_in = g[TML_LSTM_N_INPUT], n = g[TML_LSTM_N_STATE];
    tml_check(tml_in(steps, 1, 65535) && tml_in(n_in, 1, 65535) && tml_in(n, 1, 16383),
        MP_ERROR_TEXT("lstm: steps and n_input must be 1..65535, n_state 1..16383"));
    bool ok = tml_in(g[TML_LSTM_FORGET_SHIFT], -31, 31) && tml_in(g[TML_LSTM_INPUT_SHIFT], -31, 31) &&
        tml_in(g[TML_LSTM_OUTPUT_SHIFT], -31, 31) && tml_in(g[TML_LSTM_H_ZP], -128, 127) &&
        tml_in(g[TML_LSTM_CELL_CLIP], 0, 32767) && tml_in(g[TML_LSTM_TANH_MULTIPLIER], 1, 3 << 14) &&
        tml_in(g[TML_LSTM_TANH_SHIFT], 0, 15);
    for (int k = 0; k < 8; k++) {
        ok = ok && tml_in(g[TML_LSTM_GATE_SHIFT0 + k], -31, 31);
    }
    tml_check(ok, MP_ERROR_TEXT("lstm: a shift, zero point, clip or tanh scaling out of range"));
    mp_buffer_info_t x, wx, wh, bias, table, h, c, y, gates;
    tml_rc_buf(args[0], &x, MP_BUFFER_READ, tml_mul31(steps, n_in), 1, MP_ERROR_TEXT("lstm: x must be steps x n_input"));
    tml_rc_buf(args[1], &wx, MP_BUFFER_READ, tml_mul31(4 * n, n_in), 1, MP_ERROR_TEXT("lstm: w_x must be 4 n_state x n_input"));
    tml_rc_buf(args[2], &wh, MP_BUFFER_READ, tml_mul31(4 * n, n), 1, MP_ERROR_TEXT("lstm: w_h must be 4 n_state x n_state"));
    tml_rc_buf(args[3], &bias, MP_BUFFER_READ, 32 * (uint64_t)n, 4, MP_ERROR_TEXT("lstm: bias must be 8 n_state aligned int32"));
    tml_rc_buf(args[4], &table, MP_BUFFER_READ, 512, 2, MP_ERROR_TEXT("lstm: table must be 256 aligned int16"));
    tml_rc_buf(args[5], &h, MP_BUFFER_WRITE, n, 1, MP_ERROR_TEXT("lstm: h must be n_state int8"));
    tml_rc_buf(args[6], &c, MP_BUFFER_WRITE, 2 * (uint64_t)n, 2, MP_ERROR_TEXT("lstm: c must be n_state aligned int16"));
    tml_rc_buf(args[7], &y, MP_BUFFER_WRITE, tml_mul31(steps, n), 1, MP_ERROR_TEXT("lstm: y must be steps x n_state"));
    mp_get_buffer_raise(args[8], &gates, MP_BUFFER_WRITE);
    tml_check(gates.len >= 8 * (size_t)n && tml_aligned4(gates.buf), MP_ERROR_TEXT("lstm: scratch must hold 4 n_state int16"));
    const mp_buffer_info_t *ins[6] = {&x, &wx, &wh, &bias, &table, &gates};
    const mp_buffer_info_t *outs[3] = {&h, &c, &y};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 6; j++) {
            ok = ok && tml_apart(outs[i], ins[j]);
        }
        for (int j = 0; j < i; j++) {
            ok = ok && tml_apart(outs[i], outs[j]);
        }
    }
    tml_check(ok, MP_ERROR_TEXT("lstm: h, c, y or scratch overlaps another buffer"));
    tml_lstm(x.buf, wx.buf, wh.buf, bias.buf, table.buf, h.buf, c.buf, y.buf, gates.buf, g);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_lstm_obj, 10, 10, tml_lstm_fn);

#endif // TINYML_RECURRENT_BINDING_H
