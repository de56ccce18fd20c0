# Pure-Python kernels of the ops with int16 activations and int8 weights (16x8, tinyml/ops.py S16):
# the portable reference, TFLM's reference_integer_ops arithmetic (docs/model-format.md, "int16
# activations"). Imported only by a model that has such ops; the viper backend's are
# kernels_viper_s16.py, the native module's fully_connected_s16, conv2d_s16, depthwise_conv2d_s16.
from array import array
import struct
from tinyml.ops import const
from tinyml.fixedpoint import requantize
from tinyml.kernels_py import int8s
from tinyml.kernels_s16_float import dequantize16, quantize_f32_s16  # noqa: F401

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_CONV_H = const(0)
_CONV_W = const(1)
_CONV_C = const(2)
_CONV_OH = const(3)
_CONV_OW = const(4)
_CONV_OC = const(5)
_CONV_KH = const(6)
_CONV_KW = const(7)
_CONV_OC0 = const(8)
_CONV_OCN = const(9)
_CONV_STRIDE_H = const(10)
_CONV_STRIDE_W = const(11)
_CONV_DILATION_H = const(12)
_CONV_DILATION_W = const(13)
_CONV_PAD_TOP = const(14)
_CONV_PAD_LEFT = const(15)
_CONV_ACT_MIN = const(18)
_CONV_ACT_MAX = const(19)
_CONV_DEPTH_MULTIPLIER = const(20)
_POOL_H = const(0)
_POOL_W = const(1)
_POOL_C = const(2)
_POOL_OH = const(3)
_POOL_OW = const(4)
_POOL_STRIDE_H = const(5)
_POOL_STRIDE_W = const(6)
_POOL_FILTER_H = const(7)
_POOL_FILTER_W = const(8)
_POOL_PAD_TOP = const(9)
_POOL_PAD_LEFT = const(10)
_POOL_ACT_MIN = const(11)
_POOL_ACT_MAX = const(12)
_POOL_IS_MAX = const(13)
_ADD_D0 = const(0)
_ADD_A_STRIDE0 = const(4)
_ADD_B_STRIDE0 = const(8)
_ADD_LEFT_SHIFT = const(14)
_ADD_A_MULTIPLIER = const(15)
_ADD_A_SHIFT = const(16)
_ADD_B_MULTIPLIER = const(17)
_ADD_B_SHIFT = const(18)
_ADD_Y_MULTIPLIER = const(19)
_ADD_Y_SHIFT = const(20)
_ADD_ACT_MIN = const(22)
_ADD_ACT_MAX = const(23)
_MUL_Y_MULTIPLIER = const(14)
_MUL_Y_SHIFT = const(15)
_MUL_ACT_MIN = const(17)
_MUL_ACT_MAX = const(18)
# ---- end of g's slots ----


