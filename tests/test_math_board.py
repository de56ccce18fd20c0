"""TFLM's math ops (issue 12) on the emulated Cortex-M3 board (qemu-m3), through the commands a user
types: `tinyml deploy`, then `tinyml verify` against tflite-micro on the host, with the native module
and with viper. One model holds every math op (one output each), so one board session checks them all;
single_op() gives each op alone for the boards' every-op tests (tests/test_qemu_esp32.py)."""
import numpy as np
import pytest

from conftest import tinyml
from tinyml_host.emulators import supervisor as emulators
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor
X = ((1, 4, 4, 3), 0.05, -2)     # the input most ops take: shape, scale, zero point
R = ((1, 4, 4, 3), 0.06, -128)   # RSQRT's (TFLM fails on codes below the zero point)
B = ((1, 1, 1, 3), 0.03, 5)      # the broadcast operand of the binary ops
UNARY = {"RELU": (0.03, -128, None), "RELU6": (0.03, -128, None), "LEAKY_RELU": (0.05, 10, {"alpha": 0.1}),
         "HARD_SWISH": (0.03, -100, None), "ELU": (0.04, 30, None), "ABS": (0.04, -128, None),
         "RSQRT": (0.05, -128, None), "L2_NORMALIZATION": (1 / 128, 0, None), "LOG_SOFTMAX": (16 / 256, 127, None)}
REDUCE = {"MEAN": ([1, 2], 0.03, 4), "SUM": ([1], 0.3, -20), "REDUCE_MAX": ([0, 2], None, None),
          "REDUCE_MIN": ([-1], None, None)}
ARG = {"ARG_MAX": -1, "ARG_MIN": 1}  # the axis
BINARY = {"MAXIMUM": (0.05, 0), "MINIMUM": (0.05, 0), "SQUARED_DIFFERENCE": (0.01, -128), "PRELU": (0.04, 7)}
COMPARE = ["EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL"]  # bools out
OPS = list(UNARY) + list(REDUCE) + list(ARG) + list(BINARY) + COMPARE + ["SELECT_V2"]  # the last on LESS's bools


def _tensor(spec):
    return T(spec[0], scale=spec[1], zero_point=spec[2])


def _op(name, tensors, x, r, b):
    """Appends op `name`'s output (and constants) to tensors; returns its tb.Op."""
    out = len(tensors)
    if name in UNARY:
        scale, zp, options = UNARY[name]
        tensors.append(T(X[0], scale=scale, zero_point=zp))
        return tb.Op(name, [r if name == "RSQRT" else x], [out], options or {})
    if name in REDUCE:
        axes, scale, zp = REDUCE[name]
        kept = [1 if i in {a % 4 for a in axes} else d for i, d in enumerate(X[0])]
        tensors.append(T(tuple(kept), scale=scale or X[1], zero_point=X[2] if zp is None else zp))
        tensors.append(T(data=np.array(axes, np.int32), dtype="int32"))
        return tb.Op(name, [x, out + 1], [out], {"keep_dims": True})
    if name in ARG:
        tensors.append(T(tuple(d for i, d in enumerate(X[0]) if i != ARG[name] % 4), dtype="int32"))
        tensors.append(T(data=np.array([ARG[name]], np.int32), dtype="int32"))
        return tb.Op(name, [x, out + 1], [out], {"output_type": "INT32"})
    if name in COMPARE:
        tensors.append(T(X[0], dtype="bool"))
        return tb.Op(name, [x, b], [out])
    scale, zp = BINARY[name]
    tensors.append(T(X[0], scale=scale, zero_point=zp))
    return tb.Op(name, [x, b], [out])


def _inputs(rng, specs, n=6):
    return [np.concatenate([rng.integers(-128, 128, (n,) + s[0]), np.full((1,) + s[0], -128), np.full((1,) + s[0], 127)])
            .astype(np.int8) for s in specs]


def single_op(name, rng):
    """(.tflite bytes of a model of the one math op `name`, its inputs (N, *shape) per model input);
    SELECT_V2's condition comes from a LESS, as in the graphs that have one."""
    if name == "SELECT_V2":
        tensors = [_tensor(X), _tensor(B)]
        ops = [_op("LESS", tensors, 0, 0, 1), _select(tensors, 2, 0, 1)]
        return tb.build_model(ops, tensors, [0, 1], [3]), _inputs(rng, [X, B])
    specs = [R if name == "RSQRT" else X] + ([B] if name in BINARY or name in COMPARE else [])
    tensors = [_tensor(s) for s in specs]
    op = _op(name, tensors, 0, 0, 1)
    inputs = _inputs(rng, specs)
    if name == "RSQRT":
        inputs[0] = np.maximum(inputs[0], R[2]).astype(np.int8)
    return tb.build_model([op], tensors, list(range(len(specs))), [len(specs)]), inputs


def _select(tensors, cond, x, b):
    tensors.append(T(X[0], scale=X[1], zero_point=X[2]))
    return tb.Op("SELECT_V2", [cond, x, b], [len(tensors) - 1])


def every_math_op_model():
    """One model of every math op side by side: inputs x, r (RSQRT's), b; one output per op."""
    tensors = [_tensor(X), _tensor(R), _tensor(B)]
    ops, outs = [], []
    for name in OPS[:-1]:
        outs.append(len(tensors))
        ops.append(_op(name, tensors, 0, 1, 2))
    ops.append(_select(tensors, outs[OPS.index("LESS")], 0, 2))
    outs.append(len(tensors) - 1)
    return tb.build_model(ops, tensors, [0, 1, 2], outs)


@pytest.fixture(scope="module")
def board():
    started = emulators.running("qemu-m3") is None
    emulators.start("qemu-m3")
    yield "qemu-m3"
    if started:
        emulators.stop("qemu-m3")


def test_every_math_op_matches_tflm_on_qemu_m3(board, tmp_path, capsys):
    model = tmp_path / "math_ops.tflite"
    model.write_bytes(every_math_op_model())
    xs = _inputs(np.random.default_rng(1212), [X, R, B])
    xs[1] = np.maximum(xs[1], R[2]).astype(np.int8)
    files = []
    for k, x in enumerate(xs):
        files.append(tmp_path / ("input%d.npy" % k))
        np.save(files[-1], x)
    assert tinyml("deploy", model, "--board", board) == 0  # this library, its native module for the M3
    for backend in ("native", "viper"):
        capsys.readouterr()
        args = ["verify", model] + [x for f in files for x in ("--input", f)] + ["--board", board, "--backend", backend]
        assert tinyml(*args) == 0
        out = capsys.readouterr().out
        assert "8/8 cases match TFLM bit for bit on qemu-m3, backend %s" % backend in out, out
