# Viper kernel of bilinear resizing (docs/kernels.md): TFLM's ResizeBilinearInteger for int8, the host's
# table giving each output row's (y0, y1 byte offsets, wy) and column's (x0, x1, wx) in 1/1024. Every
# sum fits 32 bits (|value| <= 128 times weights of at most 2048 * 2048): viper's machine words do.
import micropython
from tinyml.ops import const
from tinyml.kernels_viper_fixedpoint import EXT

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_RESIZE_BATCHES = const(0)
_RESIZE_OH = const(1)
_RESIZE_OW = const(2)
_RESIZE_C = const(3)
_RESIZE_IN_BATCH = const(4)
# ---- end of g's slots ----


@micropython.viper
def _resize(x, y, table, g, ext: int):
    px = ptr8(x)
    py = ptr8(y)
    t = ptr32(table)
    gg = ptr32(g)
    nb = gg[_RESIZE_BATCHES]
    oh = gg[_RESIZE_OH]
    ow = gg[_RESIZE_OW]
    c = gg[_RESIZE_C]
    stride = gg[_RESIZE_IN_BATCH]
    at = 0
    for b in range(nb):
        base = b * stride
        for oy in range(oh):
            r0 = t[3 * oy] + base
            r1 = t[3 * oy + 1] + base
            wy = (t[3 * oy + 2] << ext) >> ext  # negative with half_pixel_centers
            for ox in range(ow):
                k = 3 * (oh + ox)
                c0 = t[k]
                c1 = t[k + 1]
                wx = (t[k + 2] << ext) >> ext
                w00 = (1024 - wy) * (1024 - wx)
                w10 = wy * (1024 - wx)
                w01 = (1024 - wy) * wx
                w11 = wy * wx
                p00 = r0 + c0
                p10 = r1 + c0
                p01 = r0 + c1
                p11 = r1 + c1
                for ch in range(c):
                    v = (((px[p00 + ch] ^ 0x80) - 0x80) * w00 + ((px[p10 + ch] ^ 0x80) - 0x80) * w10
                         + ((px[p01 + ch] ^ 0x80) - 0x80) * w01 + ((px[p11 + ch] ^ 0x80) - 0x80) * w11)
                    if v > 0:
                        q = (v + 0x80000) >> 20
                    else:
                        q = 0 - ((0x80000 - v) >> 20)
                    py[at] = q & 0xFF
                    at += 1


def resize_bilinear(x, y, table, g):
    _resize(x, y, table, g, EXT)
