# Motion features of an accelerometer (or gyroscope) window: per axis mean, standard deviation
# (population, as numpy.std), RMS, zero crossings (sign changes of the mean-removed signal) and
# peak-to-peak; optionally the same for the magnitude sqrt(x^2 + y^2 + z^2).
import math
from array import array

NAMES = ("mean", "std", "rms", "zero_crossings", "peak_to_peak")


def axis_features(x, start=0, step=1, n=None):
    """The five features of x[start::step] (n samples): (mean, std, rms, zero_crossings, p2p)."""
    if n is None:
        n = (len(x) - start + step - 1) // step
    if n <= 0:
        raise ValueError("motion: empty window")
    s = 0.0
    s2 = 0.0
    lo = hi = x[start]
    i = start
    for _ in range(n):
        v = x[i]
        s += v
        s2 += v * v
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
        i += step
    mean = s / n
    var = 0.0
    crossings = 0
    prev = 0
    i = start
    for _ in range(n):
        d = x[i] - mean
        var += d * d
        sign = 1 if d > 0 else -1 if d < 0 else 0
        if sign:
            if prev and sign != prev:
                crossings += 1
            prev = sign
        i += step
    return mean, math.sqrt(var / n), math.sqrt(s2 / n), crossings, hi - lo


def features(window, channels=3, magnitude=False, out=None):
    """Features of an interleaved window (channels values per sample): for each axis, then the
    magnitude if asked, the five NAMES in order; array('f') of 5 * (channels + magnitude)."""
    n = len(window) // channels
    k = channels + (1 if magnitude else 0)
    out = array("f", bytes(20 * k)) if out is None else out
    for c in range(channels):
        out[5 * c:5 * c + 5] = array("f", axis_features(window, c, channels, n))
    if magnitude:
        mag = array("f", bytes(4 * n))
        for i in range(n):
            acc = 0.0
            for c in range(channels):
                v = window[i * channels + c]
                acc += v * v
            mag[i] = math.sqrt(acc)
        out[5 * channels:5 * channels + 5] = array("f", axis_features(mag, 0, 1, n))
    return out
