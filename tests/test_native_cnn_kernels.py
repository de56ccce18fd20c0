"""The native module's CNN and elementwise kernels (conv2d, depthwise_conv2d, pool2d, mean_hw, add, mul,
lut, quantize_f32) against the pure-Python reference tinyml.kernels_py, both run by the real
MicroPython (.venv/bin/micropython), as tests/test_native_kernels.py does for fully_connected/softmax.

Random cases are made on the host (fixed seed) with the parameters the converter would write, computed
from TFLite-style scales (test_conv_kernels.kernel_params, tinyml_host.model.quantize), written to one file
and run in one MicroPython process; both backends' bytes come back and are compared here. kernels_py is
itself checked against TFLM (tests/test_conv_kernels.py, tests/test_elementwise_kernels.py).
"""
import ctypes
import json
import shutil
import subprocess

import numpy as np
import pytest

from test_conv_kernels import Case, build, chunks, kernel_params, split
from test_native_kernels import ROOT, mp_abi, native_dir, prelude, run_micropython  # noqa: F401 (fixtures)
from tinyml_host.model.convert import broadcast_strides
from tinyml_host.model import quantize as q

ACTIVATIONS = ("NONE", "RELU", "RELU6")


# ---- case generation (host) ----
# A case: {"fn", "n" (output bytes), "calls": [args, ...] (all writing the one output), "lo", "hi"
# (the activation range, for the non-triviality checks)}. args items: bytes (an input), OUT (the output),
# a list (an array('i')) or an int.

OUT = "out"


def edge_zp(rng, p_edge=2 / 3):
    """A zero point: -128 or 127 with probability p_edge, else any int8."""
    return int(rng.choice([-128, 127]) if rng.random() < p_edge else rng.integers(-128, 128))


def output_zp(rng, activation):
    # at the int8 edges now and then; with a fused activation, where a converter puts it (a ReLU
    # output's zero point is near -128): y_zp = 127 would clamp every output to 127
    return edge_zp(rng, 1 / 3) if activation == "NONE" else int(rng.integers(-128, 60))


def conv_case(rng, depthwise, size=11):
    while True:
        if depthwise:
            dm = int(rng.choice([1, 1, 2, 8]))
            C = int(rng.choice([1, 1, 2]) if dm == 8 else rng.choice([1, 2, 3, 5, 8]))
            OC = C * dm
        else:
            C = int(rng.choice([1, 2, 3, 4, 8, 16, 33]))
            OC = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 9, 16]))
        KH, KW = [(1, 1), (1, 1), (3, 3), (3, 3), (2, 2), (5, 5), (1, 3), (3, 1), (2, 3)][rng.integers(0, 9)]
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        dilation = [(1, 1), (1, 1), (2, 2), (1, 2), (2, 1)][rng.integers(0, 5)]
        padding = str(rng.choice(["SAME", "VALID"]))
        H, W = int(rng.integers(1, size)), int(rng.integers(1, size))
        eff_h, eff_w = (KH - 1) * dilation[0] + 1, (KW - 1) * dilation[1] + 1
        if padding == "VALID" and (H < eff_h or W < eff_w):
            continue
        activation = str(rng.choice(ACTIVATIONS))
        case = Case(depthwise, H, W, C, OC, KH, KW, stride=stride, dilation=dilation, padding=padding,
                    x_zp=edge_zp(rng), y_zp=output_zp(rng, activation), per_channel=bool(rng.integers(0, 2)),
                    activation=activation, seed=int(rng.integers(0, 2**31)))
        model, qq = build(case)
        taps = KH * KW * (1 if depthwise else C)
        if qq["OH"] * qq["OW"] * OC * taps <= 40000:
            break
    # An output scale at which the accumulator's spread (random int8 weights, inputs minus x_zp) is
    # about 40 output steps, so that outputs are spread over int8 rather than clamped.
    x_rms = np.sqrt(np.mean((np.arange(-128, 128) - case.x_zp) ** 2.0))
    w_scale = float(np.exp(np.mean(np.log(qq["w_scales"]))))
    qq["out_scale"] = np.float32(float(qq["in_scale"]) * w_scale * np.sqrt(taps) * 74 * x_rms / 40)
    p = kernel_params(case, qq)
    parts = int(rng.choice([1, 1, 2, 3]))
    if parts > 1 and rng.integers(0, 2) and OC > 2:  # uneven runs of channels
        cut = sorted(rng.choice(np.arange(1, OC), min(parts - 1, OC - 1), replace=False).tolist())
        sizes = [b - a for a, b in zip([0] + cut, cut + [OC])]
    else:
        sizes = split(OC, parts)
    kind = int(rng.integers(0, 8))
    shape = (H, W, C)
    x = (np.full(shape, -128) if kind == 0 else np.full(shape, 127) if kind == 1 else
         rng.integers(-128, 128, shape)).astype(np.int8).tobytes()
    fn = "depthwise_conv2d" if depthwise else "conv2d"
    calls = [[x, w, bias, mult, shift, OUT, g] for w, bias, mult, shift, g in chunks(p, sizes, depthwise)]
    g = p["g"]
    return dict(fn=fn, n=g[3] * g[4] * g[5], calls=calls, lo=g[18], hi=g[19], desc=repr(case) + " chunks %s" % sizes)


