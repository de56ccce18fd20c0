# The long tail's arithmetic kernels (issue 12) in viper: TFLM's int8 ADD_N and CUMSUM, the same bytes
# as kernels_py_tail.py (whose header says the arithmetic). The sums go through an int32 array: a store
# keeps the low 32 bits, so they wrap as TFLM's int32 does on every word size; then requantize32 and
# the clamp. The array is allocated per call (these ops are rare).
from array import array
import micropython
from tinyml.ops import const
from tinyml.kernels_viper_fixedpoint import EXT, requantize32

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_ADDN_X_ZP = const(0)
_ADDN_Y_MULTIPLIER = const(1)
_ADDN_Y_SHIFT = const(2)
_ADDN_Y_ZP = const(3)
_CUMSUM_OUTER = const(0)
_CUMSUM_N = const(1)
_CUMSUM_INNER = const(2)
_CUMSUM_EXCLUSIVE = const(3)
_CUMSUM_REVERSE = const(4)
_CUMSUM_X_ZP = const(5)
_CUMSUM_Y_MULTIPLIER = const(6)
_CUMSUM_Y_SHIFT = const(7)
_CUMSUM_Y_ZP = const(8)
# ---- end of g's slots ----


@micropython.viper
def _fill(acc, n: int, v: int):
    pa = ptr32(acc)
    for i in range(n):
        pa[i] = v


@micropython.viper
def _add(acc, x, n: int, zp: int):
    pa = ptr32(acc)
    px = ptr8(x)
    for i in range(n):
        v = px[i]
        if v > 127:
            v -= 256
        pa[i] = pa[i] + ((v - zp) << 19)


@micropython.viper
def _scan(x, acc, outer: int, n: int, inner: int, exclusive: int, reverse: int, zp: int):
    px = ptr8(x)
    pa = ptr32(acc)
    base = (0 - zp) << 19
    for o in range(outer):
        for k in range(inner):
            s = base
            for j in range(n):
                i = j
                if reverse:
                    i = n - 1 - j
                at = (o * n + i) * inner + k
                v = px[at]
                if v > 127:
                    v -= 256
                if exclusive:
                    pa[at] = s
                s = s + ((v - zp) << 19)
                if not exclusive:
                    pa[at] = s


@micropython.viper
def _out(acc, y, n: int, zp: int, ext: int):
    pa = ptr32(acc)
    py = ptr8(y)
    for i in range(n):
        v = ((pa[i] << ext) >> ext) + zp
        if v < -128:
            v = -128
        elif v > 127:
            v = 127
        py[i] = v


def add_n(xs, y, g):
    n = len(y)
    zp = g[_ADDN_X_ZP]
    acc = array("i", bytes(4 * n))
    _fill(acc, n, -zp << 19)
    for x in xs:
        _add(acc, x, n, zp)
    requantize32(acc, 0, n, g[_ADDN_Y_MULTIPLIER], g[_ADDN_Y_SHIFT], EXT)
    _out(acc, y, n, g[_ADDN_Y_ZP], EXT)


def cumsum(x, y, g):
    n = len(y)
    acc = array("i", bytes(4 * n))
    _scan(x, acc, g[_CUMSUM_OUTER], g[_CUMSUM_N], g[_CUMSUM_INNER], g[_CUMSUM_EXCLUSIVE], g[_CUMSUM_REVERSE],
          g[_CUMSUM_X_ZP])
    requantize32(acc, 0, n, g[_CUMSUM_Y_MULTIPLIER], g[_CUMSUM_Y_SHIFT], EXT)
    _out(acc, y, n, g[_CUMSUM_Y_ZP], EXT)
