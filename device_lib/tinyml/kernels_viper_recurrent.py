# Viper kernels of TFLM's stateful ops (issue 12): SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM, the same bytes
# as kernels_py_recurrent (the reference, which says which TFLM code each step follows) and the native
# module. Loaded by tinyml/stateful.py only for a model that has these ops. The dot products and the
# elementwise steps are machine code; Python only walks the time steps and the gates. Int32 values
# that may pass 2**30 (multipliers, accumulators) stay in arrays: as arguments on a 32-bit port they
# would be boxed, an allocation per call.
import micropython
from tinyml.ops import const
from tinyml.kernels_viper_fixedpoint import EXT, requantize32

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


@micropython.viper
def _rq(acc, at: int, n: int, g, sm: int, ss: int, zp: int, lo: int, hi: int, ext: int):
    # acc[at..at+n) (int32) = clamp(MultiplyByQuantizedMultiplier(acc[i], g[sm], g[ss]) + zp, lo, hi)
    pg = ptr32(g)
    requantize32(acc, at, n, pg[sm], (pg[ss] << ext) >> ext, ext)
    pa = ptr32(acc)
    for i in range(at, at + n):
        v = ((pa[i] << ext) >> ext) + zp
        if v < lo:
            v = lo
        if v > hi:
            v = hi
        pa[i] = v


@micropython.viper
def _svdf_feature(x, w, state, acc, g, es: int, ext: int):
    # the state (es bytes a value) one step to the left (one flat move, as TFLM's), each filter's
    # feature dot product into acc
    px = ptr8(x)
    pw = ptr8(w)
    ps = ptr16(state)
    ps8 = ptr8(state)
    pa = ptr32(acc)
    pg = ptr32(g)
    batch = int(pg[_SVDF_BATCH])
    n_in = int(pg[_SVDF_N_INPUT])
    n_filter = int(pg[_SVDF_N_FILTER])
    x_zp = (pg[_SVDF_X_ZP] << ext) >> ext
    n = batch * n_filter * int(pg[_SVDF_MEMORY])
    if es == 2:
        for i in range(n - 1):
            ps[i] = ps[i + 1]
    else:
        for i in range(n - 1):
            ps8[i] = ps8[i + 1]
    k = 0
    for b in range(batch):
        row = 0
        xo = b * n_in
        for f in range(n_filter):
            a = 0
            for i in range(n_in):
                a += ((pw[row + i] ^ 0x80) - 0x80) * (((px[xo + i] ^ 0x80) - 0x80) - x_zp)
            row += n_in
            pa[k] = a
            k += 1


@micropython.viper
def _svdf_time(wt, bias, state, acc, g, es: int, ext: int):
    # each filter's newest state entry (its zero point plus the requantized feature, wrapped to the
    # state's int16 or int8), then each unit's bias plus its filters' time dot products into acc
    pw = ptr16(wt)
    pb = ptr32(bias)
    ps = ptr16(state)
    pw8 = ptr8(wt)
    ps8 = ptr8(state)
    pa = ptr32(acc)
    pg = ptr32(g)
    batch = int(pg[_SVDF_BATCH])
    n_filter = int(pg[_SVDF_N_FILTER])
    memory = int(pg[_SVDF_MEMORY])
    n_unit = int(pg[_SVDF_N_UNIT])
    rank = int(pg[_SVDF_RANK])
    s_zp = (pg[_SVDF_STATE_ZP] << ext) >> ext
    k = 0
    for b in range(batch):
        for f in range(n_filter):
            if es == 2:
                ps[(b * n_filter + f) * memory + memory - 1] = s_zp + ((pa[k] << ext) >> ext)
            else:
                ps8[(b * n_filter + f) * memory + memory - 1] = s_zp + ((pa[k] << ext) >> ext)
            k += 1
    k = 0
    for b in range(batch):
        for u in range(n_unit):
            a = (pb[u] << ext) >> ext
            for f in range(u * rank, (u + 1) * rank):
                wo = f * memory
                so = (b * n_filter + f) * memory
                if es == 2:
                    for j in range(memory):
                        a += ((pw[wo + j] ^ 0x8000) - 0x8000) * (((ps[so + j] ^ 0x8000) - 0x8000) - s_zp)
                else:
                    for j in range(memory):
                        a += ((pw8[wo + j] ^ 0x80) - 0x80) * (((ps8[so + j] ^ 0x80) - 0x80) - s_zp)
            pa[k] = a
            k += 1


@micropython.viper
def _store8(acc, at: int, n: int, y, yo: int):
    pa = ptr32(acc)
    py = ptr8(y)
    for i in range(n):
        py[yo + i] = pa[at + i]


