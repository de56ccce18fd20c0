# Pure-Python kernels: the portable reference. Same signatures and bytes out as the native
# module (firmware/kernels) and the viper kernels; see docs/model-format.md for the semantics.
from array import array
import struct
import sys
from tinyml.ops import const
from tinyml.fixedpoint import requantize, srdhm, rdivpot, exp_on_negative_values, reciprocal
from tinyml.kernels_py_math import (reduce_sum, reduce_max, reduce_min, reduce_argmax, reduce_argmin,  # noqa: F401
                                     l2_normalization, log_softmax, select)  # noqa: F401  (the math ops)
from tinyml.kernels_py_matmul import batch_matmul, transpose_conv2d  # noqa: F401
from tinyml.kernels_py_tail import add_n, cumsum  # noqa: F401

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
_CONV_X_ZP = const(16)
_CONV_Y_ZP = const(17)
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
_MEAN_H = const(0)
_MEAN_W = const(1)
_MEAN_C = const(2)
_MEAN_X_ZP = const(3)
_MEAN_Y_ZP = const(4)
_MEAN_MULTIPLIER = const(5)
_MEAN_SHIFT = const(6)
_ADD_D0 = const(0)
_ADD_A_STRIDE0 = const(4)
_ADD_B_STRIDE0 = const(8)
_ADD_A_ZP = const(12)
_ADD_B_ZP = const(13)
_ADD_LEFT_SHIFT = const(14)
_ADD_A_MULTIPLIER = const(15)
_ADD_A_SHIFT = const(16)
_ADD_B_MULTIPLIER = const(17)
_ADD_B_SHIFT = const(18)
_ADD_Y_MULTIPLIER = const(19)
_ADD_Y_SHIFT = const(20)
_ADD_Y_ZP = const(21)
_ADD_ACT_MIN = const(22)
_ADD_ACT_MAX = const(23)
_MUL_A_ZP = const(12)
_MUL_B_ZP = const(13)
_MUL_Y_MULTIPLIER = const(14)
_MUL_Y_SHIFT = const(15)
_MUL_Y_ZP = const(16)
_MUL_ACT_MIN = const(17)
_MUL_ACT_MAX = const(18)
_QUANTIZE_Y_ZP = const(0)
_QUANTIZE_Y_SCALE = const(1)
_RESIZE_BATCHES = const(0)
_RESIZE_OH = const(1)
_RESIZE_OW = const(2)
_RESIZE_C = const(3)
_RESIZE_IN_BATCH = const(4)
# ---- end of g's slots ----

NAME = "python"


_MICROPYTHON = sys.implementation.name == "micropython"


def int8s(buf):
    # The bytes of buf as signed ints, in one new array. MicroPython's array() stores each byte a
    # memoryview yields wrapped to int8, so no second copy of buf is made; CPython refuses a value over
    # 127 there, so on CPython (the host's tests) bytes() comes first.
    return array("b", buf if _MICROPYTHON else bytes(buf))


def int32_at(buf, i):
    return struct.unpack_from("<i", buf, 4 * i)[0]


