# Pure-Python kernels of TFLM's stateful ops (issue 12): SVDF (int8 with int16 time weights and
# state, TFLM's svdf_common.cc EvalIntegerSvdfReference) and UNIDIRECTIONAL_SEQUENCE_LSTM (int8 with
# an int16 cell state, TFLM's lstm_eval.h LstmStep). The state tensors are the model's variable
# tensors: the kernels update them in place, so they carry over from one run() to the next. The same
# bytes out as the viper kernels (kernels_viper_recurrent) and the native module.
from array import array
from tinyml.ops import const
from tinyml.fixedpoint import requantize

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_SVDF_BATCH = const(0)
_SVDF_N_INPUT = const(1)
_SVDF_N_FILTER = const(2)
_SVDF_MEMORY = const(3)
_SVDF_N_UNIT = const(4)
_SVDF_RANK = const(5)
_SVDF_X_ZP = const(6)
_SVDF_FEATURE_MULTIPLIER = const(7)
_SVDF_FEATURE_SHIFT = const(8)
_SVDF_STATE_ZP = const(9)
_SVDF_TIME_MULTIPLIER = const(10)
_SVDF_TIME_SHIFT = const(11)
_SVDF_Y_ZP = const(12)
_LSTM_STEPS = const(0)
_LSTM_N_INPUT = const(1)
_LSTM_N_STATE = const(2)
_LSTM_GATE_MULTIPLIER0 = const(3)
_LSTM_GATE_SHIFT0 = const(11)
_LSTM_FORGET_MULTIPLIER = const(19)
_LSTM_FORGET_SHIFT = const(20)
_LSTM_INPUT_MULTIPLIER = const(21)
_LSTM_INPUT_SHIFT = const(22)
_LSTM_OUTPUT_MULTIPLIER = const(23)
_LSTM_OUTPUT_SHIFT = const(24)
_LSTM_H_ZP = const(25)
_LSTM_CELL_CLIP = const(26)
_LSTM_TANH_MULTIPLIER = const(27)
_LSTM_TANH_SHIFT = const(28)
# ---- end of g's slots ----


def _clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def _wrap(v, bits):
    # a C cast to int16_t or int8_t: wraps
    top = 1 << (bits - 1)
    return ((v + top) & ((top << 1) - 1)) - top


def svdf(x, wf, wt, bias, state, y, acc, g):
    batch, n_in, n_filter, memory = g[_SVDF_BATCH], g[_SVDF_N_INPUT], g[_SVDF_N_FILTER], g[_SVDF_MEMORY]
    n_unit, rank, x_zp, s_zp = g[_SVDF_N_UNIT], g[_SVDF_RANK], g[_SVDF_X_ZP], g[_SVDF_STATE_ZP]
    fm, fs = g[_SVDF_FEATURE_MULTIPLIER], g[_SVDF_FEATURE_SHIFT]
    # int16 time weights and state, or int8 ones (TFLM's two integer versions, one template)
    es = len(state) // (batch * n_filter * memory)
    code, bits = ("h", 16) if es == 2 else ("b", 8)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    # the whole state moves one step to the left (one flat shift, as TFLM's), then each filter's
    # newest entry is its feature dot product
    st = array(code, bytes(state)[es:] + bytes(es))
    xs = array("b", bytes(x))
    ws = array("b", bytes(wf))
    for b in range(batch):
        for f in range(n_filter):
            acc = 0
            row, at = f * n_in, b * n_in
            for i in range(n_in):
                acc += ws[row + i] * (xs[at + i] - x_zp)
            st[(b * n_filter + f) * memory + memory - 1] = _wrap(s_zp + _clamp(requantize(acc, fm, fs), lo, hi), bits)
    state[:] = bytes(st)
    wts = array(code, bytes(wt))
    bs = array("i", bytes(bias))
    tm, ts, y_zp = g[_SVDF_TIME_MULTIPLIER], g[_SVDF_TIME_SHIFT], g[_SVDF_Y_ZP]
    ys = array("b", bytes(batch * n_unit))
    for b in range(batch):
        for u in range(n_unit):
            acc = bs[u]
            for f in range(u * rank, (u + 1) * rank):
                row, at = f * memory, (b * n_filter + f) * memory
                for j in range(memory):
                    acc += wts[row + j] * (st[at + j] - s_zp)
            ys[b * n_unit + u] = _clamp(requantize(acc, tm, ts) + y_zp, -128, 127)
    y[:] = bytes(ys)