def int16s(buf):
    return struct.unpack("<%dh" % (len(buf) // 2), buf)


def int64_at(buf, i):
    lo, hi = struct.unpack_from("<Ii", buf, 8 * i)
    return hi * 4294967296 + lo


def requantize64(acc, m, s):
    """TFLM's MultiplyByQuantizedMultiplier(int64_t x, ...): the Q31 multiplier rounded to 16 bits, one
    rounding shift by 15 - s (s in -31..7), the int64 result cast to int32 (it wraps, as TFLM's does)."""
    rm = 0x7FFF if m >= 0x7FFF0000 else (m + 0x8000) >> 16
    t = 15 - s
    return (((acc * rm + (1 << (t - 1))) >> t) + 0x80000000 & 0xFFFFFFFF) - 0x80000000


def _stages(bias, mult, shift, n):
    # (bias, multiplier, shift) of each of n output channels; multiplier and shift one per channel or one
    pc = len(mult) > 4
    return [(int64_at(bias, o),) + struct.unpack_from("<i", mult, 4 * o if pc else 0)
            + struct.unpack_from("<i", shift, 4 * o if pc else 0) for o in range(n)]


def _out(acc, stage, lo, hi):
    v = requantize64(acc + stage[0], stage[1], stage[2])
    return lo if v < lo else hi if v > hi else v


def fully_connected_s16(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max):
    # out_zp is 0 (validated): TFLM's int16 kernels add no output offset
    stages = _stages(bias, mult, shift, n_out)
    ws = int8s(w)
    xs = int16s(x)
    ys = array("h")
    for b in range(len(y) // (2 * n_out)):
        base = b * n_in
        for o in range(n_out):
            row = o * n_in
            acc = 0
            for i in range(n_in):
                acc += xs[base + i] * ws[row + i]
            ys.append(_out(acc, stages[o], act_min, act_max))
    y[:] = bytes(ys)


def _conv(x, w, bias, mult, shift, y, g, dm):
    # conv2d (dm 0) and depthwise_conv2d (depth multiplier dm) of output channels oc0 .. oc0+ocn-1;
    # taps outside the input are skipped (TFLM's reference loops)
    H, W, C, OH, OW, OC = g[_CONV_H], g[_CONV_W], g[_CONV_C], g[_CONV_OH], g[_CONV_OW], g[_CONV_OC]
    KH, KW, oc0, ocn = g[_CONV_KH], g[_CONV_KW], g[_CONV_OC0], g[_CONV_OCN]
    sh, sw, dh, dw = g[_CONV_STRIDE_H], g[_CONV_STRIDE_W], g[_CONV_DILATION_H], g[_CONV_DILATION_W]
    pt, pl, lo, hi = g[_CONV_PAD_TOP], g[_CONV_PAD_LEFT], g[_CONV_ACT_MIN], g[_CONV_ACT_MAX]
    xs = int16s(x)
    ws = int8s(w)
    stages = _stages(bias, mult, shift, ocn)
    ci = 1 if dm else C  # input channels one output channel reads
    k = KH * KW * ci
    out = array("h", bytes(2 * OH * OW * OC))
    for oh in range(OH):
        for ow in range(OW):
            for o in range(ocn):
                c0 = (oc0 + o) // dm if dm else 0
                acc = 0
                for kh in range(KH):
                    ih = oh * sh - pt + kh * dh
                    if not 0 <= ih < H:
                        continue
                    for kw in range(KW):
                        iw = ow * sw - pl + kw * dw
                        if not 0 <= iw < W:
                            continue
                        at = (ih * W + iw) * C + c0
                        wt = o * k + (kh * KW + kw) * ci
                        for c in range(ci):
                            acc += xs[at + c] * ws[wt + c]
                out[(oh * OW + ow) * OC + oc0 + o] = _out(acc, stages[o], lo, hi)
    # only this call's channels change: the other runs' are in y already
    ys = memoryview(out)
    for p in range(OH * OW):
        at = 2 * (p * OC + oc0)
        y[at:at + 2 * ocn] = bytes(ys[p * OC + oc0:p * OC + oc0 + ocn])


def conv2d_s16(x, w, bias, mult, shift, y, g):
    _conv(x, w, bias, mult, shift, y, g, 0)


def depthwise_conv2d_s16(x, w, bias, mult, shift, y, g):
    _conv(x, w, bias, mult, shift, y, g, g[_CONV_DEPTH_MULTIPLIER])


def pool2d_s16(x, y, g):
    # TFLM reference_integer_ops::AveragePool / MaxPool for int16: only taps inside the input count
    H, W, C, OH, OW = g[_POOL_H], g[_POOL_W], g[_POOL_C], g[_POOL_OH], g[_POOL_OW]
    sh, sw, fh, fw = g[_POOL_STRIDE_H], g[_POOL_STRIDE_W], g[_POOL_FILTER_H], g[_POOL_FILTER_W]
    pt, pl, lo, hi = g[_POOL_PAD_TOP], g[_POOL_PAD_LEFT], g[_POOL_ACT_MIN], g[_POOL_ACT_MAX]
    xs = int16s(x)
    ys = array("h")
    for oh in range(OH):
        y0 = oh * sh - pt
        for ow in range(OW):
            x0 = ow * sw - pl
            for c in range(C):
                taps = [xs[(ih * W + iw) * C + c] for ih in range(max(0, y0), min(H, y0 + fh))
                        for iw in range(max(0, x0), min(W, x0 + fw))]
                if g[_POOL_IS_MAX]:
                    v = max(taps)
                else:  # rounds half away from zero (C's division truncates)
                    n, acc = len(taps), sum(taps)
                    v = (acc + n // 2) // n if acc > 0 else -((-acc + n // 2) // n)
                ys.append(lo if v < lo else hi if v > hi else v)
    y[:] = bytes(ys)


def _broadcast(a, b, g, fn):
    # fn(a[i . a_strides], b[i . b_strides]) for every index i of (D0, D1, D2, D3), as array('h')
    D0, D1, D2, D3 = g[_ADD_D0:_ADD_D0 + 4]
    a0, a1, a2, a3 = g[_ADD_A_STRIDE0:_ADD_A_STRIDE0 + 4]
    b0, b1, b2, b3 = g[_ADD_B_STRIDE0:_ADD_B_STRIDE0 + 4]
    av, bv = int16s(a), int16s(b)
    ys = array("h")
    for i0 in range(D0):
        for i1 in range(D1):
            for i2 in range(D2):
                ai = i0 * a0 + i1 * a1 + i2 * a2
                bi = i0 * b0 + i1 * b1 + i2 * b2
                for _ in range(D3):
                    ys.append(fn(av[ai], bv[bi]))
                    ai += a3
                    bi += b3
    return bytes(ys)


def mul_s16(a, b, y, g):
    # TFLM's int16 MUL (reference_integer_ops::Mul, BroadcastMul6DSlow): the int32 product of the codes
    # (zero points 0) requantized, clamped
    m, s, lo, hi = g[_MUL_Y_MULTIPLIER], g[_MUL_Y_SHIFT], g[_MUL_ACT_MIN], g[_MUL_ACT_MAX]

    def f(va, vb):
        v = requantize(va * vb, m, s)
        return lo if v < lo else hi if v > hi else v
    y[:] = _broadcast(a, b, g, f)


def _add_sub(a, b, y, g, sign):
    # TFLM's int16 ADD (reference_ops::Add, BroadcastAdd6DSlow) and SUB: int8's arithmetic with
    # left_shift 15 and zero points 0, on ADD's record (broadcast by element strides)
    ls = g[_ADD_LEFT_SHIFT]
    am, ash, bm, bsh = g[_ADD_A_MULTIPLIER], g[_ADD_A_SHIFT], g[_ADD_B_MULTIPLIER], g[_ADD_B_SHIFT]
    ym, ysh, lo, hi = g[_ADD_Y_MULTIPLIER], g[_ADD_Y_SHIFT], g[_ADD_ACT_MIN], g[_ADD_ACT_MAX]
    D0, D1, D2, D3 = g[_ADD_D0:_ADD_D0 + 4]
    a0, a1, a2, a3 = g[_ADD_A_STRIDE0:_ADD_A_STRIDE0 + 4]
    b0, b1, b2, b3 = g[_ADD_B_STRIDE0:_ADD_B_STRIDE0 + 4]
    av, bv = int16s(a), int16s(b)
    ys = array("h")
    for i0 in range(D0):
        for i1 in range(D1):
            for i2 in range(D2):
                ai = i0 * a0 + i1 * a1 + i2 * a2
                bi = i0 * b0 + i1 * b1 + i2 * b2
                for _ in range(D3):
                    v = requantize(requantize(av[ai] << ls, am, ash) + sign * requantize(bv[bi] << ls, bm, bsh), ym, ysh)
                    ys.append(lo if v < lo else hi if v > hi else v)
                    ai += a3
                    bi += b3
    y[:] = bytes(ys)


def add_s16(a, b, y, g):
    _add_sub(a, b, y, g, 1)


def sub_s16(a, b, y, g):
    _add_sub(a, b, y, g, -1)


# ---- the int16 element-wise ops and SOFTMAX (docs/model-format.md, "Ops with int16 activations") ----

def _table16(t, at):
    # entry at of an int16 table, as int16
    v = t[2 * at] | t[2 * at + 1] << 8
    return v - 0x10000 if v & 0x8000 else v


def _sigmoid(v, m, s, t, tanh):
    # TFLM's reference_integer_ops::Logistic (tanh 0) and Tanh (1) of one int16 code: scaled to
    # 1/(3*4096) by (m, s), then sigmoid_table_uint16 (t, 256 entries) interpolated
    r = (1 << (s - 1)) if s > 0 else 0
    d = (v * m + r) >> s
    a = -d if d < 0 else d
    if tanh:
        uh = a >> 8
        if uh >= 255:
            r = 0xFFFF << 8
        else:
            ua = _table16(t, uh) & 0xFFFF
            r = (ua << 8) + (a & 0xFF) * ((_table16(t, uh + 1) & 0xFFFF) - ua)
        r = (r - (1 << 23) + (1 << 7)) if d >= 0 else (-r + (1 << 23) + (1 << 7) - 1)
        return r >> 8
    uh = a >> 9
    if uh >= 255:
        r = 0x7FFF << 10
    else:
        ua = _table16(t, uh) & 0xFFFF
        r = (ua << 9) + (a & 0x1FF) * ((_table16(t, uh + 1) & 0xFFFF) - ua)
    r = (r + (1 << 9)) if d >= 0 else ((1 << 25) - r + (1 << 9) - 1)
    return r >> 10


def lut_s16(x, y, t, n, mode, m, s, y_zp):
    # int16 LOGISTIC (mode 0) and TANH (1): m, s the input multiplier and left shift, t TFLM's
    # sigmoid_table_uint16; DEQUANTIZE int16 -> float32 (2): x * scale (m: its float32 bits) in float32
    if mode == 2:
        return dequantize16(x, y, m)
    xs = int16s(x)
    out = array("h", bytes(len(x)))
    for i, v in enumerate(xs):
        out[i] = _sigmoid(v, m, s, t, mode)
    y[:] = bytes(out)


def requantize_s16(x, y, rq, n, y_zp, y_scale):
    # QUANTIZE int16 -> int8 or int16: TFLM's Requantize, MultiplyByQuantizedMultiplier(x, m, s) + y_zp,
    # clamped; rq the int32 (multiplier, shift)
    m, s = struct.unpack("<ii", rq)
    wide = len(y) == len(x)
    lo, hi = (-32768, 32767) if wide else (-128, 127)
    out = array("h" if wide else "b", bytes(len(y)))
    for i, v in enumerate(int16s(x)):
        v = requantize(v, m, s) + y_zp
        out[i] = lo if v < lo else hi if v > hi else v
    y[:] = bytes(out)


def _lookup(v, t, at):
    # TFLM's generic_int16_table_lookup of int16 v in the 513-entry table at entry at of t
    i = at + 256 + (v >> 7)
    base = _table16(t, i)
    slope = (_table16(t, i + 1) - base + 0x8000 & 0xFFFF) - 0x8000
    r = base + ((slope * (v & 0x7F) + 64) >> 7)
    return (r + 0x8000 & 0xFFFF) - 0x8000


def softmax_s16(x, y, t, n, m, s, unused):
    # TFLM's reference_ops::SoftmaxInt16 over rows of n: exp(x - max) from t's first table (513 entries,
    # the host's gen_lut of exp on [-10, 0]), their sum's reciprocal from its second (1 / (1 + x) on
    # [0, 1]), each a Q0.15 interpolated lookup
    xs = int16s(x)
    out = array("h", bytes(len(x)))
    for r0 in range(0, len(xs), n):
        row = xs[r0:r0 + n]
        top = max(row)
        e = []
        for v in row:
            d = requantize(v - top, m, s) + 32767
            e.append(_lookup(-32768 if d < -32768 else 32767 if d > 32767 else d, t, 0))
        total = max(sum(e), 1 << 14)  # at least exp(0) for TFLM's table: a table not the converter's
        hp = 0  # leading zeros of the (positive) int32 sum
        while not total & (0x80000000 >> hp):
            hp += 1
        shifted = ((total << (hp - 1)) + (1 << 13)) >> 14
        d = shifted - (1 << 15) - (1 << 16)
        rcp = _lookup(-32768 if d < -32768 else 32767 if d > 32767 else d, t, 513)
        rs = 31 - hp
        for j, v in enumerate(e):
            q = (v * rcp + (1 << (rs - 1))) >> rs
            out[r0 + j] = 0 if q < 0 else 32767 if q > 32767 else q
    y[:] = bytes(out)
