# Viper kernels of the ops with int16 activations and int8 weights (16x8, tinyml/ops.py S16): the same
# functions and bytes as kernels_py_s16.py. Imported only by a model that has such ops (the native
# backend takes pool2d_s16 from here). TFLM accumulates in int64; viper's machine words are 32 bits on
# microcontrollers, so a dot product is summed 256 products at a time (each under 2**22) into two
# limbs, low 16 bits and the rest, and _req16 adds the int64 bias and requantizes on 16-bit limbs
# (TFLM's 64-bit MultiplyByQuantizedMultiplier) without a product over 2**31.
import micropython
from tinyml.ops import const
from tinyml.kernels_viper_fixedpoint import EXT, requantize32 as _rq

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


@micropython.viper
def _req16(acc, n: int, bias, mult, shift, c0: int, cstep: int, y, yo: int, ystep: int, lo: int, hi: int,
           ext: int):
    # y[yo + j*ystep] = clamp(MultiplyByQuantizedMultiplier64(acc_j + bias[c], mult[c], shift[c]), lo, hi)
    # for j < n, c = c0 + j*cstep, acc_j = acc[2j] + acc[2j+1] * 2**16 (acc[2j] >= 0); a result beyond
    # int32 wraps, as TFLM's cast of its int64 does.
    pa = ptr32(acc)
    pb = ptr32(bias)
    pm = ptr32(mult)
    ps = ptr32(shift)
    py = ptr16(y)
    mn = 0
    if int(len(mult)) > 4:
        mn = 1
    top = 0x7FFF
    top <<= 16  # 0x7FFF0000 is no small int on 32-bit ports
    c = c0
    for j in range(n):
        blo = pb[2 * c]
        t0 = ((pa[2 * j] << ext) >> ext) + (blo & 0xFFFF)
        t1 = ((pa[2 * j + 1] << ext) >> ext) + ((blo >> 16) & 0xFFFF) + (t0 >> 16)
        a0 = t0 & 0xFFFF
        a1 = t1 & 0xFFFF
        a2 = ((pb[2 * c + 1] << ext) >> ext) + (t1 >> 16)  # acc + bias = a2 * 2**32 + a1 * 2**16 + a0
        m = (pm[c * mn] << ext) >> ext
        rm = 0x7FFF
        if m < top:
            rm = (m + 0x8000) >> 16
        t = 15 - ((ps[c * mn] << ext) >> ext)  # 8..46
        r = 1 << ((t - 1) & 15)  # the rounding 2**(t-1), in limb (t-1) >> 4
        k = (t - 1) >> 4
        p0 = a0 * rm
        if k == 0:
            p0 += r
        p1 = a1 * rm + (p0 >> 16)
        if k == 1:
            p1 += r
        p2 = a2 * rm + (p1 >> 16)
        if k == 2:
            p2 += r
        q0 = p0 & 0xFFFF
        q1 = p1 & 0xFFFF  # the product plus rounding = p2 * 2**32 + q1 * 2**16 + q0
        if t >= 32:
            v = p2 >> (t - 32)
        elif t >= 16:  # the low 32 bits, sign-extended: TFLM casts the int64 result to int32
            v = (((p2 << (32 - t)) + (q1 >> (t - 16))) << ext) >> ext
        else:
            v = (((p2 << (32 - t)) + (q1 << (16 - t)) + (q0 >> t)) << ext) >> ext
        if v < lo:
            v = lo
        if v > hi:
            v = hi
        py[yo + j * ystep] = v
        c += cstep


@micropython.viper
def _fc16(x, w, acc, r: int, n_in: int, n_out: int):
    # the limbs of row r's dot products with each of the n_out rows of w
    px = ptr16(int(ptr16(x)) + 2 * r * n_in)
    pw = ptr8(w)
    pa = ptr32(acc)
    row = 0
    for o in range(n_out):
        l0 = 0
        l1 = 0
        i = 0
        while i < n_in:
            e = i + 256
            if e > n_in:
                e = n_in
            a = 0
            while i < e:
                a += ((px[i] ^ 0x8000) - 0x8000) * ((pw[row + i] ^ 0x80) - 0x80)
                i += 1
            l0 += a & 0xFFFF
            l1 += a >> 16
        pa[2 * o] = l0
        pa[2 * o + 1] = l1
        row += n_in