def _sigmoid(v, table):
    # TFLM's reference_integer_ops::Logistic on int16, input multiplier 3 (Q3.12 in, Q0.15 out)
    v *= 3
    a = -v if v < 0 else v
    uh = a >> 9
    if uh >= 255:
        r = 0x7FFF << 10
    else:
        ua = table[uh]
        r = (ua << 9) + (a & 0x1FF) * (table[uh + 1] - ua)
    r = r + 512 if v >= 0 else (1 << 25) - r + 511
    return r >> 10


def _tanh(v, mult, shift, table):
    # TFLM's reference_integer_ops::Tanh on int16; (mult, shift) scale the input to Q3.12 x 3
    v = (v * mult + ((1 << shift) >> 1)) >> shift
    a = -v if v < 0 else v
    uh = a >> 8
    if uh >= 255:
        r = 0xFFFF << 8
    else:
        ua = table[uh]
        r = (ua << 8) + (a & 0xFF) * (table[uh + 1] - ua)
    r = r - (1 << 23) + 128 if v >= 0 else (1 << 23) + 127 - r
    return r >> 8


def lstm(x, wx, wh, bias, table, h, c, y, scratch, g):
    steps, n_in, n = g[_LSTM_STEPS], g[_LSTM_N_INPUT], g[_LSTM_N_STATE]
    tab = [v & 0xFFFF for v in array("h", bytes(table))]
    wxs, whs = array("b", bytes(wx)), array("b", bytes(wh))
    bs = array("i", bytes(bias))
    hs, cs = array("b", bytes(h)), array("h", bytes(c))
    xs = array("b", bytes(x))
    ys = array("b", bytes(len(y)))
    clip = g[_LSTM_CELL_CLIP]
    gate = [array("h", bytes(2 * n)) for _ in range(4)]  # input, forget, cell, output
    for t in range(steps):
        at = t * n_in
        for k in range(4):
            mx, sx = g[_LSTM_GATE_MULTIPLIER0 + k], g[_LSTM_GATE_SHIFT0 + k]
            mh, sh = g[_LSTM_GATE_MULTIPLIER0 + 4 + k], g[_LSTM_GATE_SHIFT0 + 4 + k]
            out = gate[k]
            for o in range(n):
                r = k * n + o
                acc = bs[r]
                row = r * n_in
                for i in range(n_in):
                    acc += xs[at + i] * wxs[row + i]
                v = _clamp(requantize(acc, mx, sx), -32768, 32767)
                acc = bs[4 * n + r]
                row = r * n
                for j in range(n):
                    acc += hs[j] * whs[row + j]
                v = _clamp(v + _clamp(requantize(acc, mh, sh), -32768, 32767), -32768, 32767)
                out[o] = _tanh(v, 3, 0, tab) if k == 2 else _sigmoid(v, tab)
        gi, gf, gc, go = gate
        for o in range(n):
            cv = _clamp(requantize(gf[o] * cs[o], g[_LSTM_FORGET_MULTIPLIER], g[_LSTM_FORGET_SHIFT]), -32768, 32767)
            cv += _clamp(requantize(gi[o] * gc[o], g[_LSTM_INPUT_MULTIPLIER], g[_LSTM_INPUT_SHIFT]), -32768, 32767)
            cv = _clamp(cv, -32768, 32767)
            if clip > 0:
                cv = _clamp(cv, -clip, clip)
            cs[o] = cv
            tc = _tanh(cv, g[_LSTM_TANH_MULTIPLIER], g[_LSTM_TANH_SHIFT], tab)
            hv = g[_LSTM_H_ZP] + requantize(tc * go[o], g[_LSTM_OUTPUT_MULTIPLIER], g[_LSTM_OUTPUT_SHIFT])
            hs[o] = _clamp(hv, -128, 127)
        for o in range(n):
            ys[t * n + o] = hs[o]
    h[:] = bytes(hs)
    c[:] = bytes(cs)
    y[:] = bytes(ys)
