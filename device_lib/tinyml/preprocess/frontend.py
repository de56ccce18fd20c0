# TFLM's micro front end (the micro_speech features), bit-exact with audio_preprocessor_int8.tflite
# run in TFLM: one frame of int16 audio in, one int8 feature vector out, with state (the noise
# estimate) carried from frame to frame. All integer arithmetic, the same on every board.
#   window (Q12 coefficients, >> shift, saturate to int16) -> FFT auto-scale -> Q15 real FFT of
#   n_fft (zero-padded) -> energy re^2 + im^2 of bins [start, end) -> filterbank (weights and
#   unweights, 64-bit accumulators) -> square root >> auto-scale shift -> spectral subtraction
#   (noise estimate) -> PCAN gain control -> log (Q6) -> integer chain to int8 (x*256+333)/666-128.
# The constants come from models/micro_speech/frontend.bin, exported from the .tflite on the host.
# Python ints are exact: values that are uint32 / uint64 in TFLM are masked where TFLM truncates.
import math
from array import array
from tinyml.preprocess import constfile, fft

U32 = 0xFFFFFFFF
PCAN_SNR_BITS = 12      # kPcanSnrBits
PCAN_OUTPUT_BITS = 6    # kPcanOutputBits
LOG_COEFF = 45426       # ln(2) in Q16 (kLogCoeff)


_NIBBLE = b"\x00\x01\x02\x02\x03\x03\x03\x03\x04\x04\x04\x04\x04\x04\x04\x04"


def _bits(x):
    """Most significant bit position, 1-based (0 for 0): TFLM's MostSignificantBit32 for x > 0."""
    n = 0
    while x >= 0x10000:
        x >>= 16
        n += 16
    if x >= 256:
        x >>= 8
        n += 8
    if x >= 16:
        x >>= 4
        n += 4
    return n + _NIBBLE[x]


def isqrt(n):
    """floor(sqrt(n)) for an int n >= 0, exact: a float estimate (single precision on some boards),
    then corrected."""
    s = int(math.sqrt(n))
    while s * s > n:
        s -= 1
    while (s + 1) * (s + 1) <= n:
        s += 1
    return s


def sqrt_round(n):
    """TFLM's Sqrt64 (Sqrt32 below 2**32): floor sqrt rounded up when the remainder exceeds it,
    saturated at 0xFFFF (below 2**32) or 0xFFFFFFFF."""
    s = isqrt(n)
    if n - s * s > s and s != (0xFFFF if n <= U32 else U32):
        s += 1
    return s


def log32(x, out_scale, lut):
    """TFLM's Log32: ln(x) * out_scale in Q16 fixed point, rounded; x >= 1."""
    integer = _bits(x) - 1
    frac = x - (1 << integer)
    if integer < 16:
        frac <<= 16 - integer
    else:
        frac >>= integer - 16
    seg = frac >> 9
    c0 = lut[seg]
    rel = ((lut[seg + 1] - c0) * (frac - (seg << 9))) >> 16
    log2 = ((integer << 16) + frac + c0 + rel) & U32
    loge = (LOG_COEFF * log2 + 32768) >> 16
    return ((out_scale * loge + 32768) & U32) >> 16


def pcan_gain(x, lut):
    """TFLM's WideDynamicFunction: the PCAN gain for noise estimate x, from the piecewise LUT."""
    if x <= 2:
        return lut[x]
    interval = _bits(x)
    at = 4 * interval - 6
    if interval < 11:
        frac = (x << (11 - interval)) & 0x3FF
    else:
        frac = (x >> (interval - 11)) & 0x3FF
    r = (lut[at + 2] * frac) >> 5
    r += lut[at + 1] << 5
    r = ((r * frac + 0x80000000) & U32) - 0x80000000  # int32, as TFLM's
    r = ((r + 16384) >> 15) + lut[at]
    return ((r + 32768) & 0xFFFF) - 32768  # int16


def pcan_shrink(x):
    if x < (2 << PCAN_SNR_BITS):
        return ((x * x) & U32) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    return (x >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1 << PCAN_OUTPUT_BITS)