def out_and_pad(padding, size, k, stride):
    """TFLM's ComputeOutSize and the padding before (ComputePaddingWithOffset)."""
    out = (size + stride - 1) // stride if padding == "SAME" else (size - k + stride) // stride
    return out, max((out - 1) * stride + k - size, 0) // 2


def pool_case(rng):
    while True:
        padding = str(rng.choice(["SAME", "VALID"]))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        fh, fw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        h, w, c = int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 6))
        if padding == "VALID" and (h < fh or w < fw):
            continue
        break
    oh, pt = out_and_pad(padding, h, fh, sh)
    ow, pl = out_and_pad(padding, w, fw, sw)
    activation = str(rng.choice(ACTIVATIONS))
    scale, zp = float(10 ** rng.uniform(-2, 0)), output_zp(rng, activation)
    lo, hi = q.activation_range(activation, scale, zp)
    is_max = int(rng.integers(0, 2))
    kind = int(rng.integers(0, 8))
    x = (np.full((h, w, c), -128) if kind == 0 else np.full((h, w, c), 127) if kind == 1 else  # the extremes
         np.clip(rng.integers(-128, 128) + rng.integers(-4, 5, (h, w, c)), -128, 127) if kind == 2 else  # close
         rng.choice([-128, -128, -128, -127], (h, w, c)) if kind == 3 else  # max pooling of only -128 now and then
         rng.integers(-128, 128, (h, w, c))).astype(np.int8).tobytes()
    g = [h, w, c, oh, ow, sh, sw, fh, fw, pt, pl, lo, hi, is_max]
    return dict(fn="pool2d", n=oh * ow * c, calls=[[x, OUT, g]], lo=lo, hi=hi, desc=str(g))


def mean_case(rng):
    h, w, c = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 17))
    xs = float(10 ** rng.uniform(-2, 0))
    ys = xs * float(10 ** rng.uniform(-0.5, 0.5)) if rng.integers(0, 3) else xs
    g = [h, w, c] + list(q.mean_params(xs, edge_zp(rng), ys, edge_zp(rng, 1 / 3), h * w))
    if rng.integers(0, 3):  # channels of different means, each spread a little
        x = np.clip(rng.integers(-128, 128, c) + rng.integers(-20, 21, (h, w, c)), -128, 127)
    else:  # values around the zero point: means of both signs near 0, where rounding shows
        x = np.clip(g[3] + rng.integers(-3, 4, (h, w, c)), -128, 127)
    return dict(fn="mean_hw", n=c, calls=[[x.astype(np.int8).tobytes(), OUT, g]], lo=-128, hi=127, desc=str(g))


