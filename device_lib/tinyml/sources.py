# Sensor sources for pipelines (tinyml.app): hardware (machine.ADC, an I2S microphone, an MPU6050
# accelerometer on I2C) and replays of recorded data (.wav, .npy, .csv) for the host, the emulated
# boards and tests. Every source has:
#   rate (samples per second per channel), channels, typecode (of the array it fills),
#   readinto(buf) -> number of values written (a multiple of channels; 0 at the end), close().
# Values are interleaved by channel. Audio sources give int16 ('h'); sensors give floats ('f').
import struct
from array import array

_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "f": 4, "d": 8}


class SourceError(ValueError):
    pass


def typecode(a):
    """The typecode of an array (MicroPython's arrays have no .typecode: read it from the repr of an
    empty slice, "array('h')"); None for anything else."""
    if not isinstance(a, array):
        return None
    code = getattr(a, "typecode", None)
    return code if code else repr(a[:0])[7]


_typecode = typecode


class Source:
    rate = 0
    channels = 1
    typecode = "h"

    def readinto(self, buf):
        raise NotImplementedError

    def close(self):
        pass

    def new_block(self, samples):
        """An array that holds `samples` samples (times channels values) of this source."""
        return array(self.typecode, bytes(_SIZES[self.typecode] * samples * self.channels))

    def read_all(self, block=1024):
        """Every remaining value as one array (replays; a live source never ends)."""
        out = array(self.typecode)
        buf = self.new_block(block)
        while True:
            n = self.readinto(buf)
            if not n:
                return out
            out.extend(buf if n == len(buf) else buf[:n])


# ---- replays ----

class ArraySource(Source):
    """Replays values already in memory (an array or list; interleaved when channels > 1)."""

    def __init__(self, values, rate, channels=1, typecode=None):
        self.typecode = typecode or _typecode(values) or "f"
        self.values = values if _typecode(values) == self.typecode else array(self.typecode, values)
        self.rate = rate
        self.channels = channels
        self.at = 0

    def readinto(self, buf):
        n = min(len(buf), len(self.values) - self.at)
        n -= n % self.channels
        if n > 0:
            buf[0:n] = self.values[self.at:self.at + n]
            self.at += n
        return max(n, 0)


class WavSource(Source):
    """A RIFF/WAVE file: PCM 8, 16 or 32 bits, or 32-bit float, any channel count, read as int16
    (8-bit scaled up, 32-bit reduced to the top 16 bits, float times 32767). channel=k keeps only
    channel k (mono); None keeps them all, interleaved."""

    def __init__(self, path, channel=None):
        self.path = path
        self.f = open(path, "rb")
        self.typecode = "h"
        head = self.f.read(12)
        if len(head) < 12 or head[0:4] != b"RIFF" or head[8:12] != b"WAVE":
            self.f.close()
            raise SourceError("%s: not a WAVE file (no RIFF/WAVE header)" % path)
        fmt = None
        while True:
            ch = self.f.read(8)
            if len(ch) < 8:
                self.f.close()
                raise SourceError("%s: no data chunk" % path)
            cid = ch[0:4]
            size = struct.unpack("<I", ch[4:8])[0]
            if cid == b"fmt ":
                fmt = self.f.read(size + (size & 1))
            elif cid == b"data":
                self.remaining = size
                break
            else:
                self.f.seek(size + (size & 1), 1)
        if fmt is None or len(fmt) < 16:
            self.f.close()
            raise SourceError("%s: no fmt chunk before the data" % path)
        tag, nch, rate, _, align, bits = struct.unpack("<HHIIHH", fmt[:16])
        if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's tag
            tag = struct.unpack("<H", fmt[24:26])[0]
        if not ((tag == 1 and bits in (8, 16, 32)) or (tag == 3 and bits == 32)):
            self.f.close()
            raise SourceError("%s: %d-bit samples of format %d; tinyml reads PCM 8/16/32 and float32"
                              % (path, bits, tag))
        self.rate = rate
        self.file_channels = nch
        self.bits = bits
        self.float = tag == 3
        self.width = bits // 8
        if channel is not None and not 0 <= channel < nch:
            self.f.close()
            raise SourceError("%s has %d channel(s), no channel %d" % (path, nch, channel))
        self.channel = channel
        self.channels = 1 if channel is not None else nch
        self.frames = self.remaining // (self.width * nch)

    def readinto(self, buf):
        n = len(buf) - len(buf) % self.channels
        frames = n // self.channels
        direct = self.bits == 16 and (self.channel is None or self.file_channels == 1)
        if direct:
            want = min(n * 2, self.remaining)
            want -= want % (2 * self.file_channels)
            if want <= 0:
                return 0
            if want == 2 * len(buf):
                got = self.f.readinto(buf) or 0
            else:  # the last, partial block
                raw = self.f.read(want)
                got = len(raw) & ~1
                buf[0:got // 2] = array("h", raw[:got])
            self.remaining -= got
            return got // 2
        step = self.width * self.file_channels
        want = min(frames * step, self.remaining)
        want -= want % step
        if want <= 0:
            return 0
        raw = self.f.read(want)
        self.remaining -= len(raw)
        count = len(raw) // self.width
        code = {1: "B", 2: "h", 4: "f" if self.float else "i"}[self.width]
        vals = struct.unpack("<%d%s" % (count, code), raw)
        out = 0
        first = self.channel or 0
        every = 1 if self.channel is None else self.file_channels
        for i in range(first, count, every):
            v = vals[i]
            if self.width == 1:
                v = (v - 128) << 8
            elif self.float:
                v = int(v * 32767)
                v = -32768 if v < -32768 else 32767 if v > 32767 else v
            elif self.width == 4:
                v >>= 16
            buf[out] = v
            out += 1
        return out

    def close(self):
        self.f.close()


_NPY_CODES = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}


