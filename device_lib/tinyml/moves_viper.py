# The remap of tinyml/moves.py, one byte at a time in viper: for moves whose innermost runs are single
# elements (a transpose that moves the channels), where slice copies would cost a Python call each.
# Tables are array('i'); their fill entries are negative (sign-extended by EXT on 64-bit viper).
import micropython
from tinyml.kernels_viper_fixedpoint import EXT


@micropython.viper
def _gather(x, y, t, d0: int, d1: int, d2: int, d3: int, fill: int, ext: int):
    px = ptr8(x)
    py = ptr8(y)
    pt = ptr32(t)
    o1 = d0
    o2 = d0 + d1
    o3 = d0 + d1 + d2
    at = 0
    for i0 in range(d0):
        b0 = (pt[i0] << ext) >> ext
        for i1 in range(d1):
            b1 = b0 + ((pt[o1 + i1] << ext) >> ext)
            for i2 in range(d2):
                b2 = b1 + ((pt[o2 + i2] << ext) >> ext)
                for i3 in range(d3):
                    s = (pt[o3 + i3] << ext) >> ext
                    if b2 < 0 or s < 0:
                        py[at] = fill
                    else:
                        py[at] = px[b2 + s]
                    at += 1


def gather(x, y, t, d0, d1, d2, d3, fill):
    _gather(x, y, t, d0, d1, d2, d3, fill & 0xFF, EXT)


@micropython.viper
def _concat_part(x, y, outer: int, n: int, at: int, row: int):
    px = ptr8(x)
    py = ptr8(y)
    s = 0
    for o in range(outer):
        for i in range(n):
            py[at + i] = px[s + i]
        s += n
        at += row


def concat(xs, y, outer, inners):
    # model.py's _concat (CONCATENATION, PACK) a byte at a time in viper: for short runs (the channels
    # of a pixel), where a slice copy per run would cost a Python call each
    row = 0
    for n in inners:
        row += n
    at = 0
    for x, n in zip(xs, inners):
        _concat_part(x, y, outer, n, at, row)
        at += n
