# Viper kernels of TFLM's BATCH_MATMUL (both operands activations) and TRANSPOSE_CONV, int8: the same
# functions and bytes out as kernels_py_matmul and the native module; kernels_viper re-exports them.
# g's slots are named in tinyml.ops, as private consts here (folded by the compiler: plain ints to viper).
import micropython
from tinyml.ops import const
from tinyml.kernels_viper_fixedpoint import EXT, _requantize

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
_CONV_PAD_TOP = const(14)
_CONV_PAD_LEFT = const(15)
_CONV_X_ZP = const(16)
_CONV_Y_ZP = const(17)
_CONV_ACT_MIN = const(18)
_CONV_ACT_MAX = const(19)
_MATMUL_D0 = const(0)
_MATMUL_A_STRIDE0 = const(3)
_MATMUL_B_STRIDE0 = const(6)
_MATMUL_ROWS = const(9)
_MATMUL_COLS = const(10)
_MATMUL_DEPTH = const(11)
_MATMUL_A_ROW = const(12)
_MATMUL_A_K = const(13)
_MATMUL_B_K = const(14)
_MATMUL_B_COL = const(15)
_MATMUL_A_ZP = const(16)
_MATMUL_B_ZP = const(17)
_MATMUL_Y_MULTIPLIER = const(18)
_MATMUL_Y_SHIFT = const(19)
_MATMUL_Y_ZP = const(20)
# ---- end of g's slots ----


@micropython.viper
def _matmul(a, b, acc, g, ab: int, bb: int, ext: int) -> int:
    # The int32 sums of one batch (a's at element ab, b's at bb) into acc, rows * cols of them, which
    # the caller requantizes; g as kernels_py_matmul.batch_matmul's.
    pa = ptr8(a)
    pb = ptr8(b)
    pc = ptr32(acc)
    pg = ptr32(g)
    rows = pg[_MATMUL_ROWS]
    cols = pg[_MATMUL_COLS]
    depth = pg[_MATMUL_DEPTH]
    a_row = pg[_MATMUL_A_ROW]
    a_k = pg[_MATMUL_A_K]
    b_k = pg[_MATMUL_B_K]
    b_col = pg[_MATMUL_B_COL]
    a_zp = (pg[_MATMUL_A_ZP] << ext) >> ext
    b_zp = (pg[_MATMUL_B_ZP] << ext) >> ext
    at = 0
    for r in range(rows):
        ar = ab + r * a_row
        for c in range(cols):
            ia = ar
            ib = bb + c * b_col
            s = 0
            for k in range(depth):
                s += (((pa[ia] ^ 0x80) - 0x80) - a_zp) * (((pb[ib] ^ 0x80) - 0x80) - b_zp)
                ia += a_k
                ib += b_k
            pc[at] = s
            at += 1
    return 0


def batch_matmul(a, b, y, g):
    from array import array
    n = g[_MATMUL_ROWS] * g[_MATMUL_COLS]
    acc = bytearray(4 * n)
    pair = array("i", [g[_MATMUL_Y_MULTIPLIER]])
    sh = array("i", [g[_MATMUL_Y_SHIFT]])
    y_zp = g[_MATMUL_Y_ZP]
    d0, d1, d2 = g[_MATMUL_D0], g[_MATMUL_D0 + 1], g[_MATMUL_D0 + 2]
    as0, as1, as2 = g[_MATMUL_A_STRIDE0], g[_MATMUL_A_STRIDE0 + 1], g[_MATMUL_A_STRIDE0 + 2]
    bs0, bs1, bs2 = g[_MATMUL_B_STRIDE0], g[_MATMUL_B_STRIDE0 + 1], g[_MATMUL_B_STRIDE0 + 2]
    at = 0
    for i0 in range(d0):
        for i1 in range(d1):
            for i2 in range(d2):
                _matmul(a, b, acc, g, i0 * as0 + i1 * as1 + i2 * as2, i0 * bs0 + i1 * bs1 + i2 * bs2, EXT)
                _requantize(acc, n, pair, sh, 0, 1, y, at, 1, y_zp, -128, 127, EXT)
                at += n


@micropython.viper
def _tconv(x, w, bias, acc, g, j: int, ty: int, ext: int) -> int:
    # Output channel oc0 + j of the output row oy (ty = oy + pad_top): the int32 sums of each output
    # column into acc (bias included), gathered as kernels_py_matmul.transpose_conv2d's
    px = ptr8(x)
    pw = ptr8(w)
    pb = ptr32(bias)
    pa = ptr32(acc)
    pg = ptr32(g)
    H = pg[_CONV_H]
    W = pg[_CONV_W]
    C = pg[_CONV_C]
    OW = pg[_CONV_OW]
    KH = pg[_CONV_KH]
    KW = pg[_CONV_KW]
    sh = pg[_CONV_STRIDE_H]
    sw = pg[_CONV_STRIDE_W]
    x_zp = (pg[_CONV_X_ZP] << ext) >> ext
    pl = pg[_CONV_PAD_LEFT]
    wj = j * KH * KW * C
    b = (pb[j] << ext) >> ext
    qy = 0
    ry = ty
    while ry >= sh:
        ry -= sh
        qy += 1
    qx = 0
    rx = pl
    while rx >= sw:
        rx -= sw
        qx += 1
    for ox in range(OW):
        s = b
        fy = ry
        iy = qy
        while fy < KH and iy >= 0:
            if iy < H:
                fx = rx
                ix = qx
                while fx < KW and ix >= 0:
                    if ix < W:
                        xo = (iy * W + ix) * C
                        wo = wj + (fy * KW + fx) * C
                        for c in range(C):
                            s += (((px[xo + c] ^ 0x80) - 0x80) - x_zp) * ((pw[wo + c] ^ 0x80) - 0x80)
                    fx += sw
                    ix -= 1
            fy += sh
            iy -= 1
        pa[ox] = s
        rx += 1
        if rx == sw:
            rx = 0
            qx += 1
    return 0


def transpose_conv2d(x, w, bias, mult, shift, y, g):
    OH, OW, OC = g[_CONV_OH], g[_CONV_OW], g[_CONV_OC]
    oc0, ocn = g[_CONV_OC0], g[_CONV_OCN]
    acc = bytearray(4 * OW)
    per_channel = len(mult) > 4
    for oy in range(OH):
        for j in range(ocn):
            _tconv(x, w, bias, acc, g, j, oy + g[_CONV_PAD_TOP], EXT)
            _requantize(acc, OW, mult, shift, j if per_channel else 0, 1, y, oy * OW * OC + oc0 + j, OC,
                        g[_CONV_Y_ZP], g[_CONV_ACT_MIN], g[_CONV_ACT_MAX], EXT)
