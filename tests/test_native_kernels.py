"""The native kernels (firmware/kernels, built to dist/<arch>_<abi>/tinyml_kernels.mpy) against the
pure-Python reference tinyml.kernels_py, both run by the real MicroPython (.venv/bin/micropython).

Cases are made on the host with numpy (fixed seed), written to one file, and run in one MicroPython
process; the bytes both backends write are compared here.
Precondition of the reference's match with TFLM (and so of these cases): bias + dot product fits
int32 (the C accumulator wraps like TFLM's; kernels_py's Python int does not).
"""
import math
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
BUILD_SCRIPT = ROOT / "firmware" / "build_natmod.sh"
# MP_NATIVE_ARCH_* of py/persistentcode.h
ARCH_CODES = {"x86": 1, "x64": 2, "armv6": 3, "armv6m": 4, "armv7m": 5, "armv7em": 6, "armv7emsp": 7,
              "armv7emdp": 8, "xtensa": 9, "xtensawin": 10, "rv32imc": 11}
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


def run_micropython(script, tmp_path, *args):
    path = tmp_path / "script.py"
    path.write_text(script)
    r = subprocess.run([str(MICROPYTHON), "-X", "heapsize=64M", str(path), *map(str, args)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "micropython failed:\n" + r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def mp_abi():
    """(mpy version, sub-version, arch code) that .venv/bin/micropython loads."""
    r = subprocess.run([str(MICROPYTHON), "-c", "import sys; print(sys.implementation._mpy)"],
                       capture_output=True, text=True, check=True)
    v = int(r.stdout)
    return v & 0xFF, (v >> 8) & 3, v >> 10


@pytest.fixture(scope="module")
def native_dir(mp_abi):
    # Always run the build: make is incremental (a fraction of a second when up to date), so a stale
    # .mpy is never tested.
    r = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, "build_natmod.sh failed:\n" + r.stdout + r.stderr
    ver, sub, arch = mp_abi
    assert arch == ARCH_CODES["x64"], "these tests need an x64 unix MicroPython"
    d = ROOT / "dist" / f"x64_{ver}.{sub}"
    assert (d / "tinyml_kernels.mpy").exists(), f"no {d}/tinyml_kernels.mpy for this MicroPython's ABI"
    return d


def native_modules():
    from tinyml_host.paths import native_modules
    return native_modules()


def prelude(native_dir):
    return (f"import sys\nsys.path.insert(0, {str(ROOT / 'device_lib')!r})\n"
            f"sys.path.insert(0, {str(native_dir)!r})\n"
            "from tinyml import backends\nnat = backends.load('native')[1]\nfrom tinyml import kernels_py as ref\n")


# ---- case generation (host) ----

def quantize_multiplier(real):
    """TFLM QuantizeMultiplier: real = mult / 2**31 * 2**shift, mult in [2**30, 2**31)."""
    if real == 0:
        return 0, 0
    q, shift = math.frexp(real)
    m = round(q * 2**31)
    if m == 2**31:
        m //= 2
        shift += 1
    return m, shift


def fc_case(rng, kind):
    n_in = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100, 255]))
    n_out = int(rng.choice([1, 2, 3, 5, 8, 10, 17, 32]))
    batches = int(rng.integers(1, 4))
    x = rng.integers(-128, 128, (batches, n_in)).astype(np.int8)
    w = rng.integers(-128, 128, (n_out, n_in)).astype(np.int8)
    # bias + dot must fit int32 (see the module docstring)
    bound = INT32_MAX - n_in * 128 * 128
    # "fit" cases model a converted layer (modest biases); the others reach the int32 limits
    scale = int(rng.choice([2**8, 2**14] if kind in ("fit", "pow2") else [2**8, 2**14, 2**20, bound]))
    bias = rng.integers(-min(scale, bound), min(scale, bound) + 1, n_out).astype(np.int64)
    acc = bias[None, :] + x.astype(np.int64) @ w.astype(np.int64).T
    assert np.all((acc >= INT32_MIN) & (acc <= INT32_MAX))
    per_channel = bool(rng.integers(0, 2)) and n_out > 1
    n_m = n_out if per_channel else 1
    if kind in ("fit", "pow2"):  # the scale a converter would pick: outputs spread over the int8 range
        spread = (acc.std(axis=0) if per_channel else np.array([acc.std()])) + 1.0
        target = rng.uniform(20, 60, n_m)  # acc's std -> this many output steps
        ms = [quantize_multiplier(float(t / s)) for t, s in zip(target, spread)]
        mult = np.array([m for m, _ in ms]); shift = np.array([s for _, s in ms])
        if kind == "pow2":  # power-of-two scales: srdhm and rdivpot hit exact ties (x.5) often
            mult[:] = 2**30
    elif kind == "random":
        mult = rng.integers(2**30, 2**31, n_m); shift = rng.integers(-31, 8, n_m)
    elif kind == "saturate":  # huge multipliers and left shifts: past +-127, and acc << shift wrapping
        mult = rng.integers(2**31 - 2**20, 2**31, n_m); shift = rng.integers(1, 32, n_m)
    else:  # "extreme": out-of-range shifts, zero/negative/INT32_MIN multipliers
        mult = rng.choice([0, 1, -1, INT32_MIN, INT32_MAX, int(rng.integers(INT32_MIN, 0))], n_m)
        shift = rng.integers(-40, 41, n_m)
    out_zp = int(rng.integers(-40, 41) if kind in ("fit", "pow2") else rng.integers(-128, 128))
    act = rng.choice([0, 0, 1, 2] if kind in ("fit", "pow2") else [0, 1, 2])
    if act == 0:
        act_min, act_max = -128, 127
    elif act == 1:  # relu
        act_min, act_max = out_zp, 127
    else:  # relu6-like, or any narrower window
        act_min = int(rng.integers(-128, 128)); act_max = int(rng.integers(act_min, 128))
    return dict(op="fc", kind=kind, x=x, w=w, bias=bias, mult=mult, shift=shift, n_in=n_in, n_out=n_out,
                batches=batches, out_zp=out_zp, act_min=act_min, act_max=act_max)


