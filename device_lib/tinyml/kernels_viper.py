# Viper kernels: machine code the device compiles itself from this file (no toolchain).
# Viper ints are machine words (32 bits on microcontrollers, 64 on the unix port), so the
# requantization is written to stay exact in 32 bits, and int32 loads are sign-extended by EXT.
import sys
import micropython
from tinyml.kernels_py import softmax  # noqa: F401  (per row of a few values: Python is enough)

NAME = "viper"
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
def _conv(x, w, bias, mult, shift, y, g, acc, ext: int):
    # One output channel at a time, one output row at a time (then requantized together). The
    # taps inside the input contribute w * (x - x_zp), those outside nothing: the bias, which has
    # -x_zp * sum(w) folded in, gets x_zp * sum(w) back. Each pixel's kernel window is clipped to
    # the input, so the inner loop has no bounds test.
    px = ptr8(x)
    pw = ptr8(w)
    pb = ptr32(bias)
    pa = ptr32(acc)  # a row of accumulators
    pg = ptr32(g)  # sign-extended where the value may be negative
    H = pg[0]
    W = pg[1]
    C = pg[2]
    OH = pg[3]
    OW = pg[4]
    OC = pg[5]
    KH = pg[6]
    KW = pg[7]
    sh = pg[8]
    sw = pg[9]
    dh = pg[10]
    dw = pg[11]
    pt = pg[12]
    pl = pg[13]
    x_zp = (pg[14] << ext) >> ext
    y_zp = (pg[15] << ext) >> ext
    act_min = (pg[16] << ext) >> ext
    act_max = (pg[17] << ext) >> ext
    oc0 = pg[18]
    ocn = pg[19]
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
        wo = o * K
        wsum = 0
        for i in range(wo, wo + K):
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
def _conv_1x1(x, w, bias, mult, shift, y, g, acc, ext: int):
    # _conv for a 1x1 kernel without padding: a dot product of C bytes per output.
    px = ptr8(x)
    pw = ptr8(w)
    pb = ptr32(bias)
    pa = ptr32(acc)
    pg = ptr32(g)
    C = pg[2]
    OH = pg[3]
    OW = pg[4]
    OC = pg[5]
    row = pg[1] * C
    rstep = pg[8] * row  # input bytes from one output row to the next
    cstep = pg[9] * C  # and from one output column to the next
    x_zp = (pg[14] << ext) >> ext
    y_zp = (pg[15] << ext) >> ext
    act_min = (pg[16] << ext) >> ext
    act_max = (pg[17] << ext) >> ext
    oc0 = pg[18]
    ocn = pg[19]
    mn = 0
    if int(len(mult)) > 4:
        mn = 1
    xoff = 0x80 + x_zp
    for o in range(ocn):
        pwr = ptr8(int(pw) + o * C)
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
    H = pg[0]
    W = pg[1]
    C = pg[2]
    OH = pg[3]
    OW = pg[4]
    OC = pg[5]
    KH = pg[6]
    KW = pg[7]
    sh = pg[8]
    sw = pg[9]
    dh = pg[10]
    dw = pg[11]
    pt = pg[12]
    pl = pg[13]
    x_zp = (pg[14] << ext) >> ext
    y_zp = (pg[15] << ext) >> ext
    act_min = (pg[16] << ext) >> ext
    act_max = (pg[17] << ext) >> ext
    oc0 = pg[18]
    ocn = pg[19]
    dm = pg[20]
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


def conv2d(x, w, bias, mult, shift, y, g):
    pointwise = g[6] == 1 and g[7] == 1 and g[12] == 0 and g[13] == 0
    (_conv_1x1 if pointwise else _conv)(x, w, bias, mult, shift, y, g, bytearray(4 * g[4]), EXT)


def depthwise_conv2d(x, w, bias, mult, shift, y, g):
    _dwconv(x, w, bias, mult, shift, y, g, bytearray(4 * g[4]), EXT)


# ---- pooling, MEAN, ADD, MUL, lookup tables ----
from array import array  # noqa: E402
from tinyml.kernels_py import quantize_f32  # noqa: F401,E402  (floats: viper has none, Python does it)


