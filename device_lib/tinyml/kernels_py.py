# Pure-Python kernels: the portable reference. Same signatures and bytes out as the native
# module (firmware/kernels) and the viper kernels; see docs/model-format.md for the semantics.
from array import array
import struct
from tinyml.fixedpoint import requantize, srdhm, rdivpot, exp_on_negative_values, reciprocal

NAME = "python"


def int32_at(buf, i):
    return struct.unpack_from("<i", buf, 4 * i)[0]


def fully_connected(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max):
    per_channel = len(mult) > 4
    m, s = int32_at(mult, 0), int32_at(shift, 0)
    ws = array("b", w)
    ys = array("b", bytes(len(y)))
    for b in range(len(y) // n_out):
        xs = array("b", x[b * n_in:(b + 1) * n_in])
        for o in range(n_out):
            acc = int32_at(bias, o)
            row = o * n_in
            for i in range(n_in):
                acc += xs[i] * ws[row + i]
            if per_channel:
                m, s = int32_at(mult, o), int32_at(shift, o)
            v = requantize(acc, m, s) + out_zp
            ys[b * n_out + o] = act_min if v < act_min else act_max if v > act_max else v
    y[:] = bytes(ys)


def softmax(x, y, n, in_mult, in_left_shift, diff_min):
    # TFLM reference_ops::Softmax, int8 in and out (output zero point -128, scale 1/256)
    xs = array("b", x)
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
