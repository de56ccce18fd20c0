# Float spectral features and the step to the model's int8 input: power spectrum, mel filterbank,
# log compression, per-feature normalization, quantization with the model's scale and zero point.
import math
from array import array


def _floats(n):
    return array("f", bytes(4 * n))


def power_spectrum(spec, out=None, scale=1.0):
    """|X[k]|^2 * scale for the n/2 + 1 bins of an rfft output (re, im interleaved)."""
    bins = len(spec) // 2
    out = _floats(bins) if out is None else out
    for k in range(bins):
        re = spec[2 * k]
        im = spec[2 * k + 1]
        out[k] = (re * re + im * im) * scale
    return out


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


class MelFilterbank:
    """n_mels triangular filters on the HTK mel scale, their edges n_mels + 2 points equally spaced
    in mel from fmin to fmax (default rate / 2), peak 1, over the n_fft / 2 + 1 bins of a power
    spectrum (bin k at k * rate / n_fft Hz). Stored sparse: per filter, its first bin and weights."""

    def __init__(self, n_fft, rate, n_mels=40, fmin=0.0, fmax=None):
        fmax = rate / 2.0 if fmax is None else fmax
        if not 0 <= fmin < fmax <= rate / 2.0:
            raise ValueError("mel filterbank: need 0 <= fmin < fmax <= rate / 2")
        self.n_fft = n_fft
        self.n_mels = n_mels
        self.bins = n_fft // 2 + 1
        lo = hz_to_mel(fmin)
        hi = hz_to_mel(fmax)
        edges = [mel_to_hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
        self.starts = []
        self.weights = []
        for m in range(n_mels):
            left, centre, right = edges[m], edges[m + 1], edges[m + 2]
            first = None
            w = []
            for k in range(self.bins):
                f = k * rate / n_fft
                if left < f < right:
                    v = (f - left) / (centre - left) if f <= centre else (right - f) / (right - centre)
                    if first is None:
                        first = k
                    w.append(v)
                elif first is not None:
                    break
            self.starts.append(0 if first is None else first)
            self.weights.append(array("f", w))

    def apply(self, power, out=None):
        """The n_mels filter energies of a power spectrum (n_fft / 2 + 1 values)."""
        out = _floats(self.n_mels) if out is None else out
        for m in range(self.n_mels):
            s = self.starts[m]
            acc = 0.0
            for j, w in enumerate(self.weights[m]):
                acc += w * power[s + j]
            out[m] = acc
        return out


def log_compress(x, out=None, floor=1e-10, db=False):
    """ln(max(x, floor)) of each value, or 10 log10(...) with db=True."""
    n = len(x)
    out = _floats(n) if out is None else out
    for i in range(n):
        v = x[i]
        v = math.log(v if v > floor else floor)
        out[i] = v * 4.342944819032518 if db else v  # 10 / ln(10)
    return out


class Normalizer:
    """Per-feature standardization (x - mean[i]) / std[i], with the statistics of the training set
    (e.g. numpy's mean/std over axis 0, saved in a constant file)."""

    def __init__(self, mean, std):
        if len(mean) != len(std):
            raise ValueError("normalizer: mean and std must have the same length")
        self.mean = mean
        self.inv = [1.0 / s if s else 0.0 for s in std]

    def apply(self, x, out=None):
        n = len(self.mean)
        out = _floats(n) if out is None else out
        for i in range(n):
            out[i] = (x[i] - self.mean[i]) * self.inv[i]
        return out


def round_half_away(v):
    """Round half away from zero (TFLite's rounding; Python's round() rounds half to even)."""
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(0.5 - v))


class Quantizer:
    """Real features to the model's int8 input: clamp(round(x / scale) + zero_point, -128, 127).
    Quantizer.for_model(model) takes the scale and zero point of the model's input k."""

    def __init__(self, scale, zero_point, lo=-128, hi=127):
        self.scale = scale
        self.zero_point = zero_point
        self.lo = lo
        self.hi = hi

    @classmethod
    def for_model(cls, model, k=0):
        t = model.inputs[k]
        return cls(t.scale, t.zero_point)

    def apply(self, x, out=None):
        n = len(x)
        out = array("b", bytes(n)) if out is None else out
        scale = self.scale
        zp = self.zero_point
        lo = self.lo
        hi = self.hi
        for i in range(n):
            q = round_half_away(x[i] / scale) + zp
            out[i] = lo if q < lo else hi if q > hi else q
        return out