def binary_case(rng, op):
    rank = int(rng.integers(1, 5))
    out = tuple(int(d) for d in rng.integers(1, 7, rank))
    shapes = []
    for _ in range(2):  # each input: each dimension full or broadcast, maybe of a lower rank
        s = tuple(d if rng.integers(0, 3) else 1 for d in out)
        shapes.append(s[int(rng.integers(0, rank)):] if rng.integers(0, 4) == 0 else s)
    a_shape, b_shape = shapes
    a = rng.integers(-128, 128, a_shape)
    b = rng.integers(-128, 128, b_shape)
    a_scale, b_scale = float(10 ** rng.uniform(-2, 0)), float(10 ** rng.uniform(-2, 0))
    a_zp, b_zp = edge_zp(rng), edge_zp(rng)
    # the output quantized as a converter calibrates it: over the range of the results (after the
    # activation), with now and then a zero point at the int8 edges instead
    ra, rb = a_scale * (a - a_zp), b_scale * (b - b_zp)
    real = ra + rb if op == "add" else ra * rb
    activation = str(rng.choice(["NONE", "NONE", "RELU", "RELU6"]))
    lo_r, hi_r = (float(real.min()), float(real.max())) if activation == "NONE" else (0.0, max(float(real.max()), 0.1))
    if activation == "RELU6":
        hi_r = min(hi_r, 6.0)
    y_scale = max(hi_r - lo_r, 0.1) / 255 * float(10 ** rng.uniform(-0.1, 0.1))
    y_zp = int(np.clip(round(-128 - lo_r / y_scale), -128, 127))
    if activation == "NONE" and rng.integers(0, 4) == 0:
        y_zp = edge_zp(rng, 1)
    lo, hi = q.activation_range(activation, y_scale, y_zp)
    dims = [1] * (4 - len(out)) + list(out)
    g = dims + broadcast_strides(a_shape, out) + broadcast_strides(b_shape, out) + [a_zp, b_zp]
    g += list(q.add_params(a_scale, b_scale, y_scale) if op == "add" else q.mul_params(a_scale, b_scale, y_scale))
    g += [y_zp, lo, hi]
    return dict(fn=op, n=int(np.prod(out)), calls=[[a.astype(np.int8).tobytes(), b.astype(np.int8).tobytes(), OUT, g]],
                lo=lo, hi=hi, desc="%s %s -> %s: %s" % (a_shape, b_shape, out, g))


def lut_case(rng):
    scale, zp = float(10 ** rng.uniform(-2.5, 0.3)), edge_zp(rng)
    kind = int(rng.integers(0, 4))
    if kind == 0:
        table = q.logistic_table(scale, zp)
    elif kind == 1:
        table = q.tanh_table(scale, zp)
    elif kind == 2:
        table = q.requantize_table(scale, zp, float(10 ** rng.uniform(-2.5, 0.3)), edge_zp(rng))
    else:
        table = q.dequantize_table(scale, zp)
    x = np.concatenate([np.arange(-128, 128), rng.integers(-128, 128, int(rng.integers(0, 300)))])
    size = table.itemsize
    return dict(fn="lut", n=len(x) * size, calls=[[x.astype(np.int8).tobytes(), OUT, table.tobytes(), size]],
                lo=-128, hi=127, desc="table kind %d, size %d" % (kind, size))


SPECIAL_F32 = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-45, -1e-45, 1e-38, 3.4e38],
                       np.float32)


def quantize_case(rng):
    s = np.float32(10 ** rng.uniform(-3.5, 0.5))
    zp = edge_zp(rng)
    k = rng.integers(-140, 140, 120).astype(np.float32)
    ties = (k + np.float32(0.5)) * s  # halves: exact when s is a power of 2, close to one otherwise
    x = np.concatenate([k * s, ties, np.nextafter(ties, np.float32(0)), np.nextafter(ties, np.float32(np.inf)),
                        (rng.normal(0, 60, 200) * s).astype(np.float32), SPECIAL_F32]).astype(np.float32)
    bits = int(np.array([s], np.float32).view(np.int32)[0])
    # x at an odd offset of its buffer now and then: the kernel reads it byte by byte
    return dict(fn="quantize_f32", n=x.size, calls=[[x.tobytes(), OUT, [zp, bits]]], lo=-128, hi=127,
                misalign=int(rng.choice([0, 0, 1, 2, 3])), desc="scale %r zp %d" % (float(s), zp))


