# Viper kernels of the other ops: pooling, mean, add, sub, mul, squared difference, maximum, minimum,
# lookup tables (docs/kernels.md).
# g's slots are named in tinyml.ops, as private consts here (folded by the compiler: plain ints to viper).
from array import array
import micropython
from tinyml.ops import const
from tinyml.kernels_viper_fixedpoint import EXT, _requantize
from tinyml.fixedpoint import requantize

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
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
# ---- end of g's slots ----


@micropython.viper
def _pool(x, y, g, ext: int):
    # TFLM reference_integer_ops::AveragePool / MaxPool: only taps inside the input count.
    px = ptr8(x)
    py = ptr8(y)
    pg = ptr32(g)
    H = int(pg[_POOL_H])
    W = int(pg[_POOL_W])
    C = int(pg[_POOL_C])
    OH = int(pg[_POOL_OH])
    OW = int(pg[_POOL_OW])
    sh = int(pg[_POOL_STRIDE_H])
    sw = int(pg[_POOL_STRIDE_W])
    fh = int(pg[_POOL_FILTER_H])
    fw = int(pg[_POOL_FILTER_W])
    pt = int(pg[_POOL_PAD_TOP])
    pl = int(pg[_POOL_PAD_LEFT])
    lo = (pg[_POOL_ACT_MIN] << ext) >> ext
    hi = (pg[_POOL_ACT_MAX] << ext) >> ext
    is_max = int(pg[_POOL_IS_MAX])
    o = 0
    for oh in range(OH):
        r0 = oh * sh - pt
        r1 = r0 + fh
        if r0 < 0:
            r0 = 0
        if r1 > H:
            r1 = H
        for ow in range(OW):
            c0 = ow * sw - pl
            c1 = c0 + fw
            if c0 < 0:
                c0 = 0
            if c1 > W:
                c1 = W
            for c in range(C):
                acc = 0
                if is_max:
                    acc = -128
                for ih in range(r0, r1):
                    i = (ih * W + c0) * C + c
                    for _ in range(c0, c1):
                        v = (px[i] ^ 0x80) - 0x80
                        if is_max:
                            if v > acc:
                                acc = v
                        else:
                            acc += v
                        i += C
                if is_max == 0:  # TFLM's rounding division: halves away from zero
                    n = (r1 - r0) * (c1 - c0)
                    if acc > 0:
                        acc = (acc + n // 2) // n
                    else:
                        acc = 0 - (n // 2 - acc) // n
                if acc < lo:
                    acc = lo
                if acc > hi:
                    acc = hi
                py[o] = acc
                o += 1


def pool2d(x, y, g):
    _pool(x, y, g, EXT)


@micropython.viper
def _mean_sums(x, acc, n: int, C: int, x_zp: int):
    # acc[c] = sum over the n = H x W positions of (x - x_zp), channel c
    px = ptr8(x)
    pa = ptr32(acc)
    for c in range(C):
        s = 0 - x_zp * n
        i = c
        for _ in range(n):
            s += (px[i] ^ 0x80) - 0x80
            i += C
        pa[c] = s


def mean_hw(x, y, g):
    # The mean over H and W: TFLM's QuantizedMeanOrSum, 1/count folded into mult, shift by the host
    C, x_zp = g[_MEAN_C], g[_MEAN_X_ZP]
    acc = bytearray(4 * C)
    _mean_sums(x, acc, g[_MEAN_H] * g[_MEAN_W], C, x_zp)
    _requantize(acc, C, array("i", (g[_MEAN_MULTIPLIER],)), array("i", (g[_MEAN_SHIFT],)), 0, 1, y, 0, 1,
                g[_MEAN_Y_ZP], -128, 127, EXT)


@micropython.viper
def _input_table(t, zp: int, ls: int, m: int, s: int, negate: int):
    # t[code + 128] (int32) for each int8 code: code - zp, or with m != 0 the scaled add input
    # MultiplyByQuantizedMultiplierSmallerThanOneExp((code - zp) << ls, m, s), s <= 0; negated when
    # negate (sub's second input: TFLM subtracts the scaled value, so the sum gives the same). With
    # |x| <= 255, SaturatingRoundingDoublingHighMul(x << ls, m) is sign(x) * ((|x| * m + 2**(30-ls)
    # - (x < 0)) >> (31 - ls)); m split at bit 31 - ls keeps every product under 2**31 (ls <= 20).
    pt = ptr32(t)
    k = 31 - ls
    mh = m >> k
    ml = m & ((1 << k) - 1)
    right = 0 - s
    mask = (1 << right) - 1
    for i in range(256):
        v = i - 128 - zp
        if m:
            a = v
            neg = 0
            if v < 0:
                a = 0 - v
                neg = 1
            q = a * mh + ((a * ml + (1 << (k - 1)) - neg) >> k)
            if neg:
                q = 0 - q
            threshold = mask >> 1  # RoundingDivideByPOT
            if q < 0:
                threshold += 1
            rem = q & mask
            v = q >> right
            if rem > threshold:
                v += 1
        if negate:
            v = 0 - v
        pt[i] = v


@micropython.viper
def _binary(a, b, y, g, ta, tb, acc, kind: int, mult, shift, y_zp: int, lo: int, hi: int, ext: int, fix):
    # y[i] = clamp(requantize(ta[a[i . a_strides]] op tb[b[i . b_strides]]) + y_zp) for each
    # (kind, op): 0 +, 1 *, 2 the square of +, 3 max, 4 min, 6 ==, 7 !=, 8 <, 9 <=, 10 >, 11 >= (1 or 0);
    # 5 prelu: * where ta's value < 0, else the
    # byte fix[a's code] (fix: int32 per code, then a run of int32 as acc: 0, or 256 + the byte to write);
    # index i of the 4-D output, in order; a run of len(acc) / 4 values per _requantize call.
    pa = ptr8(a)
    pb = ptr8(b)
    pg = ptr32(g)
    pta = ptr32(ta)
    ptb = ptr32(tb)
    pacc = ptr32(acc)
    py = ptr8(y)
    pfix = ptr32(fix)
    D0 = int(pg[_ADD_D0])
    D1 = int(pg[_ADD_D0 + 1])
    D2 = int(pg[_ADD_D0 + 2])
    D3 = int(pg[_ADD_D0 + 3])
    a0 = int(pg[_ADD_A_STRIDE0])
    a1 = int(pg[_ADD_A_STRIDE0 + 1])
    a2 = int(pg[_ADD_A_STRIDE0 + 2])
    a3 = int(pg[_ADD_A_STRIDE0 + 3])
    b0 = int(pg[_ADD_B_STRIDE0])
    b1 = int(pg[_ADD_B_STRIDE0 + 1])
    b2 = int(pg[_ADD_B_STRIDE0 + 2])
    b3 = int(pg[_ADD_B_STRIDE0 + 3])
    run = int(len(acc)) >> 2
    i1 = 0
    i2 = 0
    i3 = 0
    ai = 0
    bi = 0
    k = 0
    o = 0
    for _ in range(D0 * D1 * D2 * D3):
        va = (pta[pa[ai] ^ 0x80] << ext) >> ext
        vb = (ptb[pb[bi] ^ 0x80] << ext) >> ext
        if kind == 0:
            pacc[k] = va + vb
        elif kind == 1:
            pacc[k] = va * vb
        elif kind == 2:
            pacc[k] = (va + vb) * (va + vb)
        elif kind == 3:
            pacc[k] = va if va > vb else vb
        elif kind == 4:
            pacc[k] = va if va < vb else vb
        elif kind >= 6:  # comparisons: 1 or 0
            t = 0
            if kind == 6:
                if va == vb:
                    t = 1
            elif kind == 7:
                if va != vb:
                    t = 1
            elif kind == 8:
                if va < vb:
                    t = 1
            elif kind == 9:
                if va <= vb:
                    t = 1
            elif kind == 10:
                if va > vb:
                    t = 1
            elif va >= vb:
                t = 1
            pacc[k] = t
        elif va < 0:
            pacc[k] = va * vb
            pfix[256 + k] = 0
        else:
            pacc[k] = 0
            pfix[256 + k] = pfix[pa[ai] ^ 0x80]
        k += 1
        if k == run:
            _requantize(acc, k, mult, shift, 0, 1, y, o, 1, y_zp, lo, hi, ext)
            if kind == 5:
                for j in range(k):
                    if pfix[256 + j]:
                        py[o + j] = pfix[256 + j]
            o += k
            k = 0
        # next output index (i0, i1, i2, i3), moving ai and bi along
        i3 += 1
        ai += a3
        bi += b3
        if i3 == D3:
            i3 = 0
            i2 += 1
            ai += a2 - a3 * D3
            bi += b2 - b3 * D3
            if i2 == D2:
                i2 = 0
                i1 += 1
                ai += a1 - a2 * D2
                bi += b1 - b2 * D2
                if i1 == D1:
                    i1 = 0
                    ai += a0 - a1 * D1
                    bi += b0 - b1 * D1
    if k:
        _requantize(acc, k, mult, shift, 0, 1, y, o, 1, y_zp, lo, hi, ext)
        if kind == 5:
            for j in range(k):
                if pfix[256 + j]:
                    py[o + j] = pfix[256 + j]


def _add_sub(a, b, y, g, negate, kind=0):
    ls = g[_ADD_LEFT_SHIFT]
    ta, tb = bytearray(1024), bytearray(1024)
    _input_table(ta, g[_ADD_A_ZP], ls, g[_ADD_A_MULTIPLIER], g[_ADD_A_SHIFT], 0)
    _input_table(tb, g[_ADD_B_ZP], ls, g[_ADD_B_MULTIPLIER], g[_ADD_B_SHIFT], negate)
    _binary(a, b, y, g, ta, tb, bytearray(256), kind, array("i", (g[_ADD_Y_MULTIPLIER],)),
            array("i", (g[_ADD_Y_SHIFT],)), g[_ADD_Y_ZP], g[_ADD_ACT_MIN], g[_ADD_ACT_MAX], EXT, ta)


def add(a, b, y, g):
    # TFLM reference_integer_ops::AddElementwise (and its broadcast forms) for int8
    _add_sub(a, b, y, g, 0)


def sub(a, b, y, g):
    # TFLM reference_ops::SubElementwise / BroadcastQuantSubSlow for int8: add with b's scaled values negated
    _add_sub(a, b, y, g, 1)


def squared_difference(a, b, y, g):
    # TFLM's SquaredDifference for int8 (and BroadcastBinaryFunction4DSlow): sub's scaled difference, squared
    _add_sub(a, b, y, g, 1, 2)


def _as_is(a, b, y, g, ta, tb, kind):
    # _binary with its results written as they are (requantized by 1): a code, or a bool's 1 or 0
    _binary(a, b, y, g, ta, tb, bytearray(256), kind, array("i", (1 << 30,)), array("i", (1,)), 0, -128, 127, EXT, ta)


def _codes(a, b, y, g, kind):
    # TFLM's MaximumMinimumBroadcastSlow on the int8 codes: tables of the codes
    t = bytearray(1024)
    _input_table(t, 0, 0, 0, 0, 0)
    _as_is(a, b, y, g, t, t, kind)


def _compare(a, b, y, g, kind):
    # TFLM's ComparisonWithScaling for int8: each input (code - zp) << left_shift scaled by its own scale
    ls = g[_ADD_LEFT_SHIFT]
    ta, tb = bytearray(1024), bytearray(1024)
    _input_table(ta, g[_ADD_A_ZP], ls, g[_ADD_A_MULTIPLIER], g[_ADD_A_SHIFT], 0)
    _input_table(tb, g[_ADD_B_ZP], ls, g[_ADD_B_MULTIPLIER], g[_ADD_B_SHIFT], 0)
    _as_is(a, b, y, g, ta, tb, kind)


def _comparison(kind):
    def kernel(a, b, y, g):
        _compare(a, b, y, g, kind)
    return kernel


# _binary's kinds 6 .. 11
equal, not_equal, less, less_equal, greater, greater_equal = (_comparison(k) for k in range(6, 12))


def prelu(a, b, y, g):
    # TFLM's BroadcastPrelu4DSlow for int8 on add's record: x - x_zp >= 0 requantized by a's multiplier
    # (a table of the 256 codes, computed here), else (x - x_zp) * (alpha - alpha_zp) by b's
    codes = array("i", bytes(4 * (256 + 64)))  # then a run of 64 (acc's) markers
    for c in range(256):
        v = c - 128 - g[_ADD_A_ZP]
        if v >= 0:
            v = requantize(v, g[_ADD_A_MULTIPLIER], g[_ADD_A_SHIFT]) + g[_ADD_Y_ZP]
            v = g[_ADD_ACT_MIN] if v < g[_ADD_ACT_MIN] else g[_ADD_ACT_MAX] if v > g[_ADD_ACT_MAX] else v
            codes[c] = 256 + (v & 0xFF)
    ta, tb = bytearray(1024), bytearray(1024)
    _input_table(ta, g[_ADD_A_ZP], 0, 0, 0, 0)
    _input_table(tb, g[_ADD_B_ZP], 0, 0, 0, 0)
    _binary(a, b, y, g, ta, tb, bytearray(256), 5, array("i", (g[_ADD_B_MULTIPLIER],)), array("i", (g[_ADD_B_SHIFT],)),
            g[_ADD_Y_ZP], g[_ADD_ACT_MIN], g[_ADD_ACT_MAX], EXT, codes)


def maximum(a, b, y, g):
    _codes(a, b, y, g, 3)


def minimum(a, b, y, g):
    _codes(a, b, y, g, 4)


def mul(a, b, y, g):
    # TFLM reference_integer_ops::MulElementwise (and BroadcastMul4DSlow) for int8
    ta, tb = bytearray(1024), bytearray(1024)
    _input_table(ta, g[_MUL_A_ZP], 0, 0, 0, 0)
    _input_table(tb, g[_MUL_B_ZP], 0, 0, 0, 0)
    _binary(a, b, y, g, ta, tb, bytearray(256), 1, array("i", (g[_MUL_Y_MULTIPLIER],)),
            array("i", (g[_MUL_Y_SHIFT],)), g[_MUL_Y_ZP], g[_MUL_ACT_MIN], g[_MUL_ACT_MAX], EXT, ta)


@micropython.viper
def _lut(x, y, table, n: int, size: int):
    px = ptr8(x)
    py = ptr8(y)
    pt = ptr8(table)
    o = 0
    for i in range(n):
        j = (px[i] ^ 0x80) * size
        for k in range(size):
            py[o] = pt[j + k]
            o += 1


def lut(x, y, table, size):
    # y[i] = table[x[i] + 128], entries of size bytes
    _lut(x, y, table, len(x), size)