@micropython.viper
def _pool(x, y, g, ext: int):
    # TFLM reference_integer_ops::AveragePool / MaxPool: only taps inside the input count.
    px = ptr8(x)
    py = ptr8(y)
    pg = ptr32(g)
    H = int(pg[0])
    W = int(pg[1])
    C = int(pg[2])
    OH = int(pg[3])
    OW = int(pg[4])
    sh = int(pg[5])
    sw = int(pg[6])
    fh = int(pg[7])
    fw = int(pg[8])
    pt = int(pg[9])
    pl = int(pg[10])
    lo = (pg[11] << ext) >> ext
    hi = (pg[12] << ext) >> ext
    is_max = int(pg[13])
    o = 0
    for oh in range(OH):
        r0 = oh * sh - pt
        r1 = r0 + fh
        if r0 < 0:
            r0 = 0
        if r1 > H:
            r1 = H
        for ow in range(OW):
            c0 = ow * sw - pl
            c1 = c0 + fw
            if c0 < 0:
                c0 = 0
            if c1 > W:
                c1 = W
            for c in range(C):
                acc = 0
                if is_max:
                    acc = -128
                for ih in range(r0, r1):
                    i = (ih * W + c0) * C + c
                    for _ in range(c0, c1):
                        v = (px[i] ^ 0x80) - 0x80
                        if is_max:
                            if v > acc:
                                acc = v
                        else:
                            acc += v
                        i += C
                if is_max == 0:  # TFLM's rounding division: halves away from zero
                    n = (r1 - r0) * (c1 - c0)
                    if acc > 0:
                        acc = (acc + n // 2) // n
                    else:
                        acc = 0 - (n // 2 - acc) // n
                if acc < lo:
                    acc = lo
                if acc > hi:
                    acc = hi
                py[o] = acc
                o += 1


def pool2d(x, y, g):
    _pool(x, y, g, EXT)


@micropython.viper
def _mean_sums(x, acc, n: int, C: int, x_zp: int):
    # acc[c] = sum over the n = H x W positions of (x - x_zp), channel c
    px = ptr8(x)
    pa = ptr32(acc)
    for c in range(C):
        s = 0 - x_zp * n
        i = c
        for _ in range(n):
            s += (px[i] ^ 0x80) - 0x80
            i += C
        pa[c] = s


def mean_hw(x, y, g):
    # MEAN over H and W: TFLM's QuantizedMeanOrSum, 1/count folded into mult, shift by the host
    H, W, C, x_zp, y_zp, mult, shift = g
    acc = bytearray(4 * C)
    _mean_sums(x, acc, H * W, C, x_zp)
    _requantize(acc, C, array("i", (mult,)), array("i", (shift,)), 0, 1, y, 0, 1, y_zp, -128, 127, EXT)


@micropython.viper
def _input_table(t, zp: int, ls: int, m: int, s: int):
    # t[code + 128] (int32) for each int8 code: code - zp, or with m != 0 the scaled ADD input
    # MultiplyByQuantizedMultiplierSmallerThanOneExp((code - zp) << ls, m, s), s <= 0. With
    # |x| <= 255, SaturatingRoundingDoublingHighMul(x << ls, m) is sign(x) * ((|x| * m + 2**(30-ls)
    # - (x < 0)) >> (31 - ls)); m split at bit 31 - ls keeps every product under 2**31 (ls <= 20).
    pt = ptr32(t)
    k = 31 - ls
    mh = m >> k
    ml = m & ((1 << k) - 1)
    right = 0 - s
    mask = (1 << right) - 1
    for i in range(256):
        v = i - 128 - zp
        if m:
            a = v
            neg = 0
            if v < 0:
                a = 0 - v
                neg = 1
            q = a * mh + ((a * ml + (1 << (k - 1)) - neg) >> k)
            if neg:
                q = 0 - q
            threshold = mask >> 1  # RoundingDivideByPOT
            if q < 0:
                threshold += 1
            rem = q & mask
            v = q >> right
            if rem > threshold:
                v += 1
        pt[i] = v


@micropython.viper
def _binary(a, b, y, g, ta, tb, acc, is_mul: int, mult, shift, y_zp: int, lo: int, hi: int, ext: int):
    # y[i] = clamp(requantize(ta[a[i . a_strides]] * or + tb[b[i . b_strides]]) + y_zp) for each
    # index i of the 4-D output, in order; a run of len(acc) / 4 values per _requantize call.
    pa = ptr8(a)
    pb = ptr8(b)
    pg = ptr32(g)
    pta = ptr32(ta)
    ptb = ptr32(tb)
    pacc = ptr32(acc)
    D0 = int(pg[0])
    D1 = int(pg[1])
    D2 = int(pg[2])
    D3 = int(pg[3])
    a0 = int(pg[4])
    a1 = int(pg[5])
    a2 = int(pg[6])
    a3 = int(pg[7])
    b0 = int(pg[8])
    b1 = int(pg[9])
    b2 = int(pg[10])
    b3 = int(pg[11])
    run = int(len(acc)) >> 2
    i1 = 0
    i2 = 0
    i3 = 0
    ai = 0
    bi = 0
    k = 0
    o = 0
    for _ in range(D0 * D1 * D2 * D3):
        va = (pta[pa[ai] ^ 0x80] << ext) >> ext
        vb = (ptb[pb[bi] ^ 0x80] << ext) >> ext
        if is_mul:
            pacc[k] = va * vb
        else:
            pacc[k] = va + vb
        k += 1
        if k == run:
            _requantize(acc, k, mult, shift, 0, 1, y, o, 1, y_zp, lo, hi, ext)
            o += k
            k = 0
        # next output index (i0, i1, i2, i3), moving ai and bi along
        i3 += 1
        ai += a3
        bi += b3
        if i3 == D3:
            i3 = 0
            i2 += 1
            ai += a2 - a3 * D3
            bi += b2 - b3 * D3
            if i2 == D2:
                i2 = 0
                i1 += 1
                ai += a1 - a2 * D2
                bi += b1 - b2 * D2
                if i1 == D1:
                    i1 = 0
                    ai += a0 - a1 * D1
                    bi += b0 - b1 * D1
    if k:
        _requantize(acc, k, mult, shift, 0, 1, y, o, 1, y_zp, lo, hi, ext)


def add(a, b, y, g):
    # TFLM reference_integer_ops::AddElementwise (and its broadcast forms) for int8
    a_zp, b_zp, ls, am, ash, bm, bsh, ym, ysh, y_zp, lo, hi = g[12:]
    ta, tb = bytearray(1024), bytearray(1024)
    _input_table(ta, a_zp, ls, am, ash)
    _input_table(tb, b_zp, ls, bm, bsh)
    _binary(a, b, y, g, ta, tb, bytearray(256), 0, array("i", (ym,)), array("i", (ysh,)), y_zp, lo, hi, EXT)


def mul(a, b, y, g):
    # TFLM reference_integer_ops::MulElementwise (and BroadcastMul4DSlow) for int8
    a_zp, b_zp, ym, ysh, y_zp, lo, hi = g[12:]
    ta, tb = bytearray(1024), bytearray(1024)
    _input_table(ta, a_zp, 0, 0, 0)
    _input_table(tb, b_zp, 0, 0, 0)
    _binary(a, b, y, g, ta, tb, bytearray(256), 1, array("i", (ym,)), array("i", (ysh,)), y_zp, lo, hi, EXT)


@micropython.viper
def _lut(x, y, table, n: int, size: int):
    px = ptr8(x)
    py = ptr8(y)
    pt = ptr8(table)
    o = 0
    for i in range(n):
        j = (px[i] ^ 0x80) * size
        for k in range(size):
            py[o] = pt[j + k]
            o += 1


def lut(x, y, table, size):
    # y[i] = table[x[i] + 128], entries of size bytes
    _lut(x, y, table, len(x), size)