def make_cases(seed=20240612):
    rng = np.random.default_rng(seed)
    cases = [conv_case(rng, False) for _ in range(250)]
    cases += [conv_case(rng, True) for _ in range(250)]
    # planes too large for the depthwise kernel's padded copy of a whole plane (its rows, its general border)
    cases += [conv_case(rng, True, size=48) for _ in range(40)]
    cases += [pool_case(rng) for _ in range(150)]
    cases += [mean_case(rng) for _ in range(150)]
    cases += [binary_case(rng, "add") for _ in range(100)]
    cases += [binary_case(rng, "mul") for _ in range(100)]
    cases += [lut_case(rng) for _ in range(24)]
    cases += [quantize_case(rng) for _ in range(16)]
    return cases


def pack(cases):
    """(meta JSON, blob): inputs in the blob at 4-byte aligned offsets (plus a case's misalign for its
    first input), the calls in the JSON with {"in": [offset, length]}, {"out": 0} and {"g": [...]}."""
    blob = bytearray()
    meta = []
    for c in cases:
        calls = []
        for args in c["calls"]:
            enc = []
            for i, a in enumerate(args):
                if isinstance(a, bytes):
                    blob.extend(bytes(-len(blob) % 4))
                    if i == 0 and c.get("misalign"):
                        blob.extend(bytes(c["misalign"]))
                    enc.append({"in": [len(blob), len(a)]})
                    blob.extend(a)
                elif a is OUT:
                    enc.append({"out": 0})
                elif isinstance(a, list):
                    enc.append({"g": [int(v) for v in a]})
                else:
                    enc.append(int(a))
            calls.append(enc)
        meta.append([c["fn"], c["n"], calls])
    return json.dumps(meta), bytes(blob)


# Runs both backends on every case: writes native y, reference y, and a guard check byte per case.
DRIVER = """
import json
from array import array
meta = json.load(open(sys.argv[1]))
f = open(sys.argv[2], "rb")
blob = memoryview(f.read())
f.close()
out = open(sys.argv[3], "wb")
def guards_ok(buf):
    return buf[:4] == b"\\x5a" * 4 and buf[-4:] == b"\\x5a" * 4
for fn, n, calls in meta:
    bufs = []
    for k in (nat, ref):
        buf = bytearray(b"\\x5a" * (n + 8))  # y is a slice: the bytes around it must stay untouched
        y = memoryview(buf)[4:4 + n]
        for call in calls:
            args = []
            for a in call:
                if isinstance(a, dict):
                    if "in" in a:
                        args.append(blob[a["in"][0]:a["in"][0] + a["in"][1]])
                    elif "out" in a:
                        args.append(y)
                    else:
                        args.append(array("i", a["g"]))
                else:
                    args.append(a)
            getattr(k, fn)(*args)
        bufs.append(buf)
    for buf in bufs:
        out.write(memoryview(buf)[4:4 + n])
    out.write(bytes([guards_ok(bufs[0]) and guards_ok(bufs[1])]))
out.close()
print(len(meta))
"""


