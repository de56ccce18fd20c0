# The device half of the model-file fuzzer (host: tinyml_host/apps/fuzz.py): loads a converted .tml
# model once, then for each case patches a copy of its bytes (the host sends the patches, file_size
# and CRC-32 already fixed, so only validation can catch the change), loads the copy with one backend
# (in RAM, or streamed from a file object every other case) and runs one inference on zeros. Prints
# one line per case: "fz <i> ok", "fz <i> mfe <message>" (tinyml's ModelFileError) or
# "fz <i> err <type> <message>"; "fz-begin <i>" before it, so the host knows the case that crashed or
# hung. After each case the clean model runs again: another output means the case corrupted memory.
# The unix port runs fuzz_serve (cases on stdin, one per line); a board fuzz_batch (cases in the call).
import gc
import io
from binascii import unhexlify
from tinyml.model import Model
from tinyml.tmlfile import ModelFileError


def _zeros(m):
    return [bytes(t.nbytes) for t in m.inputs]


def _bytes(o):
    return bytes(o) if not isinstance(o, tuple) else b"".join(bytes(x) for x in o)


class _Fuzz:
    def __init__(self, path, backend):
        with open(path, "rb") as f:
            self.orig = f.read()
        self.backend = backend
        self.clean = Model(self.orig, backend, "clean")
        self.want = _bytes(self.clean.run(*_zeros(self.clean)))

    def case(self, i, n, patches):
        # patches: [(offset, bytes)]; n: the length of the file (a truncation, or zeros appended)
        o = self.orig
        buf = bytearray(o[:n]) if n <= len(o) else bytearray(o) + bytearray(n - len(o))
        for off, b in patches:
            buf[off:off + len(b)] = b
        print("fz-begin", i)
        m = None
        try:
            src = buf if i % 2 == 0 else io.BytesIO(buf)
            m = Model(src, self.backend, "model") if i % 2 == 0 else Model(src, self.backend, "model", 512)
            m.run(*_zeros(m))
            said = "ok"
        except ModelFileError as e:
            said = "mfe %s" % e
        except Exception as e:  # MemoryError too: what the fuzzer counts as a wrong kind of error
            said = "err %s %s" % (type(e).__name__, e)
        m = buf = src = None
        gc.collect()
        if _bytes(self.clean.run(*_zeros(self.clean))) != self.want:
            said = "corrupt " + said
            self.want = _bytes(self.clean.run(*_zeros(self.clean)))
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
