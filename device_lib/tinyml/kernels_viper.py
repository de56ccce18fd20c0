# Viper kernels: machine code the device compiles itself from this file (no toolchain).
# Viper ints are machine words (32 bits on microcontrollers, 64 on the unix port), so the
# requantization is written to stay exact in 32 bits, and int32 loads are sign-extended by EXT.
import sys
import micropython
from tinyml.kernels_py import softmax  # noqa: F401  (per row of a few values: Python is enough)

NAME = "viper"
EXT = 32 if sys.maxsize > 0x7FFFFFFF else 0  # shift pair that sign-extends a ptr32 load on 64-bit


@micropython.viper
def _fc(x, w, bias, mult, shift, y, n_in: int, n_out: int, out_zp: int, act_min: int, act_max: int, ext: int):
    px = ptr8(x)
    pw = ptr8(w)
    pb = ptr32(bias)
    pm = ptr32(mult)
    ps = ptr32(shift)
    py = ptr8(y)
    per_channel = int(len(mult)) > 4
    m = pm[0]
    s = (ps[0] << ext) >> ext
    xo = 0
    yo = 0
    for _ in range(int(len(y)) // n_out):
        row = 0
        for o in range(n_out):
            acc = (pb[o] << ext) >> ext
            for i in range(n_in):
                acc += ((px[xo + i] ^ 0x80) - 0x80) * ((pw[row + i] ^ 0x80) - 0x80)
            row += n_in
            if per_channel:
                m = pm[o]
                s = (ps[o] << ext) >> ext
            right = 0
            if s > 0:
                acc = acc << s
            else:
                right = 0 - s
            # SaturatingRoundingDoublingHighMul(acc, m) on 14-bit limbs: no product passes 2**31.
            neg = acc < 0
            a = acc
            if neg:
                a = 0 - acc
            if a < 0:  # acc was INT32_MIN on a 32-bit word: TFLM gives -m
                q = m
            else:
                a0 = a & 0x3FFF
                a1 = (a >> 14) & 0x3FFF
                a2 = a >> 28
                b0 = m & 0x3FFF
                b1 = (m >> 14) & 0x3FFF
                b2 = m >> 28
                t = a0 * b0 + 0x40000000
                if neg:
                    t -= 1
                t = a0 * b1 + a1 * b0 + (t >> 14)
                t = a0 * b2 + a1 * b1 + a2 * b0 + (t >> 14)
                q = (t >> 3) + ((a1 * b2 + a2 * b1) << 11) + ((a2 * b2) << 25)
            if neg:
                q = 0 - q
            if right > 0:  # RoundingDivideByPOT
                mask = (1 << right) - 1
                threshold = mask >> 1
                if q < 0:
                    threshold += 1
                rem = q & mask
                q = q >> right
                if rem > threshold:
                    q += 1
            v = q + out_zp
            if v < act_min:
                v = act_min
            if v > act_max:
                v = act_max
            py[yo + o] = v
        xo += n_in
        yo += n_out


def fully_connected(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max):
    _fc(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max, EXT)
