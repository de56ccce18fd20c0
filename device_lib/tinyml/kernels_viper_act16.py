# Viper kernels of int16 (16x8) LOGISTIC, TANH, SOFTMAX, QUANTIZE and DEQUANTIZE: the same functions and
# bytes as kernels_py_s16.py's (docs/model-format.md, "Ops with int16 activations"), for the viper
# backend (and for the native one when its module lacks them: an older .mpy). Imported only by a
# model that has one.
import micropython
from array import array
from tinyml.kernels_viper_fixedpoint import EXT, requantize32 as _rq
from tinyml.kernels_s16_float import dequantize16, quantize_f32_s16  # noqa: F401


@micropython.viper
def _sigmoid16(x, y, t, n: int, m: int, s: int, tanh: int):
    # TFLM's int16 Logistic (tanh 0) and Tanh (1): the code scaled by (m, s), t's sigmoid_table_uint16
    # interpolated; every intermediate under 2**26
    px = ptr16(x)
    py = ptr16(y)
    pt = ptr16(t)
    r0 = 0
    if s > 0:
        r0 = 1 << (s - 1)
    for i in range(n):
        d = (((px[i] ^ 0x8000) - 0x8000) * m + r0) >> s
        a = d
        if d < 0:
            a = 0 - d
        if tanh:
            uh = a >> 8
            if uh >= 255:
                r = 0xFFFF << 8
            else:
                ua = pt[uh]
                r = (ua << 8) + (a & 0xFF) * (pt[uh + 1] - ua)
            if d >= 0:
                r = r - 0x800000 + 0x80
            else:
                r = 0x800000 + 0x7F - r
            py[i] = r >> 8
        else:
            uh = a >> 9
            if uh >= 255:
                r = 0x7FFF << 10
            else:
                ua = pt[uh]
                r = (ua << 9) + (a & 0x1FF) * (pt[uh + 1] - ua)
            if d >= 0:
                r = r + 0x200
            else:
                r = 0x2000000 - r + 0x1FF
            py[i] = r >> 10


def lut_s16(x, y, t, n, mode, m, s, y_zp):
    # int16 LOGISTIC (mode 0), TANH (1), DEQUANTIZE to float32 (2): kernels_py_s16.lut_s16
    if mode == 2:
        return dequantize16(x, y, m)
    _sigmoid16(x, y, t, len(x) // 2, m, s, mode)


@micropython.viper
def _widen16(x, acc, n: int):
    px = ptr16(x)
    pa = ptr32(acc)
    for i in range(n):
        pa[i] = (px[i] ^ 0x8000) - 0x8000


@micropython.viper
def _narrow16(acc, y, n: int, zp: int, wide: int, ext: int):
    # y[i] = clamp(acc[i] + zp) to int16 (wide) or int8
    pa = ptr32(acc)
    p16 = ptr16(y)
    p8 = ptr8(y)
    lo = -128
    hi = 127
    if wide:
        lo = -32768
        hi = 32767
    for i in range(n):
        v = ((pa[i] << ext) >> ext) + zp
        if v < lo:
            v = lo
        if v > hi:
            v = hi
        if wide:
            p16[i] = v
        else:
            p8[i] = v


def requantize_s16(x, y, rq, n, y_zp, y_scale):
    # QUANTIZE int16 -> int8 or int16: TFLM's Requantize (kernels_py_s16.requantize_s16)
    m, s = array("i", bytes(rq))
    k = len(x) // 2
    acc = bytearray(4 * k)
    _widen16(x, acc, k)
    _rq(acc, 0, k, m, s, EXT)
    _narrow16(acc, y, k, y_zp, 1 if len(y) == len(x) else 0, EXT)


@micropython.viper
def _softmax16(x, y, t, e, rows: int, n: int, m: int, s: int, ext: int):
    # TFLM's SoftmaxInt16 (kernels_py_s16.softmax_s16): per row, exp of the scaled differences from
    # t's first 513-entry table, the reciprocal of their sum from its second; e holds a row's exps
    px = ptr16(x)
    py = ptr16(y)
    pt = ptr16(t)
    pe = ptr32(e)
    for r in range(rows):
        b = r * n
        top = -32768
        for j in range(n):
            v = (px[b + j] ^ 0x8000) - 0x8000
            if v > top:
                top = v
        for j in range(n):
            pe[j] = (px[b + j] ^ 0x8000) - 0x8000 - top
        _rq(e, 0, n, m, s, ext)
        total = 0
        for j in range(n):
            d = ((pe[j] << ext) >> ext) + 32767
            if d < -32768:
                d = -32768
            if d > 32767:
                d = 32767
            i = 256 + (d >> 7)
            q = (pt[i] ^ 0x8000) - 0x8000 + ((((((pt[i + 1] - pt[i]) & 0xFFFF) ^ 0x8000) - 0x8000) * (d & 0x7F) + 64) >> 7)
            q = ((q & 0xFFFF) ^ 0x8000) - 0x8000
            pe[j] = q
            total += q
        if total < 0x4000:  # at least exp(0) for TFLM's table: a table not the converter's
            total = 0x4000
        bits = 0
        v = total
        while v:
            v >>= 1
            bits += 1
        hp = 32 - bits  # leading zeros of the int32 sum
        v = total << (hp - 1)
        d = (v >> 14) + ((v >> 13) & 1) - 0x18000  # rounded to Q.14, less 1.5 (the table's x + 1)
        if d < -32768:
            d = -32768
        if d > 32767:
            d = 32767
        i = 513 + 256 + (d >> 7)
        q = (pt[i] ^ 0x8000) - 0x8000 + ((((((pt[i + 1] - pt[i]) & 0xFFFF) ^ 0x8000) - 0x8000) * (d & 0x7F) + 64) >> 7)
        rcp = ((q & 0xFFFF) ^ 0x8000) - 0x8000
        rs = 31 - hp
        half = 1 << (rs - 1)
        for j in range(n):
            q = (((pe[j] << ext) >> ext) * rcp + half) >> rs
            if q < 0:
                q = 0
            if q > 32767:
                q = 32767
            py[b + j] = q


def softmax_s16(x, y, t, n, m, s, unused):
    rows = len(x) // (2 * n)
    _softmax16(x, y, t, bytearray(4 * n), rows, n, m, s, EXT)
