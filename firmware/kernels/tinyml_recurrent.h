// tinyml's stateful kernels: svdf (int8 input and feature weights, int16 time weights and state) and
// lstm (int8 weights and hidden state, int16 cell state), bit-exact with TFLM's reference kernels
// (svdf_common.cc EvalIntegerSvdfReference; lstm_eval.h LstmStep) and with
// device_lib/tinyml/kernels_py_recurrent.py. Plain C99, no MicroPython dependency; the binding
// (tinyml_recurrent_binding.h) checks every size first. The state buffers are the model's variable
// tensors: updated in place, they carry over from one call to the next.
#ifndef TINYML_RECURRENT_H
#define TINYML_RECURRENT_H

#include <stdint.h>
#include "tinyml_fixedpoint.h"
#include "tinyml_ops.h"

static inline int32_t tml_rc_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

// svdf(x, w_feature, w_time, bias, state, y, g): g's slots TML_SVDF_*. Sums wrap in 32 bits (as TFLM's
// int32 on every target), so they are formed unsigned.
static void tml_svdf(const int8_t *x, const int8_t *wf, const int16_t *wt, const int32_t *bias, int16_t *state,
    int8_t *y, const int32_t *g) {
    const int batch = g[TML_SVDF_BATCH], n_in = g[TML_SVDF_N_INPUT], n_filter = g[TML_SVDF_N_FILTER];
    const int memory = g[TML_SVDF_MEMORY], n_unit = g[TML_SVDF_N_UNIT], rank = g[TML_SVDF_RANK];
    const int32_t x_zp = g[TML_SVDF_X_ZP], s_zp = g[TML_SVDF_STATE_ZP], y_zp = g[TML_SVDF_Y_ZP];
    const int n = batch * n_filter * memory;
    for (int i = 0; i + 1 < n; i++) { // the whole state one step to the left
        state[i] = state[i + 1];
    }
    for (int b = 0; b < batch; b++) {
        const int8_t *xb = x + b * n_in;
        const int8_t *w = wf;
        int16_t *newest = state + b * n_filter * memory + memory - 1;
        for (int f = 0; f < n_filter; f++, w += n_in, newest += memory) {
            uint32_t acc = 0;
            for (int i = 0; i < n_in; i++) {
                acc += (uint32_t)(w[i] * (xb[i] - x_zp));
            }
            int32_t v = tml_requantize((int32_t)acc, g[TML_SVDF_FEATURE_MULTIPLIER], g[TML_SVDF_FEATURE_SHIFT]);
            *newest = (int16_t)(s_zp + tml_rc_clamp(v, -32768, 32767));
        }
    }
    for (int b = 0; b < batch; b++) {
        const int16_t *sb = state + b * n_filter * memory;
        for (int u = 0; u < n_unit; u++) {
            uint32_t acc = (uint32_t)bias[u];
            for (int f = u * rank; f < (u + 1) * rank; f++) {
                const int16_t *w = wt + f * memory, *s = sb + f * memory;
                for (int j = 0; j < memory; j++) {
                    acc += (uint32_t)w[j] * (uint32_t)(s[j] - s_zp);
                }
            }
            int32_t v = tml_requantize((int32_t)acc, g[TML_SVDF_TIME_MULTIPLIER], g[TML_SVDF_TIME_SHIFT]);
            y[b * n_unit + u] = (int8_t)tml_rc_clamp(v + y_zp, -128, 127);
        }
    }
}

// TFLM's int16 Logistic (input multiplier 3: Q3.12 in, Q0.15 out) on its table of sigmoid(i / 24)
static inline int16_t tml_sigmoid16(int32_t v, const uint16_t *table) {
    v *= 3;
    uint32_t a = (uint32_t)(v < 0 ? -v : v), r;
    uint32_t uh = a >> 9;
    if (uh >= 255) {
        r = 0x7FFFu << 10;
    } else {
        uint32_t ua = table[uh];
        r = (ua << 9) + (a & 0x1FF) * (table[uh + 1] - ua);
    }
    r = v >= 0 ? r + 512 : (1u << 25) - r + 511;
    return (int16_t)(r >> 10);
}