def fc_int32_min_case():
    # acc == INT32_MIN with mult == INT32_MIN: the one saturating case of srdhm
    n_in, n_out = 4, 3
    return dict(op="fc", kind="int32_min", x=np.zeros((1, n_in), np.int8), w=np.ones((n_out, n_in), np.int8),
                bias=np.full(n_out, INT32_MIN), mult=np.full(n_out, INT32_MIN), shift=np.array([0, -1, -31]),
                n_in=n_in, n_out=n_out, batches=1, out_zp=-5, act_min=-128, act_max=127)


def softmax_params_tflm(rng):
    """PreprocessSoftmaxScaling (5 integer bits) and CalculateInputRadius, as TFLM does them."""
    input_scale = 2.0 ** rng.uniform(-9, 0)
    beta = float(rng.choice([1.0, 0.5, 2.0]))
    real = min(beta * input_scale * 2**26, 2**31 - 1.0)
    mult, left_shift = quantize_multiplier(real)
    radius = math.floor(31 * 2**26 / 2**left_shift)
    return mult, left_shift, -radius


def softmax_case(rng, kind):
    n = int(rng.choice([1, 2, 3, 10, 16, 100, 1000]))
    rows = int(rng.integers(1, 4))
    if kind == "tflm":
        in_mult, left_shift, diff_min = softmax_params_tflm(rng)
    else:  # other parameters within the kernel's contract (255 << left_shift fits int32), including
        # a small beta with diff_min close to 0, where leaving a value out or not changes the outputs
        in_mult = int(rng.integers(2**30, 2**31))
        left_shift = int(rng.choice([rng.integers(0, 24), rng.integers(0, 4)]))
        diff_min = int(rng.choice([-10**6, rng.integers(-300, 1), rng.integers(-12, 1), 1]))
    if rng.integers(0, 2):
        x = rng.integers(-128, 128, (rows, n))
    else:  # values close together: many outputs well above -128
        top = rng.integers(-100, 128, (rows, 1))
        x = top - rng.integers(0, int(rng.choice([3, 10, 40])), (rows, n))
    return dict(op="softmax", x=x.astype(np.int8), n=n, rows=rows, in_mult=in_mult,
                left_shift=left_shift, diff_min=diff_min)


