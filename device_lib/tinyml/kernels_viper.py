# Viper kernels: machine code the device compiles itself from these files (no toolchain), one module
# per family as the Python kernels: kernels_viper_fixedpoint (the requantization), this one (the
# weighted ops: fully connected, convolutions) and kernels_viper_elementwise (pooling, mean, add,
# sub, mul, lookup tables), whose kernels this module, the backend, re-exports: the same functions as
# kernels_py and the native module, and the same bytes out. g's slots are named in tinyml.ops, as
# private consts here (folded by the compiler: plain ints to viper).
import micropython
from tinyml.ops import const
from tinyml.kernels_py import softmax, quantize_f32  # noqa: F401  (a few values per row; floats: viper has none)
from tinyml.kernels_viper_fixedpoint import EXT, _requantize
from tinyml.kernels_viper_elementwise import pool2d, mean_hw, add, sub, mul, lut  # noqa: F401
from tinyml.kernels_viper_elementwise import squared_difference, maximum, minimum, prelu  # noqa: F401
from tinyml.kernels_viper_elementwise import equal, not_equal, less, less_equal, greater, greater_equal  # noqa: F401
from tinyml.kernels_viper_math import (reduce_sum, reduce_max, reduce_min, reduce_argmax, reduce_argmin,  # noqa: F401
                                        l2_normalization, log_softmax, select)  # noqa: F401
from tinyml.kernels_viper_resize import resize_bilinear  # noqa: F401
from tinyml.kernels_viper_matmul import batch_matmul, transpose_conv2d  # noqa: F401
from tinyml.kernels_viper_tail import add_n, cumsum  # noqa: F401

NAME = "viper"

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
# ---- end of g's slots ----


@micropython.viper
def _fc(x, w, bias, mult, shift, y, acc, n_in: int, n_out: int, out_zp: int, act_min: int, act_max: int,
        ext: int):
    px = ptr8(x)
    pw = ptr8(w)
    pb = ptr32(bias)
    pa = ptr32(acc)  # the accumulators of whole rows, requantized a block at a time
    block = int(len(acc)) >> 2
    mn = 1
    if int(len(mult)) > 4:
        mn = n_out
    rows = int(len(y)) // n_out
    xo = 0
    yo = 0
    k = 0
    for r in range(rows):
        row = 0
        for o in range(n_out):
            a = (pb[o] << ext) >> ext
            for i in range(n_in):
                a += ((px[xo + i] ^ 0x80) - 0x80) * ((pw[row + i] ^ 0x80) - 0x80)
            row += n_in
            pa[k] = a
            k += 1
        xo += n_in
        if k + n_out > block or r == rows - 1:
            _requantize(acc, k, mult, shift, 0, mn, y, yo, 1, out_zp, act_min, act_max, ext)
            yo += k
            k = 0