def run_cases(cases, tmp_path, run):
    """run(driver script, *args) -> its stdout; checks every case and the outputs' spread."""
    meta, blob = pack(cases)
    (tmp_path / "meta.json").write_text(meta)
    (tmp_path / "blob.bin").write_bytes(blob)
    stdout = run(DRIVER, tmp_path / "meta.json", tmp_path / "blob.bin", tmp_path / "out.bin")
    assert int(stdout.split()[-1]) == len(cases)
    got = (tmp_path / "out.bin").read_bytes()
    pos = 0
    stats = {}  # fn: [distinct outputs, outputs strictly inside (lo, hi), outputs]
    for i, c in enumerate(cases):
        n = c["n"]
        native, ref, guard = got[pos:pos + n], got[pos + n:pos + 2 * n], got[pos + 2 * n]
        pos += 2 * n + 1
        assert native == ref, "case %d (%s) differs: %s\nnative %s\nref    %s" % (
            i, c["fn"], c["desc"], list(native)[:40], list(ref)[:40])
        assert guard == 1, "case %d (%s) wrote outside y: %s" % (i, c["fn"], c["desc"])
        y = np.frombuffer(ref, np.int8)
        s = stats.setdefault(c["fn"], [set(), 0, 0])
        s[0].update(y.tolist())
        s[1] += int(np.sum((y > c["lo"]) & (y < c["hi"])))
        s[2] += n
    assert pos == len(got)
    # The comparison must be worth something: outputs spread over int8, not mostly clamped.
    for fn, (distinct, inside, total) in stats.items():
        print("%-16s %4d distinct byte values, %d/%d outputs inside (act_min, act_max)" % (fn, len(distinct), inside, total))
        assert len(distinct) > 150, "%s: only %d distinct outputs" % (fn, len(distinct))
        assert inside > 0.3 * total, "%s: only %d/%d outputs inside (act_min, act_max)" % (fn, inside, total)
    assert set(stats) == {"conv2d", "depthwise_conv2d", "pool2d", "mean_hw", "add", "mul", "lut", "quantize_f32"}


def test_native_cnn_kernels_match_reference(native_dir, tmp_path):
    run_cases(make_cases(), tmp_path, lambda script, *args: run_micropython(prelude(native_dir) + script, tmp_path, *args))


USER_CMODULE_MICROPYTHON = ROOT / "build" / "unix-usercmod" / "ports" / "unix" / "build-standard" / "micropython"