def make_cases(seed=20240611, n_fc=600, n_softmax=200):
    rng = np.random.default_rng(seed)
    kinds = ["fit"] * (n_fc // 2) + ["pow2", "random", "saturate", "extreme"] * (n_fc // 8)
    cases = [fc_case(rng, kind) for kind in kinds]
    cases.append(fc_int32_min_case())
    cases += [softmax_case(rng, kind) for kind in ["tflm", "other"] * (n_softmax // 2)]
    return cases


def pad4(b):
    return b + bytes(-len(b) % 4)


def pack_cases(cases):
    """One record per case, every int32 array at a 4-byte aligned offset."""
    out = bytearray()
    for c in cases:
        if c["op"] == "fc":
            out += struct.pack("<4s9i", b"FC  ", c["n_in"], c["n_out"], c["batches"], len(c["mult"]),
                               c["out_zp"], c["act_min"], c["act_max"], len(c["x"].tobytes()), len(c["w"].tobytes()))
            out += pad4(c["x"].tobytes()) + pad4(c["w"].tobytes())
            for a in ("bias", "mult", "shift"):
                out += np.asarray(c[a], dtype="<i4").tobytes()
        else:
            out += struct.pack("<4s5i", b"SMAX", c["rows"], c["n"], c["in_mult"], c["left_shift"], c["diff_min"])
            out += pad4(c["x"].tobytes())
    return bytes(out)


# Runs both backends on every case; writes native y, reference y, and a guard check byte per case.
DRIVER = """
import struct
data = open(sys.argv[1], "rb").read()
mv = memoryview(data)
out = open(sys.argv[2], "wb")
pos = 0
def take(n, pad=True):
    global pos
    v = mv[pos:pos + n]
    pos += (n + 3) & ~3 if pad else n
    return v
def guarded(n):
    # y is a slice of a larger buffer: the bytes around it must stay untouched
    buf = bytearray(b"\\x5a" * (n + 8))
    return buf, memoryview(buf)[4:4 + n]
def guards_ok(buf):
    return buf[:4] == b"\\x5a" * 4 and buf[-4:] == b"\\x5a" * 4
count = 0
while pos < len(data):
    tag = bytes(take(4))
    if tag == b"FC  ":
        n_in, n_out, batches, n_m, out_zp, act_min, act_max, lx, lw = struct.unpack("<9i", take(36))
        x, w = take(lx), take(lw)
        bias, mult, shift = take(4 * n_out), take(4 * n_m), take(4 * n_m)
        results = []
        for k in (nat, ref):
            buf, y = guarded(batches * n_out)
            k.fully_connected(x, w, bias, mult, shift, y, n_in, n_out, out_zp, act_min, act_max)
            results.append((buf, y))
    else:
        rows, n, in_mult, left_shift, diff_min = struct.unpack("<5i", take(20))
        x = take(rows * n)
        results = []
        for k in (nat, ref):
            buf, y = guarded(rows * n)
            k.softmax(x, y, n, in_mult, left_shift, diff_min)
            results.append((buf, y))
    for buf, y in results:
        out.write(y)
    out.write(bytes([guards_ok(results[0][0]) and guards_ok(results[1][0])]))
    count += 1
out.close()
print(count)
"""


def output_len(c):
    return c["batches"] * c["n_out"] if c["op"] == "fc" else c["rows"] * c["n"]


def describe(c):
    return {k: (v.tolist() if isinstance(v, np.ndarray) and v.size <= 8 else
                f"<{v.shape} array>" if isinstance(v, np.ndarray) else v) for k, v in c.items()}


def test_native_matches_reference(native_dir, tmp_path):
    cases = make_cases()
    (tmp_path / "cases.bin").write_bytes(pack_cases(cases))
    stdout = run_micropython(prelude(native_dir) + DRIVER, tmp_path, tmp_path / "cases.bin", tmp_path / "out.bin")
    assert int(stdout.split()[-1]) == len(cases)
    got = (tmp_path / "out.bin").read_bytes()
    pos = 0
    inside = total = 0
    distinct = set()
    n_sm_spread = 0
    for i, c in enumerate(cases):
        n = output_len(c)
        native, ref, guard = got[pos:pos + n], got[pos + n:pos + 2 * n], got[pos + 2 * n]
        pos += 2 * n + 1
        assert native == ref, f"case {i} differs: {describe(c)}\nnative {list(native)[:32]}\nref    {list(ref)[:32]}"
        assert guard == 1, f"case {i} wrote outside y: {describe(c)}"
        y = np.frombuffer(ref, np.int8)
        if c["op"] == "fc":
            distinct.update(y.tolist())
            if c["kind"] == "fit":
                inside += int(np.sum((y > c["act_min"]) & (y < c["act_max"])))
                total += n
        else:
            n_sm_spread += len(set(y.tolist())) > 2
    assert pos == len(got)
    # The comparison must be worth something: not everything clamped, the whole int8 range seen.
    assert inside > 0.4 * total, f"only {inside}/{total} 'fit' fully_connected outputs inside (act_min, act_max)"
    assert len(distinct) > 200, f"only {len(distinct)} distinct fully_connected outputs"
    print(f"distinct fc outputs {len(distinct)}; fit outputs inside (act_min, act_max): {inside}/{total}; varied softmax rows: {n_sm_spread}")
    assert n_sm_spread > 50, "too few softmax rows with varied outputs"


def test_softmax_in_place(native_dir, tmp_path):
    script = prelude(native_dir) + """
import struct
x = bytes((i * 37) % 256 for i in range(60))
a = bytearray(x); b = bytearray(x)
nat.softmax(a, a, 20, 1518500250, 22, -3968)   # y is x
ref.softmax(b, b, 20, 1518500250, 22, -3968)
print(a == b, len(set(a)) > 5)
"""
    assert run_micropython(script, tmp_path).split() == ["True", "True"]


def test_bad_arguments_raise(native_dir, tmp_path):
    script = prelude(native_dir) + """
import struct
x = bytearray(8); w = bytearray(8); bias = bytearray(8); m = struct.pack("<i", 2**30); s = bytes(4)
y = bytearray(2)
aligned = bytearray(12)
def fc(*a):
    args = [x, w, bias, m, s, y, 4, 2, 0, -128, 127]
    for i, v in a:
        args[i] = v
    nat.fully_connected(*args)
cases = [
    ("ok", lambda: fc()),
    ("short x", lambda: fc((0, x[:3]))),
    ("short w", lambda: fc((1, w[:7]))),
    ("short bias", lambda: fc((2, bias[:4]))),
    ("per-channel mult too short", lambda: fc((3, bytes(6)))),
    ("shift shorter than mult", lambda: fc((3, bytes(8)), (4, bytes(4)))),
    ("y not a multiple of n_out", lambda: fc((5, bytearray(3)))),
    ("n_in 0", lambda: fc((6, 0))),
    ("n_out 0", lambda: fc((7, 0))),
    ("out_zp", lambda: fc((8, 128))),
    ("act_min", lambda: fc((9, -129))),
    ("act_max", lambda: fc((10, 1000))),
    ("misaligned bias", lambda: fc((2, memoryview(aligned)[1:9]))),
    ("y overlaps x", lambda: fc((0, memoryview(aligned)[0:8]), (5, memoryview(aligned)[2:4]))),
    ("read-only y", lambda: fc((5, bytes(2)))),
    ("softmax ok", lambda: nat.softmax(x, bytearray(8), 4, 2**30, 20, -100)),
    ("softmax n", lambda: nat.softmax(x, bytearray(8), 3, 2**30, 20, -100)),
    ("softmax y len", lambda: nat.softmax(x, bytearray(4), 4, 2**30, 20, -100)),
    ("softmax shift", lambda: nat.softmax(x, bytearray(8), 4, 2**30, 32, -100)),
    ("softmax radius", lambda: nat.softmax(x, bytearray(8), 4, 2**30, 24, -255)),
    ("softmax overlap", lambda: nat.softmax(memoryview(aligned)[0:8], memoryview(aligned)[4:12], 4, 2**30, 20, -100)),
]
for name, f in cases:
    try:
        f()
        print(name, "ok")
    except Exception as e:
        print(name, type(e).__name__)
"""
    lines = dict(l.rsplit(" ", 1) for l in run_micropython(script, tmp_path).splitlines())
    expected = {name: "ValueError" for name in lines}
    expected.update({"ok": "ok", "softmax ok": "ok", "read-only y": "TypeError"})
    assert lines == expected


def test_module_attributes(native_dir, tmp_path):
    out = run_micropython(prelude(native_dir) + "print(nat.NAME, nat.__version__)\n", tmp_path)
    assert out.split() == ["native", "1"]


def test_built_headers(native_dir, mp_abi):
    import shutil
    ver, sub, _ = mp_abi
    compilers = {"x64": "gcc", "armv6m": "arm-none-eabi-gcc", "armv7m": "arm-none-eabi-gcc",
                 "armv7emsp": "arm-none-eabi-gcc", "rv32imc": "riscv64-unknown-elf-gcc",
                 "xtensawin": "xtensa-esp32-elf-gcc"}
    for arch, cc in compilers.items():  # build_natmod.sh builds every arch whose compiler is here
        if not shutil.which(cc):
            continue
        for mod in native_modules():  # the core and every other family of kernels
            path = native_dir.parent / f"{arch}_{ver}.{sub}" / mod
            h = path.read_bytes()[:4]
            assert h[0:1] == b"M" and h[1] == ver, path
            assert (h[2] >> 2, h[2] & 3) == (ARCH_CODES[arch], sub), f"{path}: flags byte {h[2]:#04x}"


def test_a_model_loads_only_the_kernel_families_it_uses(native_dir, tmp_path):
    """The native kernels are one .mpy per family (firmware/build_natmod.sh): loading a model imports
    the core module and the families of its ops' kernels, no other (their code would sit on the heap)."""
    import sys
    sys.path.insert(0, str(ROOT / "tests"))
    from op_models import single_op
    from tinyml_host.model.convert import convert
    rng = np.random.default_rng(7)
    for op, families in (("CONV_2D", []), ("FULLY_CONNECTED", ["tinyml_kernels_dense"]), ("ADD", ["tinyml_kernels_elementwise"]),
                         ("ARG_MAX", ["tinyml_kernels_math"])):
        tml = tmp_path / (op + ".tml")
        tml.write_bytes(convert(single_op(op, rng)[0], op))
        out = run_micropython(
            f"import sys\nsys.path.insert(0, {str(ROOT / 'device_lib')!r})\nsys.path.insert(0, {str(native_dir)!r})\n"
            f"import tinyml\nm = tinyml.load({str(tml)!r}, 'native')\n"
            "print(' '.join(sorted(n for n in sys.modules if n.startswith('tinyml_kernels'))))\n", tmp_path)
        assert out.split() == ["tinyml_kernels"] + families, op


SHIM_C = r"""
#include "tinyml_kernels.h"
int32_t srdhm(int32_t a, int32_t b) { return tml_srdhm(a, b); }
int32_t rdivpot(int32_t x, int e) { return tml_rdivpot(x, e); }
int32_t requantize(int32_t acc, int32_t m, int32_t s) { return tml_requantize(acc, m, s); }
int32_t exp_neg(int32_t a) { return tml_exp_on_negative_values(a); }
int32_t reciprocal(uint32_t x, int *bits) { return tml_reciprocal(x, 12, bits); }
"""


def test_fixedpoint_helpers_match_reference(tmp_path):
    """The header's 32-bit helpers against tinyml.fixedpoint on CPython, value by value: int8 outputs
    hide most of a wrong low bit in exp or reciprocal, this does not."""
    import ctypes
    import importlib.util
    import random
    import shutil
    if not shutil.which("gcc"):
        pytest.skip("no host gcc")
    (tmp_path / "shim.c").write_text(SHIM_C)
    lib = tmp_path / "shim.so"
    subprocess.run(["gcc", "-O2", "-std=c99", "-shared", "-fPIC", "-I", str(ROOT / "firmware" / "kernels"),
                    "-o", str(lib), str(tmp_path / "shim.c")], check=True)
    c = ctypes.CDLL(str(lib))
    for f in ("srdhm", "rdivpot", "requantize", "exp_neg", "reciprocal"):
        getattr(c, f).restype = ctypes.c_int32
    c.reciprocal.argtypes = [ctypes.c_uint32, ctypes.POINTER(ctypes.c_int)]
    # fixedpoint.py alone (plain Python), without running the tinyml package's __init__ on CPython
    spec = importlib.util.spec_from_file_location("fixedpoint", ROOT / "device_lib" / "tinyml" / "fixedpoint.py")
    fp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fp)
    r = random.Random(7)
    edges = [INT32_MIN, INT32_MIN + 1, -2**30, -1, 0, 1, 2**30, INT32_MAX - 1, INT32_MAX]

    def i32():
        return r.choice([r.randint(INT32_MIN, INT32_MAX), r.choice(edges), r.randint(-5000, 5000)])
    bits = ctypes.c_int()
    for _ in range(100_000):
        a, b, e, s = i32(), i32(), r.randint(0, 31), r.randint(-40, 40)
        assert c.srdhm(a, b) == fp.srdhm(a, b), (a, b)
        assert c.rdivpot(a, e) == fp.rdivpot(a, e), (a, e)
        assert c.requantize(a, b, s) == fp.requantize(a, b, s), (a, b, s)
        neg = -abs(a) if a != INT32_MIN else a
        assert c.exp_neg(neg) == fp.exp_on_negative_values(neg), neg
        x = r.choice([r.randint(1, 2**32 - 1), r.randint(1, 2**20), r.randint(2**19, 2**31), 1, 2**31, 2**32 - 1])
        assert (c.reciprocal(x, ctypes.byref(bits)), bits.value) == fp.reciprocal(x, 12), x