def svdf(x, wf, wt, bias, state, y, acc, g):
    nf = g[_SVDF_BATCH] * g[_SVDF_N_FILTER]
    es = len(state) // (nf * g[_SVDF_MEMORY])  # int16 time weights and state, or int8 ones
    _svdf_feature(x, wf, state, acc, g, es, EXT)
    if es == 2:
        _rq(acc, 0, nf, g, _SVDF_FEATURE_MULTIPLIER, _SVDF_FEATURE_SHIFT, 0, -32768, 32767, EXT)
    else:
        _rq(acc, 0, nf, g, _SVDF_FEATURE_MULTIPLIER, _SVDF_FEATURE_SHIFT, 0, -128, 127, EXT)
    _svdf_time(wt, bias, state, acc, g, es, EXT)
    nu = g[_SVDF_BATCH] * g[_SVDF_N_UNIT]
    _rq(acc, 0, nu, g, _SVDF_TIME_MULTIPLIER, _SVDF_TIME_SHIFT, g[_SVDF_Y_ZP], -128, 127, EXT)
    _store8(acc, 0, nu, y, 0)


@micropython.viper
def _lstm_dots(x, xo: int, wx, wh, bias, h, acc, n_in: int, n: int, ext: int):
    # acc[r] = bias[r] + wx[r] . x[xo..], acc[4n + r] = bias[4n + r] + wh[r] . h, for the 4n gate rows,
    # 4 rows at a time (4n always divides by 4): each input value decoded once for the 4
    px = ptr8(x)
    pwx = ptr8(wx)
    pwh = ptr8(wh)
    pb = ptr32(bias)
    ph = ptr8(h)
    pa = ptr32(acc)
    n4 = 4 * n
    r = 0
    while r < n4:
        a0 = (pb[r] << ext) >> ext
        a1 = (pb[r + 1] << ext) >> ext
        a2 = (pb[r + 2] << ext) >> ext
        a3 = (pb[r + 3] << ext) >> ext
        w0 = r * n_in
        w1 = w0 + n_in
        w2 = w1 + n_in
        w3 = w2 + n_in
        for i in range(n_in):
            v = (px[xo + i] ^ 0x80) - 0x80
            a0 += ((pwx[w0 + i] ^ 0x80) - 0x80) * v
            a1 += ((pwx[w1 + i] ^ 0x80) - 0x80) * v
            a2 += ((pwx[w2 + i] ^ 0x80) - 0x80) * v
            a3 += ((pwx[w3 + i] ^ 0x80) - 0x80) * v
        pa[r] = a0
        pa[r + 1] = a1
        pa[r + 2] = a2
        pa[r + 3] = a3
        a0 = (pb[n4 + r] << ext) >> ext
        a1 = (pb[n4 + r + 1] << ext) >> ext
        a2 = (pb[n4 + r + 2] << ext) >> ext
        a3 = (pb[n4 + r + 3] << ext) >> ext
        w0 = r * n
        w1 = w0 + n
        w2 = w1 + n
        w3 = w2 + n
        for j in range(n):
            v = (ph[j] ^ 0x80) - 0x80
            a0 += ((pwh[w0 + j] ^ 0x80) - 0x80) * v
            a1 += ((pwh[w1 + j] ^ 0x80) - 0x80) * v
            a2 += ((pwh[w2 + j] ^ 0x80) - 0x80) * v
            a3 += ((pwh[w3 + j] ^ 0x80) - 0x80) * v
        pa[n4 + r] = a0
        pa[n4 + r + 1] = a1
        pa[n4 + r + 2] = a2
        pa[n4 + r + 3] = a3
        r += 4


@micropython.viper
def _sum16(acc, n4: int, gates, ext: int):
    # gates[r] = acc[r] + acc[4n + r], saturated to int16 (TFLM's AddElementWise)
    pa = ptr32(acc)
    pq = ptr16(gates)
    for r in range(n4):
        v = ((pa[r] << ext) >> ext) + ((pa[n4 + r] << ext) >> ext)
        if v > 32767:
            v = 32767
        if v < -32768:
            v = -32768
        pq[r] = v