def test_user_c_module_matches_reference(tmp_path):
    """The same cases through the firmware build of the same source (a user C module of the unix port,
    built here by firmware/check_user_cmodule.sh when missing or older than the source)."""
    exe = USER_CMODULE_MICROPYTHON
    sources = sorted((ROOT / "firmware" / "kernels").glob("*.[ch]"))  # the binding and every family's header
    if not exe.exists() or exe.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        subprocess.run(["bash", str(ROOT / "firmware" / "check_user_cmodule.sh")], check=True)
    head = ("import sys\nsys.path.insert(0, %r)\nimport tinyml_kernels as nat\nfrom tinyml import kernels_py as ref\n"
            "assert not hasattr(nat, '__file__'), 'tinyml_kernels is not the built-in one'\n" % str(ROOT / "device_lib"))

    def run(script, *args):
        (tmp_path / "script.py").write_text(head + script)
        r = subprocess.run([str(exe), "-X", "heapsize=64M", str(tmp_path / "script.py"), *map(str, args)],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout
    run_cases(make_cases(), tmp_path, run)


def test_conv_paths_are_covered():
    """The random conv cases reach each path of the C kernels: a window read in place (pointwise, and
    a 1-row kernel), a window gathered with taps outside, depthwise windows inside and across the
    border, dilated taps, per-tensor and per-channel, chunked, and the zero points at the int8 edges."""
    rng = np.random.default_rng(20240612)
    seen = set()
    for depthwise in (False, True):
        for _ in range(250):
            c = conv_case(rng, depthwise)
            g = c["calls"][0][-1]
            H, W, C, OH, OW, OC, KH, KW, _, _, sh, sw, dh, dw, pt, pl, x_zp, y_zp = g[:18]
            in_place = KH == 1 and (KW == 1 or dw == 1) and pt == pl == 0 and (OH - 1) * sh < H and \
                (OW - 1) * sw + (KW - 1) * dw < W
            seen.add((depthwise, "in place" if in_place else "gathered"))
            seen.add((depthwise, "pointwise" if KH == KW == 1 else "3x3" if KH == KW == 3 else "other"))
            seen.update({(depthwise, "padded")} if pt or pl else set())
            seen.update({(depthwise, "dilated")} if dh > 1 or dw > 1 else set())
            seen.update({(depthwise, "strided")} if sh > 1 or sw > 1 else set())
            seen.add((depthwise, "chunked" if len(c["calls"]) > 1 else "whole"))
            seen.add((depthwise, "per-channel" if len(c["calls"][0][3]) > 4 or OC == 1 else "per-tensor"))
            seen.update({(depthwise, "x_zp edge")} if x_zp in (-128, 127) else set())
            seen.update({(depthwise, "y_zp edge")} if y_zp in (-128, 127) else set())
            if depthwise:
                seen.add((depthwise, "dm%d" % (OC // C) + ("-c1" if C == 1 else "")))
    for d in (False, True):
        for k in ("gathered", "pointwise", "3x3", "other", "padded", "dilated", "strided", "chunked", "whole",
                  "per-channel", "per-tensor", "x_zp edge", "y_zp edge"):
            assert (d, k) in seen, (d, k)
    assert (False, "in place") in seen
    assert {(True, "dm1"), (True, "dm2"), (True, "dm8-c1")} <= seen


def test_lut_in_place_and_bad_arguments(native_dir, tmp_path):
    script = prelude(native_dir) + """
from array import array
import struct
t = bytes((i * 7 + 3) % 256 for i in range(256))
a = bytearray(range(256)); b = bytearray(range(256))
nat.lut(a, a, t, 1)   # y is x
ref.lut(b, b, t, 1)
print("lut in place", "ok" if a == b and len(set(a)) > 200 else "BAD")
x = bytes(64); w = bytes(64); bias = bytes(64); m = struct.pack("<i", 2**30); s = bytes(4)
y = bytearray(4 * 4 * 2)
G = [4, 4, 2, 4, 4, 2, 3, 3, 0, 2, 1, 1, 1, 1, 1, 1, 0, 0, -128, 127]  # docs/kernels.md
def conv(fn="conv2d", g=None, **kw):
    a = dict(x=x, w=w, bias=bias, m=m, s=s, y=y)
    a.update(kw)
    getattr(nat, fn)(a["x"], a["w"], a["bias"], a["m"], a["s"], a["y"], array("i", g or G))
def with_g(i, v, base=G):
    g = list(base); g[i] = v; return g
DW = G[:5] + [4] + G[6:9] + [4] + G[10:] + [2]   # C=2, depth_multiplier 2: OC 4
ydw = bytearray(4 * 4 * 4)
P = [4, 4, 2, 2, 2, 2, 2, 2, 2, 0, 0, -128, 127, 0]
def pool(g=None, xx=x, yy=None):
    nat.pool2d(xx, yy if yy is not None else bytearray(8), array("i", g or P))
A = [1, 1, 2, 4, 0, 0, 4, 1, 0, 0, 0, 1, 0, 0, 20, 2**30, -1, 2**30, -1, 2**30, -20, 0, -128, 127]
def add(g=None, a=bytes(8), b=bytes(4), yy=None):
    nat.add(a, b, yy if yy is not None else bytearray(8), array("i", g or A))
M = A[:14] + [2**30, -5, 0, -128, 127]
aligned = bytearray(16)
cases = [
    ("conv ok", lambda: conv()),
    ("conv g short", lambda: conv(g=G[:19])),
    ("conv g list", lambda: nat.conv2d(x, w, bias, m, s, y, G)),
    ("conv g bytes", lambda: nat.conv2d(x, w, bias, m, s, y, bytes(80))),
    ("conv H 0", lambda: conv(g=with_g(0, 0))),
    ("conv stride 0", lambda: conv(g=with_g(10, 0))),
    ("conv pad -1", lambda: conv(g=with_g(14, -1))),
    ("conv x_zp", lambda: conv(g=with_g(16, 128))),
    ("conv act_max", lambda: conv(g=with_g(19, 200))),
    ("conv oc0+ocn > OC", lambda: conv(g=with_g(8, 1))),
    ("conv ocn 0", lambda: conv(g=with_g(9, 0))),
    ("conv short x", lambda: conv(x=x[:31])),
    ("conv short y", lambda: conv(y=bytearray(31))),
    ("conv short w", lambda: conv(w=w[:35])),
    ("conv short bias", lambda: conv(bias=bias[:4])),
    ("conv per-channel mult short", lambda: conv(m=bytes(6))),
    ("conv shift shorter than mult", lambda: conv(m=bytes(8), s=bytes(4))),
    ("conv misaligned bias", lambda: conv(bias=memoryview(aligned)[1:9])),
    ("conv y overlaps x", lambda: conv(x=memoryview(y), g=with_g(2, 1, with_g(5, 1)))),
    ("conv read-only y", lambda: conv(y=bytes(32))),
    ("conv kernel too big", lambda: conv(g=[300, 300, 1, 1, 1, 1, 300, 300, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, -128, 127],
                                          x=bytes(90000), w=bytes(90000), y=bytearray(1))),
    ("dw ok", lambda: conv("depthwise_conv2d", g=DW, y=ydw)),
    ("dw g of conv", lambda: conv("depthwise_conv2d", y=ydw)),
    ("dw OC != C*dm", lambda: conv("depthwise_conv2d", g=with_g(20, 3, DW), y=ydw)),
    ("dw dm 0", lambda: conv("depthwise_conv2d", g=with_g(20, 0, DW), y=ydw)),
    ("pool ok", lambda: pool()),
    ("pool y len", lambda: pool(yy=bytearray(9))),
    ("pool short x", lambda: pool(xx=x[:31])),
    ("pool window outside", lambda: pool(g=with_g(9, 2, P))),
    ("pool is_max 2", lambda: pool(g=with_g(13, 2, P))),
    ("pool g short", lambda: pool(g=P[:13])),
    ("mean ok", lambda: nat.mean_hw(x, bytearray(2), array("i", [4, 4, 2, 0, 0, 2**30, 0]))),
    ("mean y len", lambda: nat.mean_hw(x, bytearray(3), array("i", [4, 4, 2, 0, 0, 2**30, 0]))),
    ("mean short x", lambda: nat.mean_hw(x[:31], bytearray(2), array("i", [4, 4, 2, 0, 0, 2**30, 0]))),
    ("mean x_zp", lambda: nat.mean_hw(x, bytearray(2), array("i", [4, 4, 2, -129, 0, 2**30, 0]))),
    ("add ok", lambda: add()),
    ("mul ok", lambda: nat.mul(bytes(8), bytes(4), bytearray(8), array("i", M))),
    ("mul g of add", lambda: nat.mul(bytes(8), bytes(4), bytearray(8), array("i", A))),
    ("add y len", lambda: add(yy=bytearray(7))),
    ("add short a", lambda: add(a=bytes(7))),
    ("add short b", lambda: add(b=bytes(3))),
    ("add stride -1", lambda: add(g=with_g(7, -1, A))),
    ("add dim 0", lambda: add(g=with_g(0, 0, A))),
    ("add left_shift 21", lambda: add(g=with_g(14, 21, A))),
    ("add a_shift 1", lambda: add(g=with_g(16, 1, A))),
    ("add y_zp", lambda: add(g=with_g(21, 128, A))),
    ("add y overlaps a", lambda: add(a=memoryview(aligned)[0:8], yy=memoryview(aligned)[4:12])),
    ("lut ok", lambda: nat.lut(x, bytearray(64), t, 1)),
    ("lut f32 ok", lambda: nat.lut(x, bytearray(256), bytes(1024), 4)),
    ("lut y len", lambda: nat.lut(x, bytearray(63), t, 1)),
    ("lut short table", lambda: nat.lut(x, bytearray(256), t, 4)),
    ("lut size 0", lambda: nat.lut(x, bytearray(0), t, 0)),
    ("lut overlap", lambda: nat.lut(memoryview(aligned)[0:8], memoryview(aligned)[4:12], t, 1)),
    ("quantize ok", lambda: nat.quantize_f32(bytes(16), bytearray(4), array("i", [0, 0x3f800000]))),
    ("quantize short x", lambda: nat.quantize_f32(bytes(15), bytearray(4), array("i", [0, 0x3f800000]))),
    ("quantize zp", lambda: nat.quantize_f32(bytes(16), bytearray(4), array("i", [200, 0x3f800000]))),
    ("quantize g", lambda: nat.quantize_f32(bytes(16), bytearray(4), array("i", [0]))),
]
for name, f in cases:
    try:
        f()
        print(name + ":ok")
    except Exception as e:
        print(name + ":" + type(e).__name__)
"""
    lines = run_micropython(script, tmp_path).splitlines()
    assert lines[0] == "lut in place ok"
    got = dict(line.rsplit(":", 1) for line in lines[1:])
    expected = {name: "ValueError" for name in got}
    expected.update({k: "ok" for k in got if k.endswith(" ok")})
    expected["conv read-only y"] = "TypeError"
    expected["conv g list"] = "TypeError"  # no buffer
    assert got == expected


def test_module_has_every_kernel(native_dir, tmp_path):
    names = ["fully_connected", "softmax", "conv2d", "depthwise_conv2d", "pool2d", "mean_hw", "add", "mul", "lut",
             "quantize_f32"]
    out = run_micropython(prelude(native_dir) + "print([n for n in %r if not hasattr(nat, n)])\n" % names, tmp_path)
    assert out.strip() == "[]"


SHIM_C = r"""
#include "tinyml_kernels.h"
void div_round(const uint32_t *x, const uint32_t *s, int32_t *r, int n) {
    for (int i = 0; i < n; i++) r[i] = tml_div_round_f32(x[i], s[i]);
}
"""


def test_quantize_division_matches_float32(tmp_path):
    """tml_div_round_f32 (quantize_f32's integer float32 division and rounding) against numpy's float32
    division, value by value: every kind of operand (normal, subnormal, zero, inf, NaN) and many
    quotients at and next to the halves, where a wrong last bit of the quotient shows."""
    if not shutil.which("gcc"):
        pytest.skip("no host gcc")
    (tmp_path / "shim.c").write_text(SHIM_C)
    lib = tmp_path / "shim.so"
    subprocess.run(["gcc", "-O2", "-std=c99", "-shared", "-fPIC", "-I", str(ROOT / "firmware" / "kernels"),
                    "-o", str(lib), str(tmp_path / "shim.c")], check=True)
    c = ctypes.CDLL(str(lib))
    rng = np.random.default_rng(11)
    n = 400_000
    s = (10 ** rng.uniform(-4, 1, n)).astype(np.float32) * rng.choice([-1, 1], n).astype(np.float32)
    k = rng.integers(-40000, 40000, n).astype(np.float32)
    x = np.concatenate([
        rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32),  # any bits
        (k + np.float32(0.5)) * s,  # near the halves
        np.nextafter((k + np.float32(0.5)) * s, np.float32(0)),
        (rng.normal(0, 300, n) * s).astype(np.float32),
        # just below a half (0.5 too), by less than the quotient's float32 rounding: rounds up to it
        (s.astype(np.float64) * (np.abs(k) % 8 + 0.5) * (1 - rng.uniform(0, 2**-24, n))).astype(np.float32),
    ])
    ss = np.concatenate([rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32), s, s, s, s])
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, 1.17e-38, 1.0, -1.0, 0.5, 3.4e38,
                        1e-3, 32767.5, 32768.0, 1e30], np.float32)
    x = np.concatenate([x, np.repeat(special, special.size)]).astype(np.float32)
    ss = np.concatenate([ss, np.tile(special, special.size)]).astype(np.float32)
    with np.errstate(all="ignore"):
        quot = (x / ss).astype(np.float64)  # IEEE float32 division, widened exactly
        expected = np.where(np.isnan(quot), 0, np.sign(quot) * np.minimum(np.floor(np.abs(quot) + 0.5), 2**15))
    expected = np.nan_to_num(expected).astype(np.int32)
    got = np.zeros(x.size, np.int32)
    xb, sb = np.ascontiguousarray(x.view(np.uint32)), np.ascontiguousarray(ss.view(np.uint32))
    c.div_round(xb.ctypes.data_as(ctypes.c_void_p), sb.ctypes.data_as(ctypes.c_void_p),
                got.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(x.size))
    bad = np.nonzero(got != expected)[0]
    assert bad.size == 0, "%d differ, e.g. %s" % (bad.size, [(float(x[i]), float(ss[i]), int(got[i]), int(expected[i]))
                                                           for i in bad[:5]])
    assert len(np.unique(expected)) > 10000
