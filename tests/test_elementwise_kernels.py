"""Pooling, MEAN, ADD, MUL, LOGISTIC, TANH, QUANTIZE and DEQUANTIZE, kernel by kernel: single-op models
run by TFLM, and the same inputs through each kernel with its parameters computed here as the converter
computes them (tinyml_host.model.quantize). kernels_py runs under CPython, then kernels_py and kernels_viper
run on the MicroPython unix port: every byte must be TFLM's."""
import binascii
import json
import subprocess
from array import array

import numpy as np
import pytest

from tinyml_host.model.convert import broadcast_strides
from tinyml_host.oracle import tflm as oracle
from tinyml import kernels_py
from tinyml_host.model import quantize as q
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.board.unix import DEVICE_LIB, micropython_path

T = tb.Tensor
ACTIVATIONS = ("NONE", "RELU", "RELU6")


# ---- the kernel calls, as the interpreter makes them ----

class Out(int):
    """An output buffer of this many bytes."""


def kernel_cases(model, inputs, fn, make_args):
    """(fn, args, TFLM's output bytes) for each case of inputs; make_args(input bytes, output size)."""
    expected = oracle.tflm_run(model, inputs)[0]
    cases = []
    for n in range(len(expected)):
        out = np.ascontiguousarray(expected[n]).tobytes()
        cases.append((fn, make_args([np.ascontiguousarray(x[n]).tobytes() for x in inputs], len(out)), out))
    return cases


def call(module, fn, args):
    """Runs a kernel under CPython; returns the output bytes."""
    outs, real = [], []
    for a in args:
        if isinstance(a, Out):
            outs.append(bytearray(a))
            real.append(outs[-1])
        else:
            real.append(array("i", a) if isinstance(a, list) else a)
    getattr(module, fn)(*real)
    return bytes(outs[0])


DEVICE_SCRIPT = """
import sys, json, binascii
from array import array
sys.path[:0] = [%r]
from tinyml import kernels_py, kernels_viper
cases = json.load(open('cases.json'))
got = {}
for name, k in (('python', kernels_py), ('viper', kernels_viper)):
    got[name] = []
    for fn, args in cases:
        real, outs = [], []
        for a in args:
            if isinstance(a, dict) and 'out' in a:
                outs.append(bytearray(a['out']))
                real.append(outs[-1])
            elif isinstance(a, dict):
                real.append(memoryview(binascii.unhexlify(a['in'])))
            elif isinstance(a, list):
                real.append(array('i', a))
            else:
                real.append(a)
        getattr(k, fn)(*real)
        got[name].append(binascii.hexlify(outs[0]).decode())
json.dump(got, open('got.json', 'w'))
"""