@micropython.viper
def _act(src, so: int, dst, do: int, n: int, table, tanh: int, mult: int, shift: int):
    # dst[do + i] = TFLM's int16 Tanh (input x mult >> shift, rounded) or Logistic (x 3) of src[so + i],
    # on its table of sigmoid(i / 24) in 0.16 fixed point
    ps = ptr16(src)
    pd = ptr16(dst)
    pt = ptr16(table)
    rnd = (1 << shift) >> 1
    for i in range(n):
        v = (ps[so + i] ^ 0x8000) - 0x8000
        if tanh:
            v = (v * mult + rnd) >> shift
            a = v
            if a < 0:
                a = 0 - a
            uh = a >> 8
            if uh >= 255:
                r = 0xFFFF << 8
            else:
                ua = int(pt[uh])
                r = (ua << 8) + (a & 0xFF) * (int(pt[uh + 1]) - ua)
            if v >= 0:
                r = r - 8388608 + 128
            else:
                r = 8388608 + 127 - r
            r = r >> 8
        else:
            v = v * 3
            a = v
            if a < 0:
                a = 0 - a
            uh = a >> 9
            if uh >= 255:
                r = 0x7FFF << 10
            else:
                ua = int(pt[uh])
                r = (ua << 9) + (a & 0x1FF) * (int(pt[uh + 1]) - ua)
            if v >= 0:
                r = r + 512
            else:
                r = 33554432 - r + 511
            r = r >> 10
        pd[do + i] = r


@micropython.viper
def _mul16(a, ao: int, b, bo: int, acc, at: int, n: int):
    # acc[at + i] = a[ao + i] * b[bo + i], int16 x int16
    pa = ptr16(a)
    pb = ptr16(b)
    pc = ptr32(acc)
    for i in range(n):
        pc[at + i] = ((pa[ao + i] ^ 0x8000) - 0x8000) * ((pb[bo + i] ^ 0x8000) - 0x8000)


@micropython.viper
def _cell(acc, c, n: int, clip: int, ext: int):
    # c = the saturated sum of forget x c and input x cell gate (both requantized), clipped when asked
    pa = ptr32(acc)
    pc = ptr16(c)
    for i in range(n):
        v = ((pa[i] << ext) >> ext) + ((pa[n + i] << ext) >> ext)
        if v > 32767:
            v = 32767
        if v < -32768:
            v = -32768
        if clip > 0:
            if v > clip:
                v = clip
            if v < 0 - clip:
                v = 0 - clip
        pc[i] = v


def lstm(x, wx, wh, bias, table, h, c, y, scratch, g):
    steps, n_in, n = g[_LSTM_STEPS], g[_LSTM_N_INPUT], g[_LSTM_N_STATE]
    acc = scratch  # 8n int32 accumulators, then the 4 gates' 4n int16 activations
    gates = memoryview(scratch)[32 * n:]
    n4 = 4 * n
    for t in range(steps):
        _lstm_dots(x, t * n_in, wx, wh, bias, h, acc, n_in, n, EXT)
        for k in range(4):
            _rq(acc, k * n, n, g, _LSTM_GATE_MULTIPLIER0 + k, _LSTM_GATE_SHIFT0 + k, 0, -32768, 32767, EXT)
            _rq(acc, n4 + k * n, n, g, _LSTM_GATE_MULTIPLIER0 + 4 + k, _LSTM_GATE_SHIFT0 + 4 + k, 0, -32768, 32767,
                EXT)
        _sum16(acc, n4, gates, EXT)
        _act(gates, 0, gates, 0, 2 * n, table, 0, 3, 0)  # input and forget gates: sigmoid
        _act(gates, 2 * n, gates, 2 * n, n, table, 1, 3, 0)  # cell gate: tanh of Q3.12
        _act(gates, 3 * n, gates, 3 * n, n, table, 0, 3, 0)  # output gate: sigmoid
        _mul16(gates, n, c, 0, acc, 0, n)  # forget x c
        _rq(acc, 0, n, g, _LSTM_FORGET_MULTIPLIER, _LSTM_FORGET_SHIFT, 0, -32768, 32767, EXT)
        _mul16(gates, 0, gates, 2 * n, acc, n, n)  # input x cell gate
        _rq(acc, n, n, g, _LSTM_INPUT_MULTIPLIER, _LSTM_INPUT_SHIFT, 0, -32768, 32767, EXT)
        _cell(acc, c, n, g[_LSTM_CELL_CLIP], EXT)
        _act(c, 0, gates, 0, n, table, 1, g[_LSTM_TANH_MULTIPLIER], g[_LSTM_TANH_SHIFT])  # tanh(c)
        _mul16(gates, 0, gates, 3 * n, acc, 0, n)  # tanh(c) x output gate
        _rq(acc, 0, n, g, _LSTM_OUTPUT_MULTIPLIER, _LSTM_OUTPUT_SHIFT, g[_LSTM_H_ZP], -128, 127, EXT)
        _store8(acc, 0, n, h, 0)
        _store8(acc, 0, n, y, t * n)
