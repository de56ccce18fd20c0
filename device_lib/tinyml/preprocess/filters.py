# IIR biquad filters (float): second-order sections in transposed direct form II, designed with
# Robert Bristow-Johnson's Audio EQ Cookbook formulas, alone or in cascade. State carries from block
# to block, so a stream can be filtered a block at a time.
import math
from array import array


class Biquad:
    """y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2] (a0 normalized to 1)."""

    def __init__(self, b0, b1, b2, a1, a2):
        self.b0, self.b1, self.b2, self.a1, self.a2 = b0, b1, b2, a1, a2
        self.z1 = 0.0
        self.z2 = 0.0

    @property
    def coefficients(self):
        """(b0, b1, b2, a1, a2)"""
        return self.b0, self.b1, self.b2, self.a1, self.a2

    def reset(self):
        self.z1 = self.z2 = 0.0

    def process(self, x, out=None):
        """Filters a block (any sequence of numbers); returns out (array('f') by default)."""
        n = len(x)
        out = array("f", bytes(4 * n)) if out is None else out
        b0, b1, b2, a1, a2 = self.b0, self.b1, self.b2, self.a1, self.a2
        z1 = self.z1
        z2 = self.z2
        for i in range(n):
            v = x[i]
            y = b0 * v + z1
            z1 = b1 * v - a1 * y + z2
            z2 = b2 * v - a2 * y
            out[i] = y
        self.z1 = z1
        self.z2 = z2
        return out

    def response(self, f, rate):
        """|H| at frequency f (Hz) for sampling rate `rate`."""
        w = 2 * math.pi * f / rate
        c1, s1, c2, s2 = math.cos(w), math.sin(w), math.cos(2 * w), math.sin(2 * w)
        nr = self.b0 + self.b1 * c1 + self.b2 * c2
        ni = -(self.b1 * s1 + self.b2 * s2)
        dr = 1 + self.a1 * c1 + self.a2 * c2
        di = -(self.a1 * s1 + self.a2 * s2)
        return math.sqrt((nr * nr + ni * ni) / (dr * dr + di * di))


def _design(kind, f0, rate, q, gain_db=0.0):
    if not 0 < f0 < rate / 2:
        raise ValueError("biquad: the frequency must lie in (0, rate / 2)")
    w0 = 2 * math.pi * f0 / rate
    cw = math.cos(w0)
    alpha = math.sin(w0) / (2 * q)
    if kind == "lowpass":
        b = ((1 - cw) / 2, 1 - cw, (1 - cw) / 2)
    elif kind == "highpass":
        b = ((1 + cw) / 2, -(1 + cw), (1 + cw) / 2)
    elif kind == "bandpass":  # constant 0 dB peak gain
        b = (alpha, 0.0, -alpha)
    elif kind == "notch":
        b = (1.0, -2 * cw, 1.0)
    elif kind == "peak":
        g = 10 ** (gain_db / 40)
        b = (1 + alpha * g, -2 * cw, 1 - alpha * g)
        a0 = 1 + alpha / g
        return Biquad(b[0] / a0, b[1] / a0, b[2] / a0, -2 * cw / a0, (1 - alpha / g) / a0)
    else:
        raise ValueError("biquad: unknown kind %r" % kind)
    a0 = 1 + alpha
    return Biquad(b[0] / a0, b[1] / a0, b[2] / a0, -2 * cw / a0, (1 - alpha) / a0)


def lowpass(f0, rate, q=0.7071067811865476):
    return _design("lowpass", f0, rate, q)


def highpass(f0, rate, q=0.7071067811865476):
    return _design("highpass", f0, rate, q)


def bandpass(f0, rate, q=0.7071067811865476):
    return _design("bandpass", f0, rate, q)


def notch(f0, rate, q=0.7071067811865476):
    return _design("notch", f0, rate, q)


def peak(f0, rate, gain_db, q=0.7071067811865476):
    return _design("peak", f0, rate, q, gain_db)


class Cascade:
    """Second-order sections in series (e.g. a 4th-order Butterworth is two lowpass sections with
    q = 0.5412 and 1.3066)."""

    def __init__(self, *sections):
        self.sections = list(sections)

    def reset(self):
        for s in self.sections:
            s.reset()

    def process(self, x, out=None):
        for s in self.sections:
            out = s.process(x, out)
            x = out
        return out

    def response(self, f, rate):
        r = 1.0
        for s in self.sections:
            r *= s.response(f, rate)
        return r