// TFLM's int16 Tanh: the input times mult, rounded down by shift, then the table
static inline int16_t tml_tanh16(int32_t v, int32_t mult, int shift, const uint16_t *table) {
    v = (v * mult + ((1 << shift) >> 1)) >> shift;
    uint32_t a = (uint32_t)(v < 0 ? -v : v);
    uint32_t uh = a >> 8;
    int32_t r;
    if (uh >= 255) {
        r = 0xFFFF << 8;
    } else {
        uint32_t ua = table[uh];
        r = (int32_t)((ua << 8) + (a & 0xFF) * (table[uh + 1] - ua));
    }
    r = v >= 0 ? r - (1 << 23) + 128 : (1 << 23) + 127 - r;
    return (int16_t)(r >> 8);
}

// One gate row's int8 dot product plus its bias, wrapped in 32 bits
static inline int32_t tml_rc_dot(int32_t bias, const int8_t *w, const int8_t *v, int n) {
    uint32_t acc = (uint32_t)bias;
    for (int i = 0; i < n; i++) {
        acc += (uint32_t)(w[i] * v[i]);
    }
    return (int32_t)acc;
}

// lstm(x, w_x, w_h, bias, table, h, c, y, gates, g): g's slots TML_LSTM_*; gates: 4 n_state int16 (the
// input, forget, cell and output gates of a step). All four gates read the hidden state of the step
// before, so they are computed first, then the cell and the hidden state.
static void tml_lstm(const int8_t *x, const int8_t *wx, const int8_t *wh, const int32_t *bias,
    const uint16_t *table, int8_t *h, int16_t *c, int8_t *y, int16_t *gates, const int32_t *g) {
    const int steps = g[TML_LSTM_STEPS], n_in = g[TML_LSTM_N_INPUT], n = g[TML_LSTM_N_STATE];
    const int32_t clip = g[TML_LSTM_CELL_CLIP];
    for (int t = 0; t < steps; t++) {
        const int8_t *xt = x + t * n_in;
        for (int k = 0; k < 4; k++) {
            const int32_t mx = g[TML_LSTM_GATE_MULTIPLIER0 + k], sx = g[TML_LSTM_GATE_SHIFT0 + k];
            const int32_t mh = g[TML_LSTM_GATE_MULTIPLIER0 + 4 + k], sh = g[TML_LSTM_GATE_SHIFT0 + 4 + k];
            for (int o = 0; o < n; o++) {
                int r = k * n + o;
                int32_t a = tml_rc_clamp(tml_requantize(tml_rc_dot(bias[r], wx + r * n_in, xt, n_in), mx, sx),
                    -32768, 32767);
                int32_t b = tml_rc_clamp(tml_requantize(tml_rc_dot(bias[4 * n + r], wh + r * n, h, n), mh, sh),
                    -32768, 32767);
                int32_t v = tml_rc_clamp(a + b, -32768, 32767);
                gates[r] = k == 2 ? tml_tanh16(v, 3, 0, table) : tml_sigmoid16(v, table);
            }
        }
        const int16_t *gi = gates, *gf = gates + n, *gc = gates + 2 * n, *go = gates + 3 * n;
        for (int o = 0; o < n; o++) {
            int32_t v = tml_rc_clamp(tml_requantize(gf[o] * c[o], g[TML_LSTM_FORGET_MULTIPLIER],
                g[TML_LSTM_FORGET_SHIFT]), -32768, 32767);
            v += tml_rc_clamp(tml_requantize(gi[o] * gc[o], g[TML_LSTM_INPUT_MULTIPLIER], g[TML_LSTM_INPUT_SHIFT]),
                -32768, 32767);
            v = tml_rc_clamp(v, -32768, 32767);
            if (clip > 0) {
                v = tml_rc_clamp(v, -clip, clip);
            }
            c[o] = (int16_t)v;
            int32_t tc = tml_tanh16(v, g[TML_LSTM_TANH_MULTIPLIER], g[TML_LSTM_TANH_SHIFT], table);
            int32_t hv = g[TML_LSTM_H_ZP] + tml_requantize(tc * go[o], g[TML_LSTM_OUTPUT_MULTIPLIER],
                g[TML_LSTM_OUTPUT_SHIFT]);
            h[o] = (int8_t)tml_rc_clamp(hv, -128, 127);
        }
        for (int o = 0; o < n; o++) {
            y[t * n + o] = h[o];
        }
    }
}

#endif // TINYML_RECURRENT_H
