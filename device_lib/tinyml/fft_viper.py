# Viper backend of tinyml.preprocess.fft.rfft_q15: the same Q15 real FFT (KissFFT, FIXED_POINT=16,
# kiss_fftr), the same ints, as machine code the board compiles itself. Viper ints are machine words
# (32 bits on microcontrollers, 64 on the unix port): int32 loads are sign-extended with the EXT shift
# pair, int16 loads with ^ 0x8000. Every product fits 32 bits: |int16 * Q15 twiddle| < 2**30, the
# sum of two < 2**31.
import sys
import micropython
from tinyml.preprocess.fft_plan import permutation, factors

NAME = "viper"
EXT = 32 if sys.maxsize > 0x7FFFFFFF else 0


@micropython.viper
def _load(x, w, perm, half: int):
    # w[2 pos], w[2 pos + 1] = x[2 perm[pos]], x[2 perm[pos] + 1]
    px = ptr16(x)
    pw = ptr32(w)
    pp = ptr16(perm)
    for pos in range(half):
        k = pp[pos] << 1
        pw[2 * pos] = (px[k] ^ 0x8000) - 0x8000
        pw[2 * pos + 1] = (px[k + 1] ^ 0x8000) - 0x8000


@micropython.viper
def _bfly4(w, tw, half: int, m: int, fstride: int, ext: int):
    pw = ptr32(w)
    pt = ptr16(tw)
    span = m << 2
    m2 = m << 1
    base = 0
    while base < half:
        for k in range(m):
            i0 = (base + k) << 1
            i1 = i0 + m2
            i2 = i1 + m2
            i3 = i2 + m2
            a0r = (((pw[i0] << ext) >> ext) * 8191 + 16384) >> 15
            a0i = (((pw[i0 + 1] << ext) >> ext) * 8191 + 16384) >> 15
            a1r = (((pw[i1] << ext) >> ext) * 8191 + 16384) >> 15
            a1i = (((pw[i1 + 1] << ext) >> ext) * 8191 + 16384) >> 15
            a2r = (((pw[i2] << ext) >> ext) * 8191 + 16384) >> 15
            a2i = (((pw[i2 + 1] << ext) >> ext) * 8191 + 16384) >> 15
            a3r = (((pw[i3] << ext) >> ext) * 8191 + 16384) >> 15
            a3i = (((pw[i3 + 1] << ext) >> ext) * 8191 + 16384) >> 15
            t = (k * fstride) << 1
            cr = (pt[t] ^ 0x8000) - 0x8000
            ci = (pt[t + 1] ^ 0x8000) - 0x8000
            s0r = (a1r * cr - a1i * ci + 16384) >> 15
            s0i = (a1r * ci + a1i * cr + 16384) >> 15
            t = t << 1
            cr = (pt[t] ^ 0x8000) - 0x8000
            ci = (pt[t + 1] ^ 0x8000) - 0x8000
            s1r = (a2r * cr - a2i * ci + 16384) >> 15
            s1i = (a2r * ci + a2i * cr + 16384) >> 15
            t = (3 * k * fstride) << 1
            cr = (pt[t] ^ 0x8000) - 0x8000
            ci = (pt[t + 1] ^ 0x8000) - 0x8000
            s2r = (a3r * cr - a3i * ci + 16384) >> 15
            s2i = (a3r * ci + a3i * cr + 16384) >> 15
            s5r = a0r - s1r
            s5i = a0i - s1i
            a0r += s1r
            a0i += s1i
            s3r = s0r + s2r
            s3i = s0i + s2i
            s4r = s0r - s2r
            s4i = s0i - s2i
            pw[i2] = a0r - s3r
            pw[i2 + 1] = a0i - s3i
            pw[i0] = a0r + s3r
            pw[i0 + 1] = a0i + s3i
            pw[i1] = s5r + s4i
            pw[i1 + 1] = s5i - s4r
            pw[i3] = s5r - s4i
            pw[i3 + 1] = s5i + s4r
        base += span