def _int32_div(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


class MicroFrontend:
    """frontend = MicroFrontend('frontend.bin'); features = frontend.process(frame) for each frame
    of `frontend.frame` int16 samples (array('h')), in order: returns array('b') of `channels`
    features (the same array each call). backend forces the FFT backend (native, viper, python)."""

    def __init__(self, path="frontend.bin", backend=None):
        c = constfile.load(path)
        (self.frame, self.window_shift, self.n_fft, self.start, self.end, self.channels,
         self.smoothing, self.one_minus_smoothing, self.alt_smoothing, self.alt_one_minus_smoothing,
         self.smoothing_bits, self.ss_bits, self.min_signal_remaining, self.clamping,
         self.snr_shift, self.correction_bits, self.output_scale) = c["params"]
        self.window = c["window"]
        self.twiddles = c["twiddles"]
        self.fb_weights = c["fb_weights"]
        self.fb_unweights = c["fb_unweights"]
        self.fb_freq_starts = c["fb_freq_starts"]
        self.fb_weight_starts = c["fb_weight_starts"]
        self.fb_widths = c["fb_widths"]
        self.pcan_lut = c["pcan_lut"]
        self.log_lut = c["log_lut"]
        self.post = c["post"]
        self._chain = [(self.post[k], self.post[k + 1]) for k in range(0, len(self.post), 2)]
        k = fft.load(backend)
        self.fft_backend = k.name
        self._rfft = k.rfft_q15
        self._window = k.window_q15
        n = self.n_fft
        self._x = array("h", bytes(2 * n))  # the windowed frame, zero-padded to n_fft
        self._spec = array("i", bytes(4 * (n + 2)))
        self._work = array("i", bytes(4 * n))
        self._energy = [0] * (n // 2 + 1)
        self.out = array("b", bytes(self.channels))
        self.noise = [0] * self.channels
        self.last_scale = 0

    def reset(self):
        """Forgets the noise estimate (a new, unrelated stream)."""
        for i in range(self.channels):
            self.noise[i] = 0

    def window_frame(self, frame):
        """Window and auto-scale one frame into the FFT input; returns the auto-scale shift."""
        return self._window(frame, self.window, self._x, self.window_shift)

    def spectrum(self):
        """The Q15 real FFT of the windowed frame: array('i') of re, im for n_fft/2 + 1 bins."""
        return self._rfft(self._x, self._spec, self.twiddles, self._work)

    def filterbank(self, spec):
        """The 64-bit filterbank accumulators of the energy of spec (channels values)."""
        e = self._energy
        for b in range(self.start, self.end):
            re = spec[2 * b]
            im = spec[2 * b + 1]
            e[b] = re * re + im * im
        fs = self.fb_freq_starts
        ws = self.fb_weight_starts
        wd = self.fb_widths
        wt = self.fb_weights
        uw = self.fb_unweights
        out = [0] * self.channels
        acc = 0
        for ch in range(self.channels + 1):
            f0 = fs[ch]
            w0 = ws[ch]
            un = 0
            for j in range(wd[ch]):
                v = e[f0 + j]  # zero outside [start, end)
                acc += wt[w0 + j] * v
                un += uw[w0 + j] * v
            if ch:
                out[ch - 1] = acc
            acc = un
        return out

    def process(self, frame, out=None):
        """One frame (self.frame int16 samples) -> array('b') of self.channels int8 features."""
        scale = self.window_frame(frame)
        self.last_scale = scale
        spec = self.spectrum()
        bank = self.filterbank(spec)
        return self.finish(bank, scale, out)

    def finish(self, bank, scale, out=None):
        """From the filterbank accumulators on: square root, noise reduction, PCAN, log, int8.
        (sqrt_round, pcan_gain, pcan_shrink and log32, inlined: this runs 40 times a frame.)"""
        out = self.out if out is None else out
        noise = self.noise
        sb = self.smoothing_bits
        ssb = self.ss_bits
        lut = self.pcan_lut
        loglut = self.log_lut
        chain = self._chain
        snr_shift = self.snr_shift
        corr = self.correction_bits
        oscale = self.output_scale
        minsig = self.min_signal_remaining
        clamping = self.clamping
        smooth = (self.smoothing, self.alt_smoothing)
        one_minus = (self.one_minus_smoothing, self.alt_one_minus_smoothing)
        bits = _bits
        sqrt = math.sqrt
        shrink_lo = 2 << PCAN_SNR_BITS
        shrink_sq = 2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS
        shrink_sh = PCAN_SNR_BITS - PCAN_OUTPUT_BITS
        shrink_one = 1 << PCAN_OUTPUT_BITS
        for i in range(self.channels):
            # Sqrt64 >> auto-scale shift
            v = bank[i]
            x = int(sqrt(v))
            while x * x > v:
                x -= 1
            while (x + 1) * (x + 1) <= v:
                x += 1
            if v - x * x > x and x != (0xFFFF if v <= U32 else U32):
                x += 1
            x >>= scale
            # spectral subtraction
            up = (x << sb) & U32
            n = ((up * smooth[i & 1] + noise[i] * one_minus[i & 1]) >> ssb) & U32
            est = n
            if est > up:
                est = up
                if clamping:
                    n = est
            noise[i] = n
            floor = ((x * minsig) >> ssb) & U32
            x = (up - est) >> sb
            if x < floor:
                x = floor
            # PCAN, the gain from the updated noise estimate (WideDynamicFunction)
            if n <= 2:
                g = lut[n]
            else:
                k = bits(n)
                at = 4 * k - 6
                frac = ((n << (11 - k)) if k < 11 else (n >> (k - 11))) & 0x3FF
                g = ((lut[at + 2] * frac) >> 5) + (lut[at + 1] << 5)
                g = ((g * frac + 0x80000000) & U32) - 0x80000000
                g = ((((g + 16384) >> 15) + lut[at] + 32768) & 0xFFFF) - 32768
            x = ((x * (g & U32)) >> snr_shift) & U32
            if x < shrink_lo:
                x = ((x * x) & U32) >> shrink_sq
            else:
                x = (x >> shrink_sh) - shrink_one
            # log (Log32, then saturated to int16)
            x = (x << corr) & U32
            if x > 1:
                k = bits(x) - 1
                frac = x - (1 << k)
                frac = (frac << (16 - k)) if k < 16 else (frac >> (k - 16))
                seg = frac >> 9
                c0 = loglut[seg]
                frac += c0 + (((loglut[seg + 1] - c0) * (frac - (seg << 9))) >> 16)
                x = (LOG_COEFF * (((k << 16) + frac) & U32) + 32768) >> 16
                x = ((oscale * x + 32768) & U32) >> 16
                if x > 32767:
                    x = 32767
            else:
                x = 0
            # the integer chain to int8
            for op, c in chain:
                if op == 1:
                    x *= c
                elif op == 2:
                    x += c
                elif op == 3:
                    x = _int32_div(x, c)
                elif op == 4:
                    if x > c:
                        x = c
                elif x < c:
                    x = c
            out[i] = x
        return out