def fully_connected(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max):
    rows = min(len(y) // n_out, max(1, 64 // n_out))  # rows per _requantize call
    _fc(x, w, bias, mult, shift, y, bytearray(4 * n_out * rows), n_in, n_out, out_zp, act_min, act_max, EXT)


@micropython.viper
def _conv(x, w, bias, mult, shift, y, g, acc, row8, ext: int):
    # One output channel at a time, one output row at a time (then requantized together). The
    # taps inside the input contribute w * (x - x_zp), those outside nothing: the bias, which has
    # -x_zp * sum(w) folded in, gets x_zp * sum(w) back. Each pixel's kernel window is clipped to
    # the input, so the inner loop has no bounds test.
    px = ptr8(x)
    pw = ptr8(w)
    pb = ptr32(bias)
    pa = ptr32(acc)  # a row of accumulators
    pg = ptr32(g)  # sign-extended where the value may be negative
    H = pg[_CONV_H]
    W = pg[_CONV_W]
    C = pg[_CONV_C]
    OH = pg[_CONV_OH]
    OW = pg[_CONV_OW]
    OC = pg[_CONV_OC]
    KH = pg[_CONV_KH]
    KW = pg[_CONV_KW]
    sh = pg[_CONV_STRIDE_H]
    sw = pg[_CONV_STRIDE_W]
    dh = pg[_CONV_DILATION_H]
    dw = pg[_CONV_DILATION_W]
    pt = pg[_CONV_PAD_TOP]
    pl = pg[_CONV_PAD_LEFT]
    x_zp = (pg[_CONV_X_ZP] << ext) >> ext
    y_zp = (pg[_CONV_Y_ZP] << ext) >> ext
    act_min = (pg[_CONV_ACT_MIN] << ext) >> ext
    act_max = (pg[_CONV_ACT_MAX] << ext) >> ext
    oc0 = pg[_CONV_OC0]
    ocn = pg[_CONV_OCN]
    mn = 0  # per-channel multipliers: channel o's pair is at o; else the one pair, at 0
    if int(len(mult)) > 4:
        mn = 1
    K = KH * KW * C
    xoff = 0x80 + x_zp  # (v ^ 0x80) - xoff is the input value minus x_zp
    row = W * C
    hspan = (KH - 1) * dh  # the window's extent minus one
    wspan = (KW - 1) * dw
    xstep = dw * C  # input bytes from one kernel column to the next
    for o in range(ocn):
        _w_row(w, row8, o, ocn, K)  # channel o's K weights, in order
        pw = ptr8(row8)
        wo = 0
        wsum = 0
        for i in range(K):
            wsum += (pw[i] ^ 0x80) - 0x80
        b = ((pb[o] << ext) >> ext) + x_zp * wsum
        for oh in range(OH):
            ih0 = oh * sh - pt
            kh0 = 0  # kernel rows kh0 .. kh1-1 fall inside the input
            if ih0 < 0:
                kh0 = (dh - 1 - ih0) // dh
            kh1 = KH
            if ih0 + hspan >= H:
                kh1 = 0
                if ih0 < H:
                    kh1 = (H - ih0 + dh - 1) // dh
            for ow in range(OW):
                iw0 = ow * sw - pl
                kw0 = 0  # and kernel columns kw0 .. kw1-1
                if iw0 < 0:
                    kw0 = (dw - 1 - iw0) // dw
                kw1 = KW
                if iw0 + wspan >= W:
                    kw1 = 0
                    if iw0 < W:
                        kw1 = (W - iw0 + dw - 1) // dw
                a = b
                if kw1 > kw0:
                    for kh in range(kh0, kh1):
                        pxr = ptr8(int(px) + (ih0 + kh * dh) * row + (iw0 + kw0 * dw) * C)
                        pwr = ptr8(int(pw) + wo + (kh * KW + kw0) * C)
                        if dw == 1:  # the window row is one run of (kw1 - kw0) * C bytes
                            for i in range((kw1 - kw0) * C):
                                a += ((pxr[i] ^ 0x80) - xoff) * ((pwr[i] ^ 0x80) - 0x80)
                        else:
                            for kw in range(kw0, kw1):
                                for i in range(C):
                                    a += ((pxr[i] ^ 0x80) - xoff) * ((pwr[i] ^ 0x80) - 0x80)
                                pxr = ptr8(int(pxr) + xstep)
                                pwr = ptr8(int(pwr) + C)
                pa[ow] = a
            _requantize(acc, OW, mult, shift, o * mn, 1, y, oh * OW * OC + oc0 + o, OC, y_zp, act_min,
                        act_max, ext)


@micropython.viper
def _conv_1x1(x, w, bias, mult, shift, y, g, acc, row8, ext: int):
    # _conv for a 1x1 kernel without padding: a dot product of C bytes per output.
    px = ptr8(x)
    pb = ptr32(bias)
    pa = ptr32(acc)
    pg = ptr32(g)
    C = pg[_CONV_C]
    OH = pg[_CONV_OH]
    OW = pg[_CONV_OW]
    OC = pg[_CONV_OC]
    row = pg[_CONV_W] * C
    rstep = pg[_CONV_STRIDE_H] * row  # input bytes from one output row to the next
    cstep = pg[_CONV_STRIDE_W] * C  # and from one output column to the next
    x_zp = (pg[_CONV_X_ZP] << ext) >> ext
    y_zp = (pg[_CONV_Y_ZP] << ext) >> ext
    act_min = (pg[_CONV_ACT_MIN] << ext) >> ext
    act_max = (pg[_CONV_ACT_MAX] << ext) >> ext
    oc0 = pg[_CONV_OC0]
    ocn = pg[_CONV_OCN]
    mn = 0
    if int(len(mult)) > 4:
        mn = 1
    xoff = 0x80 + x_zp
    for o in range(ocn):
        _w_row(w, row8, o, ocn, C)
        pwr = ptr8(row8)
        wsum = 0
        for i in range(C):
            wsum += (pwr[i] ^ 0x80) - 0x80
        b = ((pb[o] << ext) >> ext) + x_zp * wsum  # see _conv
        for oh in range(OH):
            pxr = ptr8(int(px) + oh * rstep)
            for ow in range(OW):
                a = b
                for i in range(C):
                    a += ((pxr[i] ^ 0x80) - xoff) * ((pwr[i] ^ 0x80) - 0x80)
                pxr = ptr8(int(pxr) + cstep)
                pa[ow] = a
            _requantize(acc, OW, mult, shift, o * mn, 1, y, oh * OW * OC + oc0 + o, OC, y_zp, act_min,
                        act_max, ext)


@micropython.viper
def _dwconv(x, w, bias, mult, shift, y, g, acc, ext: int):
    # As _conv; output channel oc0 + o reads input channel (oc0 + o) // depth_multiplier.
    px = ptr8(x)
    pw = ptr8(w)
    pb = ptr32(bias)
    pa = ptr32(acc)
    pg = ptr32(g)
    H = pg[_CONV_H]
    W = pg[_CONV_W]
    C = pg[_CONV_C]
    OH = pg[_CONV_OH]
    OW = pg[_CONV_OW]
    OC = pg[_CONV_OC]
    KH = pg[_CONV_KH]
    KW = pg[_CONV_KW]
    sh = pg[_CONV_STRIDE_H]
    sw = pg[_CONV_STRIDE_W]
    dh = pg[_CONV_DILATION_H]
    dw = pg[_CONV_DILATION_W]
    pt = pg[_CONV_PAD_TOP]
    pl = pg[_CONV_PAD_LEFT]
    x_zp = (pg[_CONV_X_ZP] << ext) >> ext
    y_zp = (pg[_CONV_Y_ZP] << ext) >> ext
    act_min = (pg[_CONV_ACT_MIN] << ext) >> ext
    act_max = (pg[_CONV_ACT_MAX] << ext) >> ext
    oc0 = pg[_CONV_OC0]
    ocn = pg[_CONV_OCN]
    dm = pg[_CONV_DEPTH_MULTIPLIER]
    mn = 0
    if int(len(mult)) > 4:
        mn = 1
    K = KH * KW
    xoff = 0x80 + x_zp
    row = W * C
    hspan = (KH - 1) * dh
    wspan = (KW - 1) * dw
    xstep = dw * C
    for o in range(ocn):
        wo = o * K
        wsum = 0
        for i in range(wo, wo + K):
            wsum += (pw[i] ^ 0x80) - 0x80
        b = ((pb[o] << ext) >> ext) + x_zp * wsum
        ic = (oc0 + o) // dm
        for oh in range(OH):
            ih0 = oh * sh - pt
            kh0 = 0
            if ih0 < 0:
                kh0 = (dh - 1 - ih0) // dh
            kh1 = KH
            if ih0 + hspan >= H:
                kh1 = 0
                if ih0 < H:
                    kh1 = (H - ih0 + dh - 1) // dh
            for ow in range(OW):
                iw0 = ow * sw - pl
                kw0 = 0
                if iw0 < 0:
                    kw0 = (dw - 1 - iw0) // dw
                kw1 = KW
                if iw0 + wspan >= W:
                    kw1 = 0
                    if iw0 < W:
                        kw1 = (W - iw0 + dw - 1) // dw
                a = b
                for kh in range(kh0, kh1):
                    xi = (ih0 + kh * dh) * row + (iw0 + kw0 * dw) * C + ic
                    wi = wo + kh * KW
                    for kw in range(wi + kw0, wi + kw1):
                        a += ((px[xi] ^ 0x80) - xoff) * ((pw[kw] ^ 0x80) - 0x80)
                        xi += xstep
                pa[ow] = a
            _requantize(acc, OW, mult, shift, o * mn, 1, y, oh * OW * OC + oc0 + o, OC, y_zp, act_min,
                        act_max, ext)


@micropython.viper
def _w_row(w, row8, o: int, ocn: int, K: int):
    # Channel o's K weights out of conv2d's interleaved w (kernels_py.conv_weight_at) into row8.
    pw = ptr8(w)
    pr = ptr8(row8)
    if o >= (ocn & ~3):
        src = o * K
        for k in range(K):
            pr[k] = pw[src + k]
        return
    src = (o & ~3) * K + (o & 1) + 2 * (o & 2)
    k = 0
    while k + 1 < K:  # a pair of taps: 2 bytes apart, pairs 8 bytes apart
        pr[k] = pw[src]
        pr[k + 1] = pw[src + 2]
        src += 8
        k += 2
    if k < K:  # the unpaired last tap
        pr[k] = pw[(o & ~3) * K + 4 * k + (o & 3)]


def conv2d(x, w, bias, mult, shift, y, g):
    pointwise = g[_CONV_KH] == 1 and g[_CONV_KW] == 1 and g[_CONV_PAD_TOP] == 0 and g[_CONV_PAD_LEFT] == 0
    row8 = bytearray(g[_CONV_KH] * g[_CONV_KW] * g[_CONV_C])
    (_conv_1x1 if pointwise else _conv)(x, w, bias, mult, shift, y, g, bytearray(4 * g[_CONV_OW]), row8, EXT)


def depthwise_conv2d(x, w, bias, mult, shift, y, g):
    _dwconv(x, w, bias, mult, shift, y, g, bytearray(4 * g[_CONV_OW]), EXT)
