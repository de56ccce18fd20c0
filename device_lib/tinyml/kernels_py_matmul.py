# Pure-Python kernels of TFLM's BATCH_MATMUL (both operands activations) and TRANSPOSE_CONV, int8: the
# same functions and bytes out as the viper kernels (kernels_viper_matmul) and the native module
# (firmware/kernels/tinyml_matmul.h); kernels_py re-exports them. docs/model-format.md has the records.
from array import array
from tinyml.ops import const
from tinyml.fixedpoint import requantize

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


def batch_matmul(a, b, y, g):
    # TFLM's BatchMatMul: for each of y's batches (D0..D2; a's and b's batch strides 0 where broadcast)
    # y[r][c] = requantize(sum_k (a[r][k] - a_zp) * (b[k][c] - b_zp)) + y_zp, clamped to int8; adj_x
    # and adj_y are other element strides (A_ROW, A_K, B_K, B_COL)
    d0, d1, d2 = g[_MATMUL_D0], g[_MATMUL_D0 + 1], g[_MATMUL_D0 + 2]
    as0, as1, as2 = g[_MATMUL_A_STRIDE0], g[_MATMUL_A_STRIDE0 + 1], g[_MATMUL_A_STRIDE0 + 2]
    bs0, bs1, bs2 = g[_MATMUL_B_STRIDE0], g[_MATMUL_B_STRIDE0 + 1], g[_MATMUL_B_STRIDE0 + 2]
    rows, cols, depth = g[_MATMUL_ROWS], g[_MATMUL_COLS], g[_MATMUL_DEPTH]
    a_row, a_k, b_k, b_col = g[_MATMUL_A_ROW], g[_MATMUL_A_K], g[_MATMUL_B_K], g[_MATMUL_B_COL]
    a_zp, b_zp = g[_MATMUL_A_ZP], g[_MATMUL_B_ZP]
    mult, shift, y_zp = g[_MATMUL_Y_MULTIPLIER], g[_MATMUL_Y_SHIFT], g[_MATMUL_Y_ZP]
    av = [v - a_zp for v in array("b", bytes(a))]
    bv = [v - b_zp for v in array("b", bytes(b))]
    ks = range(depth)
    at = 0
    for i0 in range(d0):
        for i1 in range(d1):
            for i2 in range(d2):
                ab = i0 * as0 + i1 * as1 + i2 * as2
                bb = i0 * bs0 + i1 * bs1 + i2 * bs2
                cols_of_b = [[bv[bb + c * b_col + k * b_k] for k in ks] for c in range(cols)]
                for r in range(rows):
                    row = [av[ab + r * a_row + k * a_k] for k in ks]
                    for col in cols_of_b:
                        acc = 0
                        for k in ks:
                            acc += row[k] * col[k]
                        v = requantize(acc, mult, shift) + y_zp
                        y[at] = (-128 if v < -128 else 127 if v > 127 else v) & 0xFF
                        at += 1


def transpose_conv2d(x, w, bias, mult, shift, y, g):
    # TFLM's TransposeConv for output channels oc0 .. oc0+ocn-1 (w is (ocn, KH, KW, C), the bias the
    # model's): gathered per output pixel, output row oy from input rows iy with filter row
    # fy = oy + pad_top - iy * stride_h in 0..KH-1 (likewise for columns), sum (x - x_zp) * w, then
    # the bias, the channel's multiplier, + y_zp and the clamp
    H, W, C = g[_CONV_H], g[_CONV_W], g[_CONV_C]
    OH, OW, OC, KH, KW = g[_CONV_OH], g[_CONV_OW], g[_CONV_OC], g[_CONV_KH], g[_CONV_KW]
    sh, sw, pt, pl = g[_CONV_STRIDE_H], g[_CONV_STRIDE_W], g[_CONV_PAD_TOP], g[_CONV_PAD_LEFT]
    x_zp, y_zp, act_min, act_max = g[_CONV_X_ZP], g[_CONV_Y_ZP], g[_CONV_ACT_MIN], g[_CONV_ACT_MAX]
    oc0, ocn = g[_CONV_OC0], g[_CONV_OCN]
    xs = [v - x_zp for v in array("b", bytes(x))]
    ws = array("b", bytes(w))
    K = KH * KW * C
    biases = array("i", bytes(bias[:4 * ocn]))
    ms, ss = array("i", bytes(mult)), array("i", bytes(shift))
    per_channel = len(ms) > 1

    def taps(o, k, stride, n):  # (filter index, input index) of output o along one axis
        return [(f, (o + k - f) // stride) for f in range((o + k) % stride, n[0], stride)
                if 0 <= (o + k - f) // stride < n[1]]
    rows = [taps(oy, pt, sh, (KH, H)) for oy in range(OH)]
    cols = [taps(ox, pl, sw, (KW, W)) for ox in range(OW)]
    for oy in range(OH):
        for ox in range(OW):
            pairs = [((fy * KW + fx) * C, (iy * W + ix) * C) for fy, iy in rows[oy] for fx, ix in cols[ox]]
            out = (oy * OW + ox) * OC + oc0
            for j in range(ocn):
                acc = biases[j]
                wj = j * K
                for wo, xo in pairs:
                    wo += wj
                    for c in range(C):
                        acc += xs[xo + c] * ws[wo + c]
                m, s = (ms[j], ss[j]) if per_channel else (ms[0], ss[0])
                v = requantize(acc, m, s) + y_zp
                y[out + j] = (act_min if v < act_min else act_max if v > act_max else v) & 0xFF