def device_run(cases, tmp_path):
    """Each case through kernels_py and kernels_viper on the MicroPython unix port."""
    def enc(a):
        if isinstance(a, Out):
            return {"out": int(a)}
        return {"in": a.hex()} if isinstance(a, bytes) else a
    (tmp_path / "cases.json").write_text(json.dumps([[fn, [enc(a) for a in args]] for fn, args, _ in cases]))
    p = subprocess.run([micropython_path(), "-X", "heapsize=4M", "-c", DEVICE_SCRIPT % str(DEVICE_LIB)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    got = json.loads((tmp_path / "got.json").read_text())
    return {name: [binascii.unhexlify(h) for h in outs] for name, outs in got.items()}


def as_array(raw, fn):
    return np.frombuffer(raw, np.float32 if fn == "lut_f32" else np.int8)


def check(cases, tmp_path):
    """Every case's bytes: kernels_py under CPython, then both device backends, against TFLM."""
    assert cases
    results = {"cpython": [call(kernels_py, fn, args) for fn, args, _ in cases]}
    results.update(device_run(cases, tmp_path))
    for backend, outs in results.items():
        for i, ((fn, args, expected), got) in enumerate(zip(cases, outs)):
            kind = "lut_f32" if fn == "lut" and args[-1] == 4 else fn
            np.testing.assert_array_equal(as_array(got, kind), as_array(expected, kind),
                                          err_msg="%s: case %d of %s differs from TFLM" % (backend, i, fn))


def random_inputs(rng, shape, n=5):
    x = rng.integers(-128, 128, (n,) + tuple(shape)).astype(np.int8)
    return np.concatenate([x, np.full((1,) + tuple(shape), -128, np.int8), np.full((1,) + tuple(shape), 127, np.int8)])


def edge_zp(rng):
    return int(rng.choice([-128, 127, rng.integers(-128, 128)]))


# ---- parameters, as the converter computes them ----

def out_and_pad(padding, size, k, stride):
    """TFLM's ComputeOutSize and the padding before (ComputePaddingWithOffset)."""
    out = (size + stride - 1) // stride if padding == "SAME" else (size - k + stride) // stride
    return out, max((out - 1) * stride + k - size, 0) // 2


# ---- AVERAGE_POOL_2D, MAX_POOL_2D ----

POOLS = [("SAME", 1, 3, 3), ("SAME", 2, 3, 3), ("SAME", 2, 2, 2), ("VALID", 1, 2, 2),
         ("VALID", 2, 3, 3), ("VALID", 2, 2, 3), ("SAME", 1, 2, 3), ("SAME", 3, 3, 2),
         ("VALID", 2, 5, 5), ("SAME", 1, 7, 7)]  # the last: windows larger than the input, clipped


@pytest.mark.parametrize("kind", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("padding,stride,fh,fw", POOLS)
def test_pool(tmp_path, kind, padding, stride, fh, fw):
    rng = np.random.default_rng([POOLS.index((padding, stride, fh, fw)), len(kind)])
    cases = []
    for activation, (h, w, c) in zip(ACTIVATIONS, [(5, 7, 3), (6, 6, 2), (9, 5, 4)]):
        scale, zp = float(10 ** rng.uniform(-2, 0)), int(rng.integers(-128, 60))
        oh, pt = out_and_pad(padding, h, fh, stride)
        ow, pl = out_and_pad(padding, w, fw, stride)
        model = tb.single_op_model(
            kind, [T((1, h, w, c), scale=scale, zero_point=zp)], [T((1, oh, ow, c), scale=scale, zero_point=zp)],
            {"padding": padding, "stride_h": stride, "stride_w": stride, "filter_height": fh, "filter_width": fw,
             "fused_activation_function": activation}, version=2)
        lo, hi = q.activation_range(activation, scale, zp)
        g = [h, w, c, oh, ow, stride, stride, fh, fw, pt, pl, lo, hi, int(kind == "MAX_POOL_2D")]
        cases += kernel_cases(model, [random_inputs(rng, (1, h, w, c))], "pool2d",
                              lambda ins, n: [ins[0], Out(n), g])
    check(cases, tmp_path)


# ---- MEAN over height and width ----

MEANS = [  # (H, W, C, x_scale, x_zp, y_scale, y_zp, keep_dims)
    (2, 2, 16, 0.056649227, -128, 0.022351326, -128, False),  # tinymaix mnist_valid_q op 3
    (5, 5, 8, 0.1, 3, 0.1, 3, True),  # same quantization: TFLM's truncating integer mean
    (7, 3, 5, 0.02, -128, 0.02, -128, False),
    (4, 6, 3, 0.05, 10, 0.03, -20, True),
    (3, 3, 7, 0.01, 127, 0.2, -128, False),  # output scale larger: most of the range collapses
    (8, 8, 4, 0.3, -5, 0.04, 0, True),  # output scale smaller: saturates
    (1, 1, 6, 0.1, 0, 0.07, 4, False),  # count 1
    (6, 5, 3, 0.1, 3, 0.1, 4, False),  # same scale, zero points differ: the requantizing path
]


@pytest.mark.parametrize("case", range(len(MEANS)))
def test_mean(tmp_path, case):
    h, w, c, xs, xz, ys, yz, keep = MEANS[case]
    rng = np.random.default_rng(case)
    model = tb.single_op_model(
        "MEAN", [T((1, h, w, c), scale=xs, zero_point=xz), T(data=np.array([1, 2], np.int32), dtype="int32")],
        [T((1, 1, 1, c) if keep else (1, c), scale=ys, zero_point=yz)], {"keep_dims": keep}, version=2)
    g = [h, w, c] + list(q.mean_params(xs, xz, ys, yz, h * w))
    x = random_inputs(rng, (1, h, w, c), 8)
    x[1] = rng.integers(-2, 3, x.shape[1:])  # small sums of both signs: truncation and rounding show
    check(kernel_cases(model, [x], "mean_hw", lambda ins, n: [ins[0], Out(n), g]), tmp_path)


# ---- ADD, MUL ----

SHAPES = [((1, 4, 4, 3), (1, 4, 4, 3)), ((1, 4, 4, 3), (1, 1, 1, 3)), ((1, 4, 4, 3), (1, 4, 1, 1)),
          ((1, 1, 1, 3), (1, 4, 4, 3)), ((2, 3, 5), (1,)), ((7,), (7,)), ((3, 1, 2), (1, 5, 1)),
          ((1, 2, 1, 4), (3, 1, 5, 1))]


@pytest.mark.parametrize("op", ["ADD", "MUL"])
@pytest.mark.parametrize("shapes", range(len(SHAPES)))
def test_binary(tmp_path, op, shapes):
    a_shape, b_shape = SHAPES[shapes]
    out = tuple(np.broadcast_shapes(a_shape, b_shape))
    rng = np.random.default_rng([shapes, len(op)])
    cases = []
    for activation in ACTIVATIONS:
        a_scale, b_scale = float(10 ** rng.uniform(-2, 0)), float(10 ** rng.uniform(-2, 0))
        y_scale = float((a_scale + b_scale if op == "ADD" else a_scale * b_scale * 60) * 10 ** rng.uniform(-0.5, 0.5))
        a_zp, b_zp = edge_zp(rng), edge_zp(rng)
        y_zp = edge_zp(rng) if activation == "NONE" else int(rng.integers(-128, 60))
        model = tb.single_op_model(
            op, [T(a_shape, scale=a_scale, zero_point=a_zp), T(b_shape, scale=b_scale, zero_point=b_zp)],
            [T(out, scale=y_scale, zero_point=y_zp)], {"fused_activation_function": activation}, version=2)
        dims = [1] * (4 - len(out)) + list(out)
        lo, hi = q.activation_range(activation, y_scale, y_zp)
        g = dims + broadcast_strides(a_shape, out) + broadcast_strides(b_shape, out) + [a_zp, b_zp]
        if op == "ADD":
            g += list(q.add_params(a_scale, b_scale, y_scale)) + [y_zp, lo, hi]
        else:
            g += list(q.mul_params(a_scale, b_scale, y_scale)) + [y_zp, lo, hi]
        cases += kernel_cases(model, [random_inputs(rng, a_shape), random_inputs(rng, b_shape)], op.lower(),
                              lambda ins, n: [ins[0], ins[1], Out(n), g])
    check(cases, tmp_path)


def test_add_same_scales_and_mul_left_shift(tmp_path):
    # ADD with both input scales equal (both multipliers 0.5); MUL whose multiplier is above one.
    cases = []
    for op, scales in (("ADD", (0.05, 0.05, 0.1)), ("MUL", (0.5, 0.5, 0.01))):
        model = tb.single_op_model(op, [T((1, 64), scale=scales[0], zero_point=-3), T((1, 64), scale=scales[1], zero_point=5)],
                                   [T((1, 64), scale=scales[2], zero_point=-1)], version=2)
        extra = q.add_params(*scales) if op == "ADD" else q.mul_params(*scales)
        g = [1, 1, 1, 64, 0, 0, 0, 1, 0, 0, 0, 1, -3, 5] + list(extra) + [-1, -128, 127]
        a = np.arange(-128, 128, 4, dtype=np.int8).reshape(1, 1, 64)
        b = np.stack([np.roll(a[0], k) for k in (0, 1, 7)])
        cases += kernel_cases(model, [np.repeat(a, 3, 0), b], op.lower(), lambda ins, n: [ins[0], ins[1], Out(n), g])
    check(cases, tmp_path)


# ---- LOGISTIC, TANH, QUANTIZE, DEQUANTIZE: lookup tables ----

ALL_CODES = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256)
TABLE_QUANT = [(0.1, 0), (0.05, -10), (0.0039, -128), (0.25, 127), (1.7, 3), (0.0123, 60), (0.5, -128)]


def lut_cases(model, table, x=ALL_CODES):
    table = np.ascontiguousarray(table)
    return kernel_cases(model, [x], "lut", lambda ins, n: [ins[0], Out(n), table.tobytes(), table.itemsize])


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_logistic_tanh(tmp_path, op):
    cases = []
    for scale, zp in TABLE_QUANT:
        y_scale, y_zp = (1 / 256, -128) if op == "LOGISTIC" else (1 / 128, 0)
        model = tb.single_op_model(op, [T((1, 256), scale=scale, zero_point=zp)],
                                   [T((1, 256), scale=y_scale, zero_point=y_zp)], version=2)
        table = q.logistic_table(scale, zp) if op == "LOGISTIC" else q.tanh_table(scale, zp)
        cases += lut_cases(model, table)
    check(cases, tmp_path)


def test_requantize(tmp_path):
    cases = []
    for (xs, xz), (ys, yz) in zip(TABLE_QUANT, TABLE_QUANT[3:] + TABLE_QUANT[:3]):
        model = tb.single_op_model("QUANTIZE", [T((1, 256), scale=xs, zero_point=xz)],
                                   [T((1, 256), scale=ys, zero_point=yz)], version=2)
        cases += lut_cases(model, q.requantize_table(xs, xz, ys, yz))
    check(cases, tmp_path)


def test_dequantize(tmp_path):
    cases = []
    for scale, zp in TABLE_QUANT:
        model = tb.single_op_model("DEQUANTIZE", [T((1, 256), scale=scale, zero_point=zp)],
                                   [T((1, 256), dtype="float32")], version=2)
        cases += lut_cases(model, q.dequantize_table(scale, zp))
    check(cases, tmp_path)


def test_quantize_float(tmp_path):
    rng = np.random.default_rng(5)
    cases = []
    for scale, zp in [(0.25, 0), (0.1, -3), (0.0078125, -128), (0.037, 127), (1.3e-3, 17)]:
        s = np.float32(scale)
        k = np.arange(-140, 140, dtype=np.float32)
        x = np.concatenate([k * s, (k + np.float32(0.5)) * s,  # ties, exact when the scale is a power of 2
                            np.nextafter((k + np.float32(0.5)) * s, np.float32(0)),
                            rng.normal(0, 60, 200).astype(np.float32) * s,
                            np.float32([0.0, -0.0, 1e-30, -1e-30, 1e6, -1e6])]).astype(np.float32)
        model = tb.single_op_model("QUANTIZE", [T((1, x.size), dtype="float32")],
                                   [T((1, x.size), scale=scale, zero_point=zp)], version=1)
        bits = int(np.array([scale], np.float32).view(np.int32)[0])
        cases += kernel_cases(model, [x.reshape(1, 1, -1)], "quantize_f32", lambda ins, n: [ins[0], Out(n), [zp, bits]])
    check(cases, tmp_path)