def _npy_header(f, path):
    if f.read(6) != b"\x93NUMPY":
        raise SourceError("%s: not a .npy file" % path)
    major = f.read(2)[0]
    n = struct.unpack("<I" if major >= 2 else "<H", f.read(4 if major >= 2 else 2))[0]
    text = str(f.read(n), "utf-8")

    def field(key):
        at = text.find("'%s'" % key)
        if at < 0:
            raise SourceError("%s: .npy header has no %s" % (path, key))
        return text[text.find(":", at) + 1:].strip()

    descr = field("descr")
    descr = descr[1:descr.find(descr[0], 1)]
    fortran = field("fortran_order").startswith("True")
    shape_s = field("shape")
    shape_s = shape_s[1:shape_s.find(")")]
    shape = tuple(int(v) for v in shape_s.split(",") if v.strip())
    return descr, fortran, shape


class NpySource(Source):
    """A .npy array: shape (N,) is one channel, (N, C) is C channels (row = one sample), dtype int8,
    uint8, int16, uint16, int32, uint32, float32 or float64 (read as float32)."""

    def __init__(self, path, rate=16000):
        self.path = path
        self.f = open(path, "rb")
        descr, fortran, shape = _npy_header(self.f, path)
        order = descr[0]
        code = _NPY_CODES.get(descr[1:])
        if code is None or order == ">" or (fortran and len(shape) > 1) or len(shape) not in (1, 2):
            self.f.close()
            raise SourceError("%s: %s array of shape %s; tinyml reads little-endian C-order (N,) or (N, C) "
                              "arrays of int8/16/32, uint8/16/32, float32/64" % (path, descr, shape))
        self.file_code = code
        self.typecode = "f" if code == "d" else code
        self.channels = shape[1] if len(shape) == 2 else 1
        self.remaining = shape[0] * self.channels
        self.rate = rate

    def readinto(self, buf):
        n = min(len(buf), self.remaining)
        n -= n % self.channels
        if n <= 0:
            return 0
        width = _SIZES[self.file_code]
        raw = self.f.read(n * width)
        n = len(raw) // width
        self.remaining -= n
        if self.file_code == self.typecode:
            buf[0:n] = array(self.typecode, raw)
        else:
            vals = struct.unpack("<%dd" % n, raw)
            for i in range(n):
                buf[i] = vals[i]
        return n

    def close(self):
        self.f.close()


class CsvSource(Source):
    """Rows of numbers separated by commas (a first row with names is skipped), one sample per row;
    columns picks some (indices, or names from the header row). Read as float32."""

    def __init__(self, path, rate=100, columns=None):
        self.path = path
        self.f = open(path, "r")
        self.typecode = "f"
        self.rate = rate
        self.cols = None
        self.pending = []
        first = self._line()
        names = None
        if first is not None:
            try:
                row = [float(v) for v in first.split(",")]
                self.pending = [row]
            except ValueError:
                names = [v.strip() for v in first.split(",")]
        if columns is not None:
            self.cols = [names.index(c) if isinstance(c, str) and names else int(c) for c in columns]
        width = len(names) if names else (len(self.pending[0]) if self.pending else 1)
        self.channels = len(self.cols) if self.cols is not None else width
        if self.pending:
            self.pending = [self._pick(self.pending[0])]

    def _line(self):
        while True:
            line = self.f.readline()
            if not line:
                return None
            line = line.strip()
            if line and not line.startswith("#"):
                return line

    def _pick(self, row):
        return [row[c] for c in self.cols] if self.cols is not None else row

    def readinto(self, buf):
        out = 0
        while out + self.channels <= len(buf):
            if self.pending:
                row = self.pending.pop()
            else:
                line = self._line()
                if line is None:
                    break
                row = self._pick([float(v) for v in line.split(",")])
            if len(row) != self.channels:
                raise SourceError("%s: a row has %d values, expected %d" % (self.path, len(row), self.channels))
            for v in row:
                buf[out] = v
                out += 1
        return out

    def close(self):
        self.f.close()


