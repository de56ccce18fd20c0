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

// The dot products of 4 weight rows (w, w + stride, ..) with v - vzp, added to acc: v's value loaded
// and offset once for the 4 rows (about 3 instructions per multiply-accumulate on armv7m, against 6
// for one row at a time). Sums wrap in 32 bits, as TFLM's int32 on every target.
static inline void tml_rc_dot4(const int8_t *w, int stride, const int8_t *v, int32_t vzp, int n, uint32_t *acc) {
    const int8_t *w0 = w, *w1 = w + stride, *w2 = w + 2 * stride, *w3 = w + 3 * stride;
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int i = 0; i < n; i++) {
        int32_t x = v[i] - vzp;
        a0 += (uint32_t)(w0[i] * x);
        a1 += (uint32_t)(w1[i] * x);
        a2 += (uint32_t)(w2[i] * x);
        a3 += (uint32_t)(w3[i] * x);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

// One row's dot product with v - vzp, added to acc
static inline uint32_t tml_rc_dot1(const int8_t *w, const int8_t *v, int32_t vzp, int n, uint32_t acc) {
    for (int i = 0; i < n; i++) {
        acc += (uint32_t)(w[i] * (v[i] - vzp));
    }
    return acc;
}

// svdf(x, w_feature, w_time, bias, state, y, g): g's slots TML_SVDF_*; the time weights and the state
// are int16 (es 2) or int8 (es 1), TFLM's two integer versions of one template. Sums wrap in 32 bits
// (as TFLM's int32 on every target), so they are formed unsigned.
static void tml_svdf(const int8_t *x, const int8_t *wf, const void *wt, const int32_t *bias, void *state,
    int8_t *y, int es, const int32_t *g) {
    const int batch = g[TML_SVDF_BATCH], n_in = g[TML_SVDF_N_INPUT], n_filter = g[TML_SVDF_N_FILTER];
    const int memory = g[TML_SVDF_MEMORY], n_unit = g[TML_SVDF_N_UNIT], rank = g[TML_SVDF_RANK];
    const int32_t x_zp = g[TML_SVDF_X_ZP], s_zp = g[TML_SVDF_STATE_ZP], y_zp = g[TML_SVDF_Y_ZP];
    const int32_t lo = es == 2 ? -32768 : -128, hi = es == 2 ? 32767 : 127;
    int16_t *s16 = state;
    int8_t *s8 = state;
    const int n = batch * n_filter * memory;
    if (es == 2) { // the whole state one step to the left
        for (int i = 0; i + 1 < n; i++) {
            s16[i] = s16[i + 1];
        }
    } else {
        for (int i = 0; i + 1 < n; i++) {
            s8[i] = s8[i + 1];
        }
    }
    for (int b = 0; b < batch; b++) {
        const int8_t *xb = x + b * n_in;
        int newest = b * n_filter * memory + memory - 1;
        for (int f = 0; f < n_filter; f += 4) {
            uint32_t acc[4]; // set one by one: an initializer becomes a memset call on armv6m (no libc here)
            acc[0] = acc[1] = acc[2] = acc[3] = 0;
            int rows = n_filter - f < 4 ? n_filter - f : 4;
            if (rows == 4) {
                tml_rc_dot4(wf + f * n_in, n_in, xb, x_zp, n_in, acc);
            } else {
                for (int r = 0; r < rows; r++) {
                    acc[r] = tml_rc_dot1(wf + (f + r) * n_in, xb, x_zp, n_in, 0);
                }
            }
            for (int r = 0; r < rows; r++) {
                int32_t v = tml_requantize((int32_t)acc[r], g[TML_SVDF_FEATURE_MULTIPLIER], g[TML_SVDF_FEATURE_SHIFT]);
                int at = newest + (f + r) * memory;
                v = s_zp + tml_rc_clamp(v, lo, hi); // TFLM clamps before adding the zero point: a cast wraps
                if (es == 2) {
                    s16[at] = (int16_t)v;
                } else {
                    s8[at] = (int8_t)v;
                }
            }
        }
    }
    for (int b = 0; b < batch; b++) {
        for (int u = 0; u < n_unit; u++) {
            uint32_t acc = (uint32_t)bias[u];
            for (int f = u * rank; f < (u + 1) * rank; f++) {
                int at = (b * n_filter + f) * memory;
                if (es == 2) {
                    const int16_t *w = (const int16_t *)wt + f * memory, *s = s16 + at;
                    for (int j = 0; j < memory; j++) {
                        acc += (uint32_t)w[j] * (uint32_t)(s[j] - s_zp);
                    }
                } else {
                    const int8_t *w = (const int8_t *)wt + f * memory, *s = s8 + at;
                    for (int j = 0; j < memory; j++) {
                        acc += (uint32_t)(w[j] * (s[j] - s_zp));
                    }
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

// Rows r0..r0+rows-1 (rows <= 4) of a gate matrix w (n columns) times v, plus their biases, into acc
static inline void tml_rc_rows(const int8_t *w, const int32_t *bias, const int8_t *v, int n, int r0, int rows,
    uint32_t *acc) {
    for (int r = 0; r < rows; r++) {
        acc[r] = (uint32_t)bias[r0 + r];
    }
    if (rows == 4) {
        tml_rc_dot4(w + r0 * n, n, v, 0, n, acc);
    } else {
        for (int r = 0; r < rows; r++) {
            acc[r] = tml_rc_dot1(w + (r0 + r) * n, v, 0, n, acc[r]);
        }
    }
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
            for (int o = 0; o < n; o += 4) {
                int r0 = k * n + o, rows = n - o < 4 ? n - o : 4;
                uint32_t ax[4], ah[4];
                tml_rc_rows(wx, bias, xt, n_in, r0, rows, ax);
                tml_rc_rows(wh, bias + 4 * n, h, n, r0, rows, ah);
                for (int j = 0; j < rows; j++) {
                    int32_t a = tml_rc_clamp(tml_requantize((int32_t)ax[j], mx, sx), -32768, 32767);
                    int32_t b = tml_rc_clamp(tml_requantize((int32_t)ah[j], mh, sh), -32768, 32767);
                    int32_t v = tml_rc_clamp(a + b, -32768, 32767);
                    gates[r0 + j] = k == 2 ? tml_tanh16(v, 3, 0, table) : tml_sigmoid16(v, table);
                }
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
