# Viper fixed point: the requantization every viper kernel ends with (tinyml.fixedpoint's
# MultiplyByQuantizedMultiplier, on machine words). Viper ints are machine words (32 bits on
# microcontrollers, 64 on the unix port), so it is written to stay exact in 32 bits, and int32 loads
# are sign-extended by EXT.
import sys
import micropython

EXT = 32 if sys.maxsize > 0x7FFFFFFF else 0  # shift pair that sign-extends a ptr32 load on 64-bit


@micropython.viper
def _requantize(acc, n: int, mult, shift, mo: int, mn: int, y, yo: int, ystep: int,
                y_zp: int, act_min: int, act_max: int, ext: int):
    # y[yo + i*ystep] = clamp(MultiplyByQuantizedMultiplier(acc[i], m, s) + y_zp, act_min, act_max)
    # for i < n, acc int32, with m, s = mult[j], shift[j], j = mo + i % mn (mn: 1 for one pair, or
    # the channels of a row). Exact in 32-bit words: SaturatingRoundingDoublingHighMul works on
    # 14-bit limbs, so no product passes 2**31. It takes a run of outputs per call: a viper call
    # per output costs about as much as the arithmetic.
    pa = ptr32(acc)
    pm = ptr32(mult)
    ps = ptr32(shift)
    py = ptr8(y)
    m = 0
    left = 0
    right = 0
    b0 = 0
    b1 = 0
    b2 = 0
    mask = 0
    half = 0
    mi = mo
    mend = mo + mn
    load = 1
    nudge = 1
    nudge <<= 30  # 2**30 is no small int on 32-bit ports: as a (folded) constant viper rejects it
    for i in range(n):
        if load:
            load = mn - 1  # reload for each output when the pairs are per channel
            m = pm[mi]
            s = (ps[mi] << ext) >> ext
            mi += 1
            if mi == mend:
                mi = mo
            b0 = m & 0x3FFF
            b1 = (m >> 14) & 0x3FFF
            b2 = m >> 28
            left = 0
            right = 0
            if s > 0:
                left = s
            else:
                right = 0 - s
            mask = (1 << right) - 1
            half = mask >> 1
        a = (pa[i] << ext) >> ext
        if left > 0:
            a = ((a << left) << ext) >> ext  # wraps to int32, as TFLM's int32 shift does
        neg = a < 0
        if neg:
            a = 0 - a
        if a < 0:  # acc was INT32_MIN on a 32-bit word: TFLM gives -m
            q = m
        else:
            a0 = a & 0x3FFF
            a1 = (a >> 14) & 0x3FFF
            a2 = a >> 28
            t = a0 * b0 + nudge
            if neg:
                t -= 1
            t = a0 * b1 + a1 * b0 + (t >> 14)
            t = a0 * b2 + a1 * b1 + a2 * b0 + (t >> 14)
            q = (t >> 3) + ((a1 * b2 + a2 * b1) << 11) + ((a2 * b2) << 25)
        if neg:
            q = 0 - q
        if right > 0:  # RoundingDivideByPOT
            threshold = half
            if q < 0:
                threshold += 1
            rem = q & mask
            q = q >> right
            if rem > threshold:
                q += 1
        v = q + y_zp
        if v < act_min:
            v = act_min
        if v > act_max:
            v = act_max
        py[yo] = v
        yo += ystep


@micropython.viper
def requantize32(acc, at: int, n: int, m: int, s: int, ext: int):
    # acc[i] = MultiplyByQuantizedMultiplier(acc[i], m, s) for at <= i < at + n, int32 in place (s > 0 a left
    # shift that wraps, as TFLM's): SaturatingRoundingDoublingHighMul on 14-bit limbs, then
    # RoundingDivideByPOT, as _requantize, exact in 32-bit words (no clamp, no zero point)
    pa = ptr32(acc)
    nudge = 1
    nudge <<= 30
    b0 = m & 0x3FFF
    b1 = (m >> 14) & 0x3FFF
    b2 = m >> 28
    left = 0
    right = 0
    if s > 0:
        left = s
    else:
        right = 0 - s
    mask = (1 << right) - 1
    half = mask >> 1
    for i in range(at, at + n):
        a = (pa[i] << ext) >> ext
        if left > 0:
            a = ((a << left) << ext) >> ext
        neg = a < 0
        if neg:
            a = 0 - a
        if a < 0:  # INT32_MIN on a 32-bit word
            q = m
        else:
            a0 = a & 0x3FFF
            a1 = (a >> 14) & 0x3FFF
            a2 = a >> 28
            t = a0 * b0 + nudge
            if neg:
                t -= 1
            t = a0 * b1 + a1 * b0 + (t >> 14)
            t = a0 * b2 + a1 * b1 + a2 * b0 + (t >> 14)
            q = (t >> 3) + ((a1 * b2 + a2 * b1) << 11) + ((a2 * b2) << 25)
        if neg:
            q = 0 - q
        if right > 0:
            threshold = half
            if q < 0:
                threshold += 1
            rem = q & mask
            q = q >> right
            if rem > threshold:
                q += 1
        pa[i] = q