@micropython.viper
def _bfly2(w, tw, half: int, m: int, fstride: int, ext: int):
    pw = ptr32(w)
    pt = ptr16(tw)
    span = m << 1
    base = 0
    while base < half:
        for k in range(m):
            i0 = (base + k) << 1
            i1 = i0 + (m << 1)
            ar = (((pw[i0] << ext) >> ext) * 16383 + 16384) >> 15
            ai = (((pw[i0 + 1] << ext) >> ext) * 16383 + 16384) >> 15
            br = (((pw[i1] << ext) >> ext) * 16383 + 16384) >> 15
            bi = (((pw[i1 + 1] << ext) >> ext) * 16383 + 16384) >> 15
            t = (k * fstride) << 1
            cr = (pt[t] ^ 0x8000) - 0x8000
            ci = (pt[t + 1] ^ 0x8000) - 0x8000
            tr = (br * cr - bi * ci + 16384) >> 15
            ti = (br * ci + bi * cr + 16384) >> 15
            pw[i1] = ar - tr
            pw[i1 + 1] = ai - ti
            pw[i0] = ar + tr
            pw[i0 + 1] = ai + ti
        base += span


@micropython.viper
def _split(w, y, tw, half: int, ext: int):
    pw = ptr32(w)
    py = ptr32(y)
    pt = ptr16(tw)
    dr = (((pw[0] << ext) >> ext) * 16383 + 16384) >> 15
    di = (((pw[1] << ext) >> ext) * 16383 + 16384) >> 15
    py[0] = dr + di
    py[1] = 0
    py[2 * half] = dr - di
    py[2 * half + 1] = 0
    st = 2 * half
    for k in range(1, (half >> 1) + 1):
        j = (half - k) << 1
        fr = (((pw[2 * k] << ext) >> ext) * 16383 + 16384) >> 15
        fi = (((pw[2 * k + 1] << ext) >> ext) * 16383 + 16384) >> 15
        gr = (((pw[j] << ext) >> ext) * 16383 + 16384) >> 15
        gi = ((0 - ((pw[j + 1] << ext) >> ext)) * 16383 + 16384) >> 15
        f1r = fr + gr
        f1i = fi + gi
        f2r = fr - gr
        f2i = fi - gi
        cr = (pt[st + 2 * k - 2] ^ 0x8000) - 0x8000
        ci = (pt[st + 2 * k - 1] ^ 0x8000) - 0x8000
        tr = (f2r * cr - f2i * ci + 16384) >> 15
        ti = (f2r * ci + f2i * cr + 16384) >> 15
        py[2 * k] = (f1r + tr) >> 1
        py[2 * k + 1] = (f1i + ti) >> 1
        py[j] = (f1r - tr) >> 1
        py[j + 1] = (ti - f1i) >> 1


def rfft_q15(x, y, tw, work):
    """See tinyml.preprocess.fft.rfft_q15: x array('h') of n, y array('i') of n + 2,
    tw twiddles_q15(n), work array('i') of n."""
    n = len(work)
    half = n >> 1
    if len(x) < n or len(y) < n + 2 or len(tw) < 3 * half:
        raise ValueError("rfft_q15: x needs n int16, y n + 2 int32, tw 3n/2 int16 (n = len(work) = %d)" % n)
    _load(x, work, permutation(half), half)
    fs = factors(half)
    m = 1
    fstride = half
    for level in range(len(fs) - 1, -1, -1):
        p = fs[level]
        fstride //= p
        if p == 4:
            _bfly4(work, tw, half, m, fstride, EXT)
        else:
            _bfly2(work, tw, half, m, fstride, EXT)
        m *= p
    _split(work, y, tw, half, EXT)
    return y


@micropython.viper
def _window(frame, coeffs, x, n: int, shift: int) -> int:
    # x[i] = saturate_int16((frame[i] * coeffs[i]) >> shift); returns TFLM's MaxAbs16 of x[:n]
    pf = ptr16(frame)
    pc = ptr16(coeffs)
    px = ptr16(x)
    top = 0
    for i in range(n):
        v = (((pf[i] ^ 0x8000) - 0x8000) * ((pc[i] ^ 0x8000) - 0x8000)) >> shift
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        px[i] = v
        if v > top:
            top = v
        elif 0 - v > top:
            top = 0 - v
            if v == -32768:
                top = v  # int16 wrap, as MaxAbs16
    return top


@micropython.viper
def _scale(x, n: int, shift: int):
    px = ptr16(x)
    for i in range(n):
        px[i] = px[i] << shift


def window_q15(frame, coeffs, x, shift):
    """See tinyml.preprocess.fft.window_q15."""
    n = len(coeffs)
    if len(frame) < n or len(x) < n:
        raise ValueError("window_q15: frame and x need len(coeffs) = %d int16" % n)
    top = _window(frame, coeffs, x, n, shift)
    if top <= 0:
        return 0
    bits = 0
    while top:
        bits += 1
        top >>= 1
    s = 15 - bits
    if s > 0:
        _scale(x, n, s)
        return s
    return 0
