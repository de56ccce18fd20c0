# Real FFTs for preprocessing.
# - rfft_q15: the integer real FFT of TFLM's signal library (KissFFT 1.3.0 built with FIXED_POINT=16,
#   kiss_fftr), bit for bit: Q15 twiddles, every radix-4/radix-2 stage divides by its radix with
#   rounding, so the output is the spectrum divided by n. Three backends give the same ints:
#   native (tinyml_kernels.rfft_q15, C), viper (tinyml.fft_viper) and Python (here).
#   Intermediates are kept in int32 where KissFFT stores int16: the two agree unless a value leaves
#   int16, which needs a full-scale input aligned with a bin (windowed, auto-scaled audio never is).
# - rfft: a float real FFT (pure Python), for float feature pipelines.
# n (the FFT length) is a power of two >= 4 everywhere.
import math
from array import array
from tinyml.preprocess.fft_plan import factors, permutation  # noqa: F401  (part of this module's API)

PI = 3.14159265358979323846264338327  # KissFFT's constant (a double either way)


def _check_n(n):
    if n < 4 or n & (n - 1):
        raise ValueError("FFT length must be a power of two >= 4, got %d" % n)


def twiddles_q15(n):
    """The Q15 twiddles rfft_q15 takes for length n, as array('h') of 3*n/2 values: the n/2 complex
    twiddles of the inner complex FFT (re, im pairs), then kiss_fftr's n/4 'super twiddles'.
    Each is floor(0.5 + 32767*cos/sin(phase)) in double precision, as KissFFT computes them; a board
    whose floats are single precision should load them from a file written on the host instead
    (the micro_speech front end does)."""
    _check_n(n)
    half = n // 2
    tw = array("h", bytes(3 * half * 2))
    for i in range(half):
        phase = -2 * PI * i / half
        tw[2 * i] = int(math.floor(0.5 + 32767 * math.cos(phase)))
        tw[2 * i + 1] = int(math.floor(0.5 + 32767 * math.sin(phase)))
    for i in range(half // 2):
        phase = -PI * ((i + 1) / half + 0.5)
        tw[2 * half + 2 * i] = int(math.floor(0.5 + 32767 * math.cos(phase)))
        tw[2 * half + 2 * i + 1] = int(math.floor(0.5 + 32767 * math.sin(phase)))
    return tw


def rfft_q15(x, y, tw, work):
    """Q15 real FFT (see the top of this file). x: n int16 samples (array('h'), or any sequence of
    ints in -32768..32767); y: array('i') of n + 2, gets re, im of bins 0..n/2; tw: twiddles_q15(n);
    work: array('i') of n (scratch). Returns y."""
    n = len(work)
    half = n >> 1
    perm = permutation(half)
    w = work
    for pos in range(half):
        k = perm[pos] << 1
        w[2 * pos] = x[k]
        w[2 * pos + 1] = x[k + 1]
    fs = factors(half)
    level = len(fs) - 1
    m = 1
    while level >= 0:
        p = fs[level]
        fstride = 1
        for f in fs[:level]:
            fstride *= f
        span = p * m
        if p == 4:
            for base in range(0, half, span):
                _bfly4(w, tw, base, m, fstride)
        else:
            for base in range(0, half, span):
                _bfly2(w, tw, base, m, fstride)
        m = span
        level -= 1
    _split(w, y, tw, half)
    return y


def _bfly2(w, tw, base, m, fstride):
    for k in range(m):
        i0 = (base + k) << 1
        i1 = i0 + (m << 1)
        ar = (w[i0] * 16383 + 16384) >> 15
        ai = (w[i0 + 1] * 16383 + 16384) >> 15
        br = (w[i1] * 16383 + 16384) >> 15
        bi = (w[i1 + 1] * 16383 + 16384) >> 15
        t = (k * fstride) << 1
        cr = tw[t]
        ci = tw[t + 1]
        tr = (br * cr - bi * ci + 16384) >> 15
        ti = (br * ci + bi * cr + 16384) >> 15
        w[i1] = ar - tr
        w[i1 + 1] = ai - ti
        w[i0] = ar + tr
        w[i0 + 1] = ai + ti


def _bfly4(w, tw, base, m, fstride):
    m2 = m << 1
    for k in range(m):
        i0 = (base + k) << 1
        i1 = i0 + m2
        i2 = i1 + m2
        i3 = i2 + m2
        a0r = (w[i0] * 8191 + 16384) >> 15
        a0i = (w[i0 + 1] * 8191 + 16384) >> 15
        a1r = (w[i1] * 8191 + 16384) >> 15
        a1i = (w[i1 + 1] * 8191 + 16384) >> 15
        a2r = (w[i2] * 8191 + 16384) >> 15
        a2i = (w[i2 + 1] * 8191 + 16384) >> 15
        a3r = (w[i3] * 8191 + 16384) >> 15
        a3i = (w[i3 + 1] * 8191 + 16384) >> 15
        t = (k * fstride) << 1
        cr = tw[t]
        ci = tw[t + 1]
        s0r = (a1r * cr - a1i * ci + 16384) >> 15
        s0i = (a1r * ci + a1i * cr + 16384) >> 15
        t <<= 1
        cr = tw[t]
        ci = tw[t + 1]
        s1r = (a2r * cr - a2i * ci + 16384) >> 15
        s1i = (a2r * ci + a2i * cr + 16384) >> 15
        t = (3 * k * fstride) << 1
        cr = tw[t]
        ci = tw[t + 1]
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
        w[i2] = a0r - s3r
        w[i2 + 1] = a0i - s3i
        w[i0] = a0r + s3r
        w[i0 + 1] = a0i + s3i
        w[i1] = s5r + s4i
        w[i1 + 1] = s5i - s4r
        w[i3] = s5r - s4i
        w[i3 + 1] = s5i + s4r


def _split(w, y, tw, half):
    # kiss_fftr: the half-length complex FFT of (even, odd) samples -> the real signal's spectrum
    dr = (w[0] * 16383 + 16384) >> 15
    di = (w[1] * 16383 + 16384) >> 15
    y[0] = dr + di
    y[1] = 0
    y[2 * half] = dr - di
    y[2 * half + 1] = 0
    st = 2 * half
    for k in range(1, (half >> 1) + 1):
        j = (half - k) << 1
        fr = (w[2 * k] * 16383 + 16384) >> 15
        fi = (w[2 * k + 1] * 16383 + 16384) >> 15
        gr = (w[j] * 16383 + 16384) >> 15
        gi = (-w[j + 1] * 16383 + 16384) >> 15
        f1r = fr + gr
        f1i = fi + gi
        f2r = fr - gr
        f2i = fi - gi
        cr = tw[st + 2 * k - 2]
        ci = tw[st + 2 * k - 1]
        tr = (f2r * cr - f2i * ci + 16384) >> 15
        ti = (f2r * ci + f2i * cr + 16384) >> 15
        y[2 * k] = (f1r + tr) >> 1
        y[2 * k + 1] = (f1i + ti) >> 1
        y[j] = (f1r - tr) >> 1
        y[j + 1] = (ti - f1i) >> 1


def auto_scale(x, n=None):
    """TFLM's FftAutoScale: shifts int16 samples x[:n] left in place so the largest magnitude has its
    top bit at bit 14; returns the shift. As TFLM's int16 MaxAbs16: a -32768 sample wraps the running
    maximum to -32768 (later samples then restart it), a maximum of 0 or -32768 gives a shift of 0,
    and shifted samples wrap to int16."""
    n = len(x) if n is None else n
    top = 0
    wrapped = False
    for i in range(n):
        v = x[i]
        if v > top:
            top = v
        elif -v > top:
            if v == -32768:
                top = -32768
                wrapped = True
            else:
                top = -v
    if top <= 0:
        return 0
    bits = 0
    while top:
        bits += 1
        top >>= 1
    shift = 15 - bits
    if shift <= 0:
        return 0
    if wrapped:  # the maximum missed a sample: some may leave int16
        for i in range(n):
            x[i] = (((x[i] << shift) + 32768) & 0xFFFF) - 32768
    else:
        for i in range(n):
            x[i] = x[i] << shift
    return shift


def window_q15(frame, coeffs, x, shift):
    """TFLM's SignalWindow then FftAutoScale, for n = len(coeffs) samples: x[i] = saturate_int16(
    (frame[i] * coeffs[i]) >> shift), then x[:n] auto-scaled in place (auto_scale). frame, x:
    int16 (array('h')); returns the auto-scale shift."""
    n = len(coeffs)
    for i in range(n):
        v = (frame[i] * coeffs[i]) >> shift
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        x[i] = v
    return auto_scale(x, n)


# ---- backends ----

class Backend:
    """The integer kernels of one backend: rfft_q15(x, y, tw, work) and window_q15(frame, coeffs, x,
    shift), the same ints from each."""

    def __init__(self, name, rfft_q15, window_q15):
        self.name = name
        self.rfft_q15 = rfft_q15
        self.window_q15 = window_q15


def load(name=None):
    """The FFT backend: native (tinyml_kernels, C), else viper (tinyml.fft_viper), else python; name
    forces one. Returns a Backend."""
    from tinyml import backends
    if name is not None and name not in backends.NAMES:
        raise ValueError("unknown backend %r: choose one of %s" % (name, ", ".join(backends.NAMES)))
    whys = []
    try:
        for n in ((name,) if name else backends.NAMES):
            try:
                if n == "native":
                    k = backends._import(n)  # tinyml_kernels_fft.mpy
                elif n == "viper":
                    from tinyml import fft_viper as k
                else:
                    return Backend(n, rfft_q15, window_q15)
                return Backend(n, k.rfft_q15, k.window_q15)
            except Exception as e:  # ImportError, AttributeError (a native module without FFT), no viper
                whys.append("%s: %s" % (n, e))
    finally:  # the backend picker's code off the heap, as a model's load leaves it (tinyml/model.py)
        from tinyml.steps import forget
        forget("backends", "native")
    raise ImportError("tinyml: FFT backend %r cannot be used: %s" % (name, "; ".join(whys)))


# ---- float FFT ----

def rfft(x, n=None):
    """Float real FFT of x (zero-padded or cut to n, a power of two): a list of n + 2 floats,
    re, im of bins 0..n/2 (numpy.fft.rfft's values, interleaved)."""
    n = len(x) if n is None else n
    _check_n(n)
    half = n >> 1
    perm = permutation(half)
    re = [0.0] * half
    im = [0.0] * half
    nx = len(x)
    for pos in range(half):
        k = perm[pos] << 1
        re[pos] = float(x[k]) if k < nx else 0.0
        im[pos] = float(x[k + 1]) if k + 1 < nx else 0.0
    fs = factors(half)
    m = 1
    for level in range(len(fs) - 1, -1, -1):
        p = fs[level]
        span = p * m
        step = -2 * math.pi / span
        for k in range(m):
            # twiddles w^k, w^2k, w^3k of this stage
            c1 = math.cos(step * k)
            s1 = math.sin(step * k)
            if p == 2:
                for base in range(k, half, span):
                    j = base + m
                    tr = re[j] * c1 - im[j] * s1
                    ti = re[j] * s1 + im[j] * c1
                    re[j] = re[base] - tr
                    im[j] = im[base] - ti
                    re[base] += tr
                    im[base] += ti
                continue
            c2 = math.cos(2 * step * k)
            s2 = math.sin(2 * step * k)
            c3 = math.cos(3 * step * k)
            s3 = math.sin(3 * step * k)
            for i0 in range(k, half, span):
                i1 = i0 + m
                i2 = i1 + m
                i3 = i2 + m
                ar = re[i1] * c1 - im[i1] * s1
                ai = re[i1] * s1 + im[i1] * c1
                br = re[i2] * c2 - im[i2] * s2
                bi = re[i2] * s2 + im[i2] * c2
                cr = re[i3] * c3 - im[i3] * s3
                ci = re[i3] * s3 + im[i3] * c3
                r0 = re[i0]
                j0 = im[i0]
                pr = r0 + br
                pi = j0 + bi
                qr = r0 - br
                qi = j0 - bi
                ur = ar + cr
                ui = ai + ci
                vr = ar - cr
                vi = ai - ci
                re[i0] = pr + ur
                im[i0] = pi + ui
                re[i2] = pr - ur
                im[i2] = pi - ui
                re[i1] = qr + vi
                im[i1] = qi - vr
                re[i3] = qr - vi
                im[i3] = qi + vr
        m = span
    out = [0.0] * (n + 2)
    out[0] = re[0] + im[0]
    out[n] = re[0] - im[0]
    for k in range(1, half + 1):
        j = half - k if k < half else 0
        fr = re[k] if k < half else re[0]
        fi = im[k] if k < half else im[0]
        gr = re[j]
        gi = -im[j]
        er = 0.5 * (fr + gr)
        ei = 0.5 * (fi + gi)
        orr = 0.5 * (fr - gr)
        oi = 0.5 * (fi - gi)
        ang = -math.pi * k / half
        c = math.cos(ang)
        s = math.sin(ang)
        # X[k] = E[k] + e^{-i pi k / half} O[k], with O[k] = -i (F[k] - conj F[half-k]) / 2
        tr = orr * c - oi * s
        ti = orr * s + oi * c
        out[2 * k] = er + ti
        out[2 * k + 1] = ei - tr
    out[n] = re[0] - im[0]
    out[n + 1] = 0.0
    return out
