# Framing and time-domain conditioning: a ring buffer that cuts a sample stream into overlapping
# frames (frame length, hop), window functions, DC removal and pre-emphasis.
import math
from array import array

_ITEM = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "f": 4, "d": 8}


def _zeros(typecode, n):
    return array(typecode, bytes(_ITEM[typecode] * n))


class RingBuffer:
    """The last `size` values written (typecode as array's). write() appends; read(out, n, lag)
    copies the n values that end `lag` values before the newest, oldest first."""

    def __init__(self, size, typecode="h"):
        self.buf = _zeros(typecode, size)
        self.size = size
        self.head = 0      # where the next value goes
        self.total = 0     # values written so far

    def write(self, values, n=None):
        n = len(values) if n is None else n
        if n > self.size:  # only the newest size values stay
            values = values[n - self.size:n]
            self.total += n - self.size
            n = self.size
        buf = self.buf
        h = self.head
        first = min(n, self.size - h)
        buf[h:h + first] = values[:first]
        if first < n:
            buf[0:n - first] = values[first:n]
        self.head = (h + n) % self.size
        self.total += n

    def read(self, out, n=None, lag=0):
        n = len(out) if n is None else n
        if n + lag > min(self.total, self.size):
            raise ValueError("ring buffer: %d values ending %d back are not held (%d written, size %d)"
                             % (n, lag, self.total, self.size))
        start = (self.head - lag - n) % self.size
        first = min(n, self.size - start)
        out[0:first] = self.buf[start:start + first]
        if first < n:
            out[first:n] = self.buf[0:n - first]
        return out


class Framer:
    """Overlapping frames of a stream: frames of `frame` samples every `hop` samples, each sample
    `channels` interleaved values. write() the stream in blocks, then while ready(): read(out) gives
    the next frame, oldest sample first (TFLM's micro_speech: frame 480, hop 320). The ring holds
    `capacity` samples (frame + 2 hops by default): a block may not overwrite a frame not read yet."""

    def __init__(self, frame, hop, typecode="h", channels=1, capacity=None):
        if hop < 1 or frame < 1:
            raise ValueError("frame and hop must be >= 1")
        self.frame = frame
        self.hop = hop
        self.channels = channels
        self.ring = RingBuffer((capacity or frame + 2 * hop) * channels, typecode)
        self.next_end = frame * channels  # stream position (in values) where the next frame ends
        self.typecode = typecode
        self.frames = 0

    def write(self, values, n=None):
        n = len(values) if n is None else n
        keep = self.ring.total + n - (self.next_end - self.frame * self.channels)
        if keep > self.ring.size:
            raise ValueError("framer: a block of %d values overruns the ring (%d values): read the ready "
                             "frames first, write smaller blocks or give a larger capacity" % (n, self.ring.size))
        self.ring.write(values, n)

    def ready(self):
        return self.ring.total >= self.next_end

    def new_frame(self):
        return _zeros(self.typecode, self.frame * self.channels)

    def read(self, out=None):
        """The next frame into out (a new array when None); raises if not ready()."""
        out = self.new_frame() if out is None else out
        lag = self.ring.total - self.next_end
        if lag < 0:
            raise ValueError("framer: the next frame is not complete yet")
        self.ring.read(out, self.frame * self.channels, lag)
        self.next_end += self.hop * self.channels
        self.frames += 1
        return out


# ---- window functions (float, and int16 fixed point for integer pipelines) ----

def _cosine_window(n, coeffs, periodic):
    d = n if periodic else n - 1
    w = _zeros("f", n) if n else array("f")
    for i in range(n):
        v = 0.0
        for k, a in enumerate(coeffs):
            v += (-1) ** k * a * math.cos(2 * math.pi * k * i / d) if d else a
        w[i] = v
    return w


def hann(n, periodic=True):
    """Hann window of n points (periodic: for spectral analysis, as numpy.hanning(n + 1)[:-1])."""
    return _cosine_window(n, (0.5, 0.5), periodic)


def hamming(n, periodic=True):
    return _cosine_window(n, (0.54, 0.46), periodic)


def blackman(n, periodic=True):
    return _cosine_window(n, (0.42, 0.5, 0.08), periodic)


def fixed(window, bits=12):
    """A float window as int16 fixed point with `bits` fractional bits (round half away from zero),
    for fft.window_q15 (TFLM's micro front end uses 12 bits)."""
    one = 1 << bits
    out = _zeros("h", len(window))
    for i, v in enumerate(window):
        q = int(math.floor(abs(v) * one + 0.5))
        out[i] = max(-32768, min(32767, q if v >= 0 else -q))
    return out


def apply(x, window, out=None):
    """out[i] = x[i] * window[i] (floats)."""
    n = len(window)
    out = _zeros("f", n) if out is None else out
    for i in range(n):
        out[i] = x[i] * window[i]
    return out


# ---- DC removal and pre-emphasis (stateful across blocks) ----

def remove_mean(x, out=None):
    """x minus its mean (floats); returns out."""
    n = len(x)
    out = _zeros("f", n) if out is None else out
    m = sum(x) / n if n else 0.0
    for i in range(n):
        out[i] = x[i] - m
    return out


class DCBlocker:
    """One-pole DC blocker y[n] = x[n] - x[n-1] + r * y[n-1] (r near 1: the corner is about
    (1 - r) * rate / (2 pi)). process() keeps its state from block to block."""

    def __init__(self, r=0.995):
        self.r = r
        self.x1 = 0.0
        self.y1 = 0.0

    def reset(self):
        self.x1 = self.y1 = 0.0

    def process(self, x, out=None):
        n = len(x)
        out = _zeros("f", n) if out is None else out
        r = self.r
        x1 = self.x1
        y1 = self.y1
        for i in range(n):
            v = x[i]
            y1 = v - x1 + r * y1
            x1 = v
            out[i] = y1
        self.x1 = x1
        self.y1 = y1
        return out


class PreEmphasis:
    """y[n] = x[n] - a * x[n-1], the first-order high-frequency boost of speech front ends; the last
    sample of a block carries into the next."""

    def __init__(self, a=0.97):
        self.a = a
        self.x1 = 0.0

    def reset(self):
        self.x1 = 0.0

    def process(self, x, out=None):
        n = len(x)
        out = _zeros("f", n) if out is None else out
        a = self.a
        x1 = self.x1
        for i in range(n):
            v = x[i]
            out[i] = v - a * x1
            x1 = v
        self.x1 = x1
        return out
