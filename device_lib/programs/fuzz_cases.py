# The device half of the model-file fuzzer (host: tinyml_host/apps/fuzz.py): loads a converted .tml
# model once, then for each case patches a copy of its bytes (the host sends the patches, file_size
# and CRC-32 already fixed, so only validation can catch the change), loads the copy with one backend
# (in RAM, or streamed from a file object every other case) and runs one inference on zeros. Prints
# one line per case: "fz <i> ok", "fz <i> mfe <message>" (tinyml's ModelFileError) or
# "fz <i> err <type> <message>"; "fz-begin <i>" before it, so the host knows the case that crashed or
# hung. After each case the clean model runs again, reset first (a stateful op's state would change its
# output from run to run): another output means the case corrupted memory.
# The unix port runs fuzz_serve (cases on stdin, one per line); a board fuzz_batch (cases in the call).
import gc
from binascii import unhexlify
from tinyml.model import Model
from tinyml.tmlfile import ModelFileError


def _zeros(m):
    return [bytes(t.nbytes) for t in m.inputs]


def _bytes(o):
    return bytes(o) if not isinstance(o, tuple) else b"".join(bytes(x) for x in o)


class _File:
    """A file open for reading over bytes in RAM (seek, read, readinto: what a streamed Model
    uses), without a copy of them."""

    def __init__(self, mv):
        self.mv = mv
        self.at = 0

    def seek(self, off, whence=0):
        self.at = off if whence == 0 else (len(self.mv) if whence == 2 else self.at) + off
        return self.at

    def read(self, n=-1):
        end = len(self.mv) if n < 0 else min(len(self.mv), self.at + n)
        b = bytes(self.mv[self.at:end]) if end > self.at else b""
        self.at = max(self.at, end)
        return b

    def readinto(self, buf):
        n = min(len(buf), len(self.mv) - self.at)
        if n <= 0:
            return 0
        buf[:n] = self.mv[self.at:self.at + n]
        self.at += n
        return n


class _Fuzz:
    def __init__(self, path, backend):
        self.backend = backend
        self.file = open(path, "rb")  # the clean model's bytes, read into buf for each case
        self.size = self.file.seek(0, 2)
        # one buffer for every case, made first: on a small heap a copy per case would not find room
        self.buf = bytearray(self.size + 64)
        self.clean = Model(open(path, "rb"), backend, "clean", 512)  # streamed: little RAM
        self.want = self._clean_run()

    def _clean_run(self):
        self.clean.reset()
        return _bytes(self.clean.run(*_zeros(self.clean)))

    def case(self, i, n, patches):
        # patches: [(offset, bytes)]; n: the length of the file (a truncation, or zeros appended)
        print("fz-begin", i)
        m = buf = None
        gc.collect()
        try:
            if n > len(self.buf):
                raise ValueError("case of %d bytes, the fuzzer's buffer holds %d" % (n, len(self.buf)))
            buf = memoryview(self.buf)[:n]
            k = min(n, self.size)
            self.file.seek(0)
            self.file.readinto(buf[:k])
            for j in range(k, n):
                buf[j] = 0
            for off, b in patches:
                buf[off:off + len(b)] = b
            if i % 2 == 0:
                m = Model(buf, self.backend, "model")
            else:  # streamed from a file object over the same bytes
                m = Model(_File(buf), self.backend, "model", 512)
            m.run(*_zeros(m))
            said = "ok"
        except ModelFileError as e:
            said = "mfe %s" % e
        except Exception as e:  # MemoryError too: what the fuzzer counts as a wrong kind of error
            said = "err %s %s" % (type(e).__name__, e)
        m = buf = None
        gc.collect()
        if self._clean_run() != self.want:
            said = "corrupt " + said
            self.want = self._clean_run()
        print("fz", i, said.replace("\n", " "))


def _parse(line):
    # "<i> <n> <offset>:<hex> ..." -> (i, n, [(offset, bytes)])
    f = line.split()
    return int(f[0]), int(f[1]), [(int(p.split(":")[0]), unhexlify(p.split(":")[1])) for p in f[2:]]


def fuzz_serve(path, backend):
    """The unix port: cases on stdin, one per line, until an empty line or the end."""
    import sys
    z = _Fuzz(path, backend)
    print("fz-ready")
    while True:
        line = sys.stdin.readline()
        if not line.strip():
            break
        z.case(*_parse(line))
    print("fz-done")


_z = None


def fuzz_batch(path, backend, lines):
    """A board: the cases of one call (the model loaded again when path or backend changes)."""
    global _z
    if _z is None or _z.backend != backend or getattr(_z, "path", None) != path:
        _z = None
        gc.collect()
        _z = _Fuzz(path, backend)
        _z.path = path
    for line in lines:
        _z.case(*_parse(line))
    print("fz-done")