def fully_connected(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max):
    per_channel = len(mult) > 4
    m, s = int32_at(mult, 0), int32_at(shift, 0)
    ys = array("b", bytes(len(y)))
    for b in range(len(y) // n_out):
        xs = int8s(x[b * n_in:(b + 1) * n_in])
        for o in range(n_out):
            acc = int32_at(bias, o)
            ws = int8s(w[o * n_in:(o + 1) * n_in])  # a row at a time: a small heap need not hold all the weights twice
            for i in range(n_in):
                acc += xs[i] * ws[i]
            if per_channel:
                m, s = int32_at(mult, o), int32_at(shift, o)
            v = requantize(acc, m, s) + out_zp
            ys[b * n_out + o] = act_min if v < act_min else act_max if v > act_max else v
    y[:] = bytes(ys)


def softmax(x, y, n, in_mult, in_left_shift, diff_min):
    # TFLM reference_ops::Softmax, int8 in and out (output zero point -128, scale 1/256)
    xs = int8s(x)
    ys = array("b", bytes(len(y)))
    for r in range(0, len(xs), n):
        row = xs[r:r + n]
        top = max(row)
        exps = []
        total = 0
        for v in row:
            d = v - top
            if d >= diff_min:
                e = exp_on_negative_values(srdhm(d << in_left_shift, in_mult))
                total += rdivpot(e, 12)
            else:
                e = None
            exps.append(e)
        scale, bits_over_unit = reciprocal(total, 12)
        for c in range(n):
            e = exps[c]
            if e is None:
                ys[r + c] = -128
            else:
                v = rdivpot(srdhm(scale, e), bits_over_unit + 23) - 128
                ys[r + c] = -128 if v < -128 else 127 if v > 127 else v
    y[:] = bytes(ys)


def _channel_multipliers(mult, shift, n):
    # (multiplier, shift) of each of the n channels: one pair per channel, or one for all
    if len(mult) > 4:
        return [(int32_at(mult, o), int32_at(shift, o)) for o in range(n)]
    return [(int32_at(mult, 0), int32_at(shift, 0))] * n


def _padded_input(x, g):
    # The input as conv2d and depthwise_conv2d read it: signed, with pad_left columns of x_zp
    # before each row and enough after it for the last window; rows outside the input are all
    # x_zp. Returns (row_len, band): band(oh) lays the KH padded rows output row oh reads end to
    # end, so tap (kh, kw, c) of output column ow is band[kh*row_len + (ow*stride_w + kw*dil_w)*C + c].
    H, W, C, OH, OW = g[_CONV_H], g[_CONV_W], g[_CONV_C], g[_CONV_OH], g[_CONV_OW]
    KH, KW, x_zp = g[_CONV_KH], g[_CONV_KW], g[_CONV_X_ZP]
    sh, sw, dh, dw = g[_CONV_STRIDE_H], g[_CONV_STRIDE_W], g[_CONV_DILATION_H], g[_CONV_DILATION_W]
    pt, pl = g[_CONV_PAD_TOP], g[_CONV_PAD_LEFT]
    padded_w = max(pl + W, (OW - 1) * sw + (KW - 1) * dw + 1)
    row_len = padded_w * C
    left = array("b", [x_zp] * (pl * C))
    right = array("b", [x_zp] * ((padded_w - pl - W) * C))
    outside = array("b", [x_zp] * row_len)

    def band(oh):
        rows = array("b")
        for kh in range(KH):
            ih = oh * sh - pt + kh * dh
            if 0 <= ih < H:
                rows += left + int8s(x[ih * W * C:(ih + 1) * W * C]) + right
            else:
                rows += outside
        return rows

    return row_len, band


def conv_weight_at(o, k, ocn, K):
    # Byte of weight k of channel o (of ocn, K each) in conv2d's w: channels in runs of 4 interleaved,
    # pairs of taps together (docs/model-format.md, "conv_2d weights"); the last ocn % 4 channels plain.
    if o >= ocn & ~3:
        return o * K + k
    base = (o & ~3) * K
    if k == K - 1 and K & 1:  # the unpaired last tap: [c0, c1, c2, c3]
        return base + 4 * k + (o & 3)
    return base + 4 * (k & ~1) + 2 * (k & 1) + (o & 1) + 2 * (o & 2)


def conv2d(x, w, bias, mult, shift, y, g):
    # y[oh, ow, oc] for oc in oc0 .. oc0+ocn-1; w holds the ocn channels' (KH, KW, C) weights interleaved
    # (conv_weight_at); bias has x_zp folded in.
    C, OH, OW, OC, KH, KW = g[_CONV_C], g[_CONV_OH], g[_CONV_OW], g[_CONV_OC], g[_CONV_KH], g[_CONV_KW]
    sw, dw = g[_CONV_STRIDE_W], g[_CONV_DILATION_W]
    y_zp, act_min, act_max = g[_CONV_Y_ZP], g[_CONV_ACT_MIN], g[_CONV_ACT_MAX]
    oc0, ocn = g[_CONV_OC0], g[_CONV_OCN]
    row_len, band = _padded_input(x, g)
    # offsets of the window's taps in a band, in the order of a kernel's weights (kh, kw, c)
    taps = [kh * row_len + kw * dw * C + c for kh in range(KH) for kw in range(KW) for c in range(C)]
    k = len(taps)
    ws = int8s(w)
    kernels = [[ws[conv_weight_at(o, i, ocn, k)] for i in range(k)] for o in range(ocn)]
    biases = [int32_at(bias, o) for o in range(ocn)]
    mults = _channel_multipliers(mult, shift, ocn)
    for oh in range(OH):
        rows = band(oh)
        for ow in range(OW):
            base = ow * sw * C
            patch = [rows[base + t] for t in taps]
            out = (oh * OW + ow) * OC + oc0
            for o in range(ocn):
                acc = biases[o]
                kernel = kernels[o]
                for i in range(k):
                    acc += patch[i] * kernel[i]
                m, s = mults[o]
                v = requantize(acc, m, s) + y_zp
                v = act_min if v < act_min else act_max if v > act_max else v
                y[out + o] = v & 0xFF


def depthwise_conv2d(x, w, bias, mult, shift, y, g):
    # As conv2d, but w is (ocn, KH, KW) and output channel oc reads input channel
    # oc // depth_multiplier only.
    C, OH, OW, OC, KH, KW = g[_CONV_C], g[_CONV_OH], g[_CONV_OW], g[_CONV_OC], g[_CONV_KH], g[_CONV_KW]
    sw, dw = g[_CONV_STRIDE_W], g[_CONV_DILATION_W]
    y_zp, act_min, act_max = g[_CONV_Y_ZP], g[_CONV_ACT_MIN], g[_CONV_ACT_MAX]
    oc0, ocn = g[_CONV_OC0], g[_CONV_OCN]
    dm = g[_CONV_DEPTH_MULTIPLIER]
    row_len, band = _padded_input(x, g)
    taps = [kh * row_len + kw * dw * C for kh in range(KH) for kw in range(KW)]
    k = len(taps)
    kernels = [int8s(w[o * k:(o + 1) * k]) for o in range(ocn)]
    biases = [int32_at(bias, o) for o in range(ocn)]
    mults = _channel_multipliers(mult, shift, ocn)
    channels = [(oc0 + o) // dm for o in range(ocn)]
    for oh in range(OH):
        rows = band(oh)
        for ow in range(OW):
            base = ow * sw * C
            out = (oh * OW + ow) * OC + oc0
            for o in range(ocn):
                acc = biases[o]
                at = base + channels[o]
                kernel = kernels[o]
                for i in range(k):
                    acc += rows[at + taps[i]] * kernel[i]
                m, s = mults[o]
                v = requantize(acc, m, s) + y_zp
                v = act_min if v < act_min else act_max if v > act_max else v
                y[out + o] = v & 0xFF


def _clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def _cdiv(a, b):
    # C's integer division (toward zero), b > 0
    return a // b if a >= 0 else -(-a // b)


def pool2d(x, y, g):
    # TFLM reference_integer_ops::AveragePool / MaxPool: only taps inside the input count.
    H, W, C, OH, OW = g[_POOL_H], g[_POOL_W], g[_POOL_C], g[_POOL_OH], g[_POOL_OW]
    sh, sw, fh, fw = g[_POOL_STRIDE_H], g[_POOL_STRIDE_W], g[_POOL_FILTER_H], g[_POOL_FILTER_W]
    pt, pl, lo, hi = g[_POOL_PAD_TOP], g[_POOL_PAD_LEFT], g[_POOL_ACT_MIN], g[_POOL_ACT_MAX]
    is_max = g[_POOL_IS_MAX]
    xs = int8s(x)
    ys = array("b", bytes(OH * OW * C))
    o = 0
    for oh in range(OH):
        y0 = oh * sh - pt
        rows = range(max(0, y0), min(H, y0 + fh))
        for ow in range(OW):
            x0 = ow * sw - pl
            cols = range(max(0, x0), min(W, x0 + fw))
            for c in range(C):
                taps = [xs[(ih * W + iw) * C + c] for ih in rows for iw in cols]
                if is_max:
                    v = max(taps)
                else:  # rounds half away from zero, as TFLM does
                    n = len(taps)
                    acc = sum(taps)
                    v = _cdiv(acc + n // 2, n) if acc > 0 else _cdiv(acc - n // 2, n)
                ys[o] = _clamp(v, lo, hi)
                o += 1
    y[:] = bytes(ys)


def mean_hw(x, y, g):
    # The mean over H and W: TFLM's QuantizedMeanOrSum, 1/count folded into mult, shift by the host
    H, W, C = g[_MEAN_H], g[_MEAN_W], g[_MEAN_C]
    x_zp, y_zp, mult, shift = g[_MEAN_X_ZP], g[_MEAN_Y_ZP], g[_MEAN_MULTIPLIER], g[_MEAN_SHIFT]
    xs = int8s(x)
    n = H * W
    ys = array("b", bytes(C))
    for c in range(C):
        acc = -x_zp * n
        for i in range(c, n * C, C):
            acc += xs[i]
        ys[c] = _clamp(requantize(acc, mult, shift) + y_zp, -128, 127)
    y[:] = bytes(ys)


def _broadcast(a, b, y, g, fn):
    # y[i0,i1,i2,i3] = fn(a[i . a_strides], b[i . b_strides]) for every index of (D0, D1, D2, D3)
    # (the same slots in add's g and mul's)
    D0, D1, D2, D3 = g[_ADD_D0:_ADD_D0 + 4]
    a0, a1, a2, a3 = g[_ADD_A_STRIDE0:_ADD_A_STRIDE0 + 4]
    b0, b1, b2, b3 = g[_ADD_B_STRIDE0:_ADD_B_STRIDE0 + 4]
    av, bv = int8s(a), int8s(b)
    ys = array("b", bytes(D0 * D1 * D2 * D3))
    o = 0
    for i0 in range(D0):
        for i1 in range(D1):
            for i2 in range(D2):
                ai = i0 * a0 + i1 * a1 + i2 * a2
                bi = i0 * b0 + i1 * b1 + i2 * b2
                for _ in range(D3):
                    ys[o] = fn(av[ai], bv[bi])
                    ai += a3
                    bi += b3
                    o += 1
    y[:] = bytes(ys)


def _add_sub(a, b, y, g, sign, square=False):
    # TFLM reference_integer_ops::AddElementwise (sign 1) / reference_ops::SubElementwise (sign -1),
    # and their broadcast forms, for int8: the scaled inputs are added or subtracted
    a_zp, b_zp, ls = g[_ADD_A_ZP], g[_ADD_B_ZP], g[_ADD_LEFT_SHIFT]
    am, ash, bm, bsh = g[_ADD_A_MULTIPLIER], g[_ADD_A_SHIFT], g[_ADD_B_MULTIPLIER], g[_ADD_B_SHIFT]
    ym, ysh, y_zp = g[_ADD_Y_MULTIPLIER], g[_ADD_Y_SHIFT], g[_ADD_Y_ZP]
    lo, hi = g[_ADD_ACT_MIN], g[_ADD_ACT_MAX]

    def f(va, vb):
        s = requantize((va - a_zp) << ls, am, ash) + sign * requantize((vb - b_zp) << ls, bm, bsh)
        if square:  # TFLM's SquaredDifference: sub's scaled difference, squared (in int32)
            s *= s
        return _clamp(requantize(s, ym, ysh) + y_zp, lo, hi)
    _broadcast(a, b, y, g, f)


def squared_difference(a, b, y, g):
    _add_sub(a, b, y, g, -1, True)


def prelu(a, b, y, g):
    # TFLM's BroadcastPrelu4DSlow for int8 on add's record: x - x_zp >= 0 requantized by a's
    # multiplier, else (x - x_zp) * (alpha - alpha_zp) by b's
    a_zp, b_zp, y_zp, lo, hi = g[_ADD_A_ZP], g[_ADD_B_ZP], g[_ADD_Y_ZP], g[_ADD_ACT_MIN], g[_ADD_ACT_MAX]
    am, ash, bm, bsh = g[_ADD_A_MULTIPLIER], g[_ADD_A_SHIFT], g[_ADD_B_MULTIPLIER], g[_ADD_B_SHIFT]

    def f(x, alpha):
        v = x - a_zp
        v = requantize(v, am, ash) if v >= 0 else requantize(v * (alpha - b_zp), bm, bsh)
        return _clamp(v + y_zp, lo, hi)
    _broadcast(a, b, y, g, f)


def _compare(a, b, y, g, cmp):
    # TFLM's ComparisonWithScaling for int8 (and its broadcast form) on add's record: each input
    # (code - zp) << left_shift scaled by its own scale as a multiplier, compared: 1 or 0 (a bool)
    a_zp, b_zp, ls = g[_ADD_A_ZP], g[_ADD_B_ZP], g[_ADD_LEFT_SHIFT]
    am, ash, bm, bsh = g[_ADD_A_MULTIPLIER], g[_ADD_A_SHIFT], g[_ADD_B_MULTIPLIER], g[_ADD_B_SHIFT]
    _broadcast(a, b, y, g, lambda va, vb: 1 if cmp(requantize((va - a_zp) << ls, am, ash),
                                                   requantize((vb - b_zp) << ls, bm, bsh)) else 0)


def _comparison(cmp):
    def kernel(a, b, y, g):
        _compare(a, b, y, g, cmp)
    return kernel


equal, not_equal, less, less_equal, greater, greater_equal = (_comparison(f) for f in (
    lambda p, q: p == q, lambda p, q: p != q, lambda p, q: p < q, lambda p, q: p <= q, lambda p, q: p > q,
    lambda p, q: p >= q))


def maximum(a, b, y, g):
    # TFLM's MaximumMinimumBroadcastSlow for int8: the codes themselves
    _broadcast(a, b, y, g, max)


def minimum(a, b, y, g):
    _broadcast(a, b, y, g, min)


def add(a, b, y, g):
    _add_sub(a, b, y, g, 1)


def sub(a, b, y, g):
    _add_sub(a, b, y, g, -1)


def mul(a, b, y, g):
    # TFLM reference_integer_ops::MulElementwise (and BroadcastMul4DSlow) for int8
    a_zp, b_zp = g[_MUL_A_ZP], g[_MUL_B_ZP]
    ym, ysh, y_zp, lo, hi = g[_MUL_Y_MULTIPLIER], g[_MUL_Y_SHIFT], g[_MUL_Y_ZP], g[_MUL_ACT_MIN], g[_MUL_ACT_MAX]
    _broadcast(a, b, y, g, lambda va, vb: _clamp(requantize((va - a_zp) * (vb - b_zp), ym, ysh) + y_zp, lo, hi))


def lut(x, y, table, size):
    # y[i] = table[x[i] + 128], entries of size bytes; x[i] + 128 is the unsigned byte ^ 0x80
    if size == 1:
        y[:] = bytes(table[v ^ 0x80] for v in bytes(x))
    else:
        for i, v in enumerate(bytes(x)):
            j = (v ^ 0x80) * size
            y[i * size:(i + 1) * size] = table[j:j + size]


def quantize_f32(x, y, g):
    # TFLM reference_ops::AffineQuantize float32 -> int8: round(x / scale) in float32, halves away
    # from zero, + zp, clamped. array('f') rounds each quotient to float32 on double-float ports.
    # Beyond int32 TFLM's float -> int32 cast is undefined: we saturate and take NaN as 0, as Arm does.
    y_zp, bits = g[_QUANTIZE_Y_ZP], g[_QUANTIZE_Y_SCALE]
    scale = struct.unpack("<f", struct.pack("<i", bits))[0]
    n = len(y)
    f = array("f", [0.0])
    ys = array("b", bytes(n))
    for i, v in enumerate(struct.unpack_from("<%df" % n, x)):
        f[0] = v / scale
        q = f[0]
        if q != q:  # NaN
            q = 0.0
        q = -1e9 if q < -1e9 else 1e9 if q > 1e9 else q  # inf too; the clamp below decides these
        r = int(q)  # toward zero; q - r is exact
        if q - r >= 0.5:
            r += 1
        elif r - q >= 0.5:
            r -= 1
        ys[i] = _clamp(r + y_zp, -128, 127)
    y[:] = bytes(ys)


def resize_bilinear(x, y, table, g):
    # TFLM reference_ops::ResizeBilinearInteger for int8; the host's table gives each output row's
    # (y0, y1 byte offsets, wy) and column's (x0, x1, wx), fractions in 1/1024; rounds half away from 0
    nb, oh, ow, c, stride = g[_RESIZE_BATCHES], g[_RESIZE_OH], g[_RESIZE_OW], g[_RESIZE_C], g[_RESIZE_IN_BATCH]
    t = struct.unpack_from("<%di" % (3 * (oh + ow)), table)
    xs = int8s(x)
    ys = array("b", bytes(nb * oh * ow * c))
    at = 0
    for b in range(nb):
        for oy in range(oh):
            r0, r1, wy = t[3 * oy] + b * stride, t[3 * oy + 1] + b * stride, t[3 * oy + 2]
            for ox in range(ow):
                c0, c1, wx = t[3 * (oh + ox)], t[3 * (oh + ox) + 1], t[3 * (oh + ox) + 2]
                w00, w10, w01, w11 = (1024 - wy) * (1024 - wx), wy * (1024 - wx), (1024 - wy) * wx, wy * wx
                p00, p10, p01, p11 = r0 + c0, r1 + c0, r0 + c1, r1 + c1
                for ch in range(c):
                    v = xs[p00 + ch] * w00 + xs[p10 + ch] * w10 + xs[p01 + ch] * w01 + xs[p11 + ch] * w11
                    ys[at] = (v + 0x80000) >> 20 if v > 0 else -((0x80000 - v) >> 20)
                    at += 1
    y[:] = bytes(ys)
