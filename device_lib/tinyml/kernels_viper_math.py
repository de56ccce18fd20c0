# Viper kernels of TFLM's math ops (issue 12): reductions over any axes, and the Python L2 normalization
# (a square root per row); kernels_viper re-exports them.
# g's slots are named in tinyml.ops, as private consts here (folded by the compiler: plain ints to viper).
from array import array
import micropython
from tinyml.ops import const
from tinyml.kernels_viper_fixedpoint import EXT, _requantize
from tinyml.kernels_py_math import l2_normalization, log_softmax  # noqa: F401  (a few values per row)

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_SELECT_D0 = const(0)
_SELECT_C_STRIDE0 = const(4)
_SELECT_A_STRIDE0 = const(8)
_SELECT_B_STRIDE0 = const(12)
_REDUCE_D0 = const(0)
_REDUCE_R0 = const(4)
_REDUCE_STRIDE0 = const(8)
_REDUCE_X_ZP = const(12)
_REDUCE_Y_ZP = const(13)
_REDUCE_MULTIPLIER = const(14)
_REDUCE_SHIFT = const(15)
# ---- end of g's slots ----


@micropython.viper
def _reduce(x, y, g, acc, kind: int, zp_n: int):
    # For each output index (D0..D3): the reduced values' sum less zp_n into acc (kind 0), their
    # maximum (1) or minimum (2) into y, or the int32 index of the first maximum (3) or minimum (4)
    # into acc; the input is read at (i + r) . strides (tinyml.ops)
    px = ptr8(x)
    py = ptr8(y)
    pg = ptr32(g)
    pa = ptr32(acc)
    D0 = int(pg[_REDUCE_D0])
    D1 = int(pg[_REDUCE_D0 + 1])
    D2 = int(pg[_REDUCE_D0 + 2])
    D3 = int(pg[_REDUCE_D0 + 3])
    R0 = int(pg[_REDUCE_R0])
    R1 = int(pg[_REDUCE_R0 + 1])
    R2 = int(pg[_REDUCE_R0 + 2])
    R3 = int(pg[_REDUCE_R0 + 3])
    S0 = int(pg[_REDUCE_STRIDE0])
    S1 = int(pg[_REDUCE_STRIDE0 + 1])
    S2 = int(pg[_REDUCE_STRIDE0 + 2])
    S3 = int(pg[_REDUCE_STRIDE0 + 3])
    o = 0
    for i0 in range(D0):
        for i1 in range(D1):
            for i2 in range(D2):
                for i3 in range(D3):
                    base = i0 * S0 + i1 * S1 + i2 * S2 + i3 * S3
                    a = 0
                    if kind == 1 or kind == 3:
                        a = -128
                    elif kind == 2 or kind == 4:
                        a = 127
                    n = 0
                    best = 0
                    for r0 in range(R0):
                        for r1 in range(R1):
                            for r2 in range(R2):
                                j = base + r0 * S0 + r1 * S1 + r2 * S2
                                for _ in range(R3):
                                    v = (px[j] ^ 0x80) - 0x80
                                    if kind == 0:
                                        a += v
                                    elif kind == 1:
                                        if v > a:
                                            a = v
                                    elif kind == 2:
                                        if v < a:
                                            a = v
                                    elif kind == 3:
                                        if v > a or n == 0:
                                            a = v
                                            best = n
                                    elif v < a or n == 0:
                                        a = v
                                        best = n
                                    n += 1
                                    j += S3
                    if kind == 0:
                        pa[o] = a - zp_n
                    elif kind > 2:
                        pa[o] = best
                    else:
                        py[o] = a
                    o += 1


def reduce_sum(x, y, g):
    # TFLM's QuantizedMeanOrSum for int8 (a mean: 1/count folded into the multiplier by the host)
    n = g[_REDUCE_R0] * g[_REDUCE_R0 + 1] * g[_REDUCE_R0 + 2] * g[_REDUCE_R0 + 3]
    acc = bytearray(4 * len(y))
    _reduce(x, y, g, acc, 0, g[_REDUCE_X_ZP] * n)
    _requantize(acc, len(y), array("i", (g[_REDUCE_MULTIPLIER],)), array("i", (g[_REDUCE_SHIFT],)), 0, 1, y, 0, 1,
                g[_REDUCE_Y_ZP], -128, 127, EXT)


def reduce_max(x, y, g):
    # TFLM's ReduceGeneric with the maximum, int8 (input and output share their quantization)
    _reduce(x, y, g, y, 1, 0)


def reduce_min(x, y, g):
    _reduce(x, y, g, y, 2, 0)


def reduce_argmax(x, y, g):
    # TFLM's ArgMinMax for int8 over one axis: the int32 index of the first largest code
    _reduce(x, y, g, y, 3, 0)


def reduce_argmin(x, y, g):
    _reduce(x, y, g, y, 4, 0)


@micropython.viper
def select(c, a, b, y, g):
    # TFLM's Select / BroadcastSelect5DSlow for int8: a's byte where the condition's is nonzero, else b's
    pc = ptr8(c)
    pa = ptr8(a)
    pb = ptr8(b)
    py = ptr8(y)
    pg = ptr32(g)
    D0 = int(pg[_SELECT_D0])
    D1 = int(pg[_SELECT_D0 + 1])
    D2 = int(pg[_SELECT_D0 + 2])
    D3 = int(pg[_SELECT_D0 + 3])
    o = 0
    for i0 in range(D0):
        for i1 in range(D1):
            for i2 in range(D2):
                # the index of each input at (i0, i1, i2, 0): its strides are g's slots k, k+1, k+2, k+3
                ci = i0 * pg[_SELECT_C_STRIDE0] + i1 * pg[_SELECT_C_STRIDE0 + 1] + i2 * pg[_SELECT_C_STRIDE0 + 2]
                ai = i0 * pg[_SELECT_A_STRIDE0] + i1 * pg[_SELECT_A_STRIDE0 + 1] + i2 * pg[_SELECT_A_STRIDE0 + 2]
                bi = i0 * pg[_SELECT_B_STRIDE0] + i1 * pg[_SELECT_B_STRIDE0 + 1] + i2 * pg[_SELECT_B_STRIDE0 + 2]
                c3 = int(pg[_SELECT_C_STRIDE0 + 3])
                a3 = int(pg[_SELECT_A_STRIDE0 + 3])
                b3 = int(pg[_SELECT_B_STRIDE0 + 3])
                for _ in range(D3):
                    if pc[ci]:
                        py[o] = pa[ai]
                    else:
                        py[o] = pb[bi]
                    ci += c3
                    ai += a3
                    bi += b3
                    o += 1