def fully_connected_s16(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max):
    acc = bytearray(8 * n_out)
    for r in range(len(y) // (2 * n_out)):
        _fc16(x, w, acc, r, n_in, n_out)
        _req16(acc, n_out, bias, mult, shift, 0, 1, y, r * n_out, 1, act_min, act_max, EXT)


@micropython.viper
def _conv16(x, w, g, acc, o: int, oh: int, ci: int, cin: int):
    # the limbs of output row oh of output channel o (of this run): ci input channels from cin, the
    # taps inside the input only (TFLM's loops skip the others)
    px = ptr16(x)
    pw = ptr8(w)
    pa = ptr32(acc)
    pg = ptr32(g)
    H = pg[_CONV_H]
    W = pg[_CONV_W]
    C = pg[_CONV_C]
    OW = pg[_CONV_OW]
    KH = pg[_CONV_KH]
    KW = pg[_CONV_KW]
    sw = pg[_CONV_STRIDE_W]
    dh = pg[_CONV_DILATION_H]
    dw = pg[_CONV_DILATION_W]
    pl = pg[_CONV_PAD_LEFT]
    ih0 = oh * pg[_CONV_STRIDE_H] - pg[_CONV_PAD_TOP]
    wo = o * KH * KW * ci
    for ow in range(OW):
        iw0 = ow * sw - pl
        l0 = 0
        l1 = 0
        a = 0
        cnt = 0
        for kh in range(KH):
            ih = ih0 + kh * dh
            if ih < 0 or ih >= H:
                continue
            for kw in range(KW):
                iw = iw0 + kw * dw
                if iw < 0 or iw >= W:
                    continue
                xi = (ih * W + iw) * C + cin
                wi = wo + (kh * KW + kw) * ci
                for c in range(ci):
                    a += ((px[xi + c] ^ 0x8000) - 0x8000) * ((pw[wi + c] ^ 0x80) - 0x80)
                    cnt += 1
                    if cnt == 256:
                        l0 += a & 0xFFFF
                        l1 += a >> 16
                        a = 0
                        cnt = 0
        pa[2 * ow] = l0 + (a & 0xFFFF)
        pa[2 * ow + 1] = l1 + (a >> 16)


def _conv(x, w, bias, mult, shift, y, g, dm):
    OH, OW, OC, oc0 = g[_CONV_OH], g[_CONV_OW], g[_CONV_OC], g[_CONV_OC0]
    lo, hi = g[_CONV_ACT_MIN], g[_CONV_ACT_MAX]
    acc = bytearray(8 * OW)
    for o in range(g[_CONV_OCN]):
        ci, cin = (1, (oc0 + o) // dm) if dm else (g[_CONV_C], 0)
        for oh in range(OH):
            _conv16(x, w, g, acc, o, oh, ci, cin)
            _req16(acc, OW, bias, mult, shift, o, 0, y, oh * OW * OC + oc0 + o, OC, lo, hi, EXT)


def conv2d_s16(x, w, bias, mult, shift, y, g):
    _conv(x, w, bias, mult, shift, y, g, 0)


def depthwise_conv2d_s16(x, w, bias, mult, shift, y, g):
    _conv(x, w, bias, mult, shift, y, g, g[_CONV_DEPTH_MULTIPLIER])


@micropython.viper
def pool2d_s16(x, y, g):
    # TFLM reference_integer_ops::AveragePool / MaxPool for int16: only taps inside the input count
    px = ptr16(x)
    py = ptr16(y)
    pg = ptr32(g)
    H = pg[_POOL_H]
    W = pg[_POOL_W]
    C = pg[_POOL_C]
    OH = pg[_POOL_OH]
    OW = pg[_POOL_OW]
    sh = pg[_POOL_STRIDE_H]
    sw = pg[_POOL_STRIDE_W]
    fh = pg[_POOL_FILTER_H]
    fw = pg[_POOL_FILTER_W]
    ext = int(EXT)
    lo = (pg[_POOL_ACT_MIN] << ext) >> ext
    hi = (pg[_POOL_ACT_MAX] << ext) >> ext
    is_max = pg[_POOL_IS_MAX]
    o = 0
    for oh in range(OH):
        y0 = oh * sh - pg[_POOL_PAD_TOP]
        r0 = y0
        if r0 < 0:
            r0 = 0
        r1 = y0 + fh
        if r1 > H:
            r1 = H
        for ow in range(OW):
            x0 = ow * sw - pg[_POOL_PAD_LEFT]
            q0 = x0
            if q0 < 0:
                q0 = 0
            q1 = x0 + fw
            if q1 > W:
                q1 = W
            for c in range(C):
                acc = 0
                if is_max:
                    acc = -32768
                n = 0
                for ih in range(r0, r1):
                    for iw in range(q0, q1):
                        v = (px[(ih * W + iw) * C + c] ^ 0x8000) - 0x8000
                        if is_max:
                            if v > acc:
                                acc = v
                        else:
                            acc += v
                        n += 1
                if not is_max:  # rounds half away from zero (C's division truncates)
                    if acc > 0:
                        acc = (acc + (n >> 1)) // n
                    else:
                        acc = 0 - ((0 - acc + (n >> 1)) // n)
                if acc < lo:
                    acc = lo
                if acc > hi:
                    acc = hi
                py[o] = acc
                o += 1


@micropython.viper
def _gather16(x, g, acc, k: int, ls: int):
    # acc[i] = x[i . stride_k] << ls over the output's (D0..D3), k: 0 for a, 1 for b
    px = ptr16(x)
    pg = ptr32(g)
    pa = ptr32(acc)
    D1 = pg[_ADD_D0 + 1]
    D2 = pg[_ADD_D0 + 2]
    D3 = pg[_ADD_D0 + 3]
    at = _ADD_A_STRIDE0 + 4 * k
    s0 = pg[at]
    s1 = pg[at + 1]
    s2 = pg[at + 2]
    s3 = pg[at + 3]
    o = 0
    for i0 in range(pg[_ADD_D0]):
        for i1 in range(D1):
            for i2 in range(D2):
                xi = i0 * s0 + i1 * s1 + i2 * s2
                for i3 in range(D3):
                    pa[o] = ((px[xi] ^ 0x8000) - 0x8000) << ls
                    xi += s3
                    o += 1


@micropython.viper
def _sum16(acc, bcc, y, n: int, sign: int, m: int, s: int, lo: int, hi: int, ext: int):
    pa = ptr32(acc)
    pb = ptr32(bcc)
    for i in range(n):
        pa[i] = ((pa[i] << ext) >> ext) + sign * ((pb[i] << ext) >> ext)
    _rq(acc, 0, n, m, s, ext)
    py = ptr16(y)
    for i in range(n):
        v = (pa[i] << ext) >> ext
        if v < lo:
            v = lo
        if v > hi:
            v = hi
        py[i] = v


def _add_sub(a, b, y, g, sign):
    # TFLM's int16 ADD and SUB (kernels_py_s16._add_sub), a whole output at a time
    n = len(y) // 2
    acc, bcc = bytearray(4 * n), bytearray(4 * n)
    _gather16(a, g, acc, 0, g[_ADD_LEFT_SHIFT])
    _gather16(b, g, bcc, 1, g[_ADD_LEFT_SHIFT])
    _rq(acc, 0, n, g[_ADD_A_MULTIPLIER], g[_ADD_A_SHIFT], EXT)
    _rq(bcc, 0, n, g[_ADD_B_MULTIPLIER], g[_ADD_B_SHIFT], EXT)
    _sum16(acc, bcc, y, n, sign, g[_ADD_Y_MULTIPLIER], g[_ADD_Y_SHIFT], g[_ADD_ACT_MIN], g[_ADD_ACT_MAX], EXT)


@micropython.viper
def _prod16(acc, bcc, n: int, ext: int):
    pa = ptr32(acc)
    pb = ptr32(bcc)
    for i in range(n):
        pa[i] = ((pa[i] << ext) >> ext) * ((pb[i] << ext) >> ext)  # int16 codes: the product fits int32


def mul_s16(a, b, y, g):
    # TFLM's int16 MUL (kernels_py_s16.mul_s16)
    n = len(y) // 2
    acc, bcc = bytearray(4 * n), bytearray(4 * n)
    _gather16(a, g, acc, 0, 0)
    _gather16(b, g, bcc, 1, 0)
    _prod16(acc, bcc, n, EXT)
    _sum16(acc, bcc, y, n, 0, g[_MUL_Y_MULTIPLIER], g[_MUL_Y_SHIFT], g[_MUL_ACT_MIN], g[_MUL_ACT_MAX], EXT)


def add_s16(a, b, y, g):
    _add_sub(a, b, y, g, 1)


def sub_s16(a, b, y, g):
    _add_sub(a, b, y, g, -1)