def open_file(path, **kw):
    """A replay source for a recorded file, by extension: .wav, .npy or .csv."""
    p = path.lower()
    if p.endswith(".wav"):
        return WavSource(path, **kw)
    if p.endswith(".npy"):
        return NpySource(path, **kw)
    if p.endswith(".csv"):
        return CsvSource(path, **kw)
    raise SourceError("%s: replay sources read .wav, .npy and .csv files" % path)


# ---- hardware (MicroPython boards) ----

def _ticks():
    import time
    return time.ticks_us, time.ticks_diff, time.ticks_add


class ADCSource(Source):
    """machine.ADC sampled at `rate` Hz by the CPU (busy-waiting on ticks_us: a few kHz at most),
    as int16 centered on mid-scale: read_u16() - 32768."""

    def __init__(self, pin, rate=8000):
        import machine
        self.adc = machine.ADC(machine.Pin(pin) if isinstance(pin, int) else pin)
        self.rate = rate
        self.period = 1000000 // rate
        self.typecode = "h"
        self.next = None

    def readinto(self, buf):
        now, diff, add = _ticks()
        read = self.adc.read_u16
        t = now() if self.next is None else self.next
        for i in range(len(buf)):
            while diff(t, now()) > 0:
                pass
            buf[i] = read() - 32768
            t = add(t, self.period)
        self.next = t
        return len(buf)


class I2SMic(Source):
    """An I2S MEMS microphone (INMP441, SPH0645, ...) through machine.I2S in RX mode, mono. With
    bits=32 (most mics send 24-bit samples in 32-bit slots) each sample is shifted right by `shift`
    (16 keeps the top 16 bits; less adds gain); with bits=16 samples are read as they are."""

    def __init__(self, sck, ws, sd, rate=16000, bits=32, shift=14, id=0, ibuf=8192):
        import machine
        self.i2s = machine.I2S(id, sck=machine.Pin(sck), ws=machine.Pin(ws), sd=machine.Pin(sd),
                               mode=machine.I2S.RX, bits=bits, format=machine.I2S.MONO,
                               rate=rate, ibuf=ibuf)
        self.rate = rate
        self.bits = bits
        self.shift = shift
        self.typecode = "h"
        self._raw = None

    def readinto(self, buf):
        n = len(buf)
        if self.bits == 16:
            return self.i2s.readinto(buf) // 2
        if self._raw is None or len(self._raw) != n:
            self._raw = array("i", bytes(4 * n))
        got = self.i2s.readinto(self._raw) // 4
        raw = self._raw
        s = self.shift
        for i in range(got):
            v = raw[i] >> s
            buf[i] = -32768 if v < -32768 else 32767 if v > 32767 else v
        return got

    def close(self):
        self.i2s.deinit()


class MPU6050(Source):
    """An MPU6050 (or MPU6500/9250) on I2C: acceleration in g on 3 channels (x, y, z), or with
    gyro=True also the angular rate in deg/s (6 channels), sampled at `rate` Hz by the CPU.
    i2c: a machine.I2C (or SoftI2C); accel_range 2, 4, 8 or 16 g; gyro_range 250..2000 deg/s."""

    def __init__(self, i2c, rate=100, addr=0x68, accel_range=2, gyro=False, gyro_range=250):
        self.i2c = i2c
        self.addr = addr
        self.rate = rate
        self.period = 1000000 // rate
        self.typecode = "f"
        self.gyro = gyro
        self.channels = 6 if gyro else 3
        ar = {2: 0, 4: 1, 8: 2, 16: 3}[accel_range]
        gr = {250: 0, 500: 1, 1000: 2, 2000: 3}[gyro_range]
        i2c.writeto_mem(addr, 0x6B, b"\x00")             # PWR_MGMT_1: wake up
        i2c.writeto_mem(addr, 0x1C, bytes([ar << 3]))    # ACCEL_CONFIG
        i2c.writeto_mem(addr, 0x1B, bytes([gr << 3]))    # GYRO_CONFIG
        self.a_scale = accel_range / 32768
        self.g_scale = gyro_range / 32768
        self._raw = bytearray(14)
        self.next = None

    def readinto(self, buf):
        now, diff, add = _ticks()
        t = now() if self.next is None else self.next
        c = self.channels
        out = 0
        while out + c <= len(buf):
            while diff(t, now()) > 0:
                pass
            self.i2c.readfrom_mem_into(self.addr, 0x3B, self._raw)  # ACCEL_XOUT_H .. GYRO_ZOUT_L
            v = struct.unpack(">hhhhhhh", self._raw)
            buf[out] = v[0] * self.a_scale
            buf[out + 1] = v[1] * self.a_scale
            buf[out + 2] = v[2] * self.a_scale
            if self.gyro:
                buf[out + 3] = v[4] * self.g_scale
                buf[out + 4] = v[5] * self.g_scale
                buf[out + 5] = v[6] * self.g_scale
            out += c
            t = add(t, self.period)
        self.next = t
        return out
