"""TFLM's int8 unary math ops that tinyml runs as one table lookup (RELU, RELU6, LEAKY_RELU, HARD_SWISH,
ELU, ABS, RSQRT): single-op models built with tflite_build, converted, run by every backend on the real
MicroPython unix port and compared byte for byte with TFLM (tflite-micro) run in the same test: every
one of the 256 input codes, random shapes, random scales and zero points (the edges included)."""
import numpy as np
import pytest

from test_sub import run_everywhere
from tinyml_host.model import unary_tables as ut
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.oracle import tflm as oracle

T = tb.Tensor
OPS = ("RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "ELU", "ABS", "RSQRT")


def f32(x):
    return float(np.float32(x))


def unary_model(name, shape, x_q, y_q, options=None):
    return tb.single_op_model(name, [T(shape, scale=x_q[0], zero_point=x_q[1])],
                              [T(shape, scale=y_q[0], zero_point=y_q[1])], options or {})


def every_code(shape, x_zp, name):
    """All 256 codes (RSQRT's from x_zp up: TFLM fails below), laid out over cases of `shape`."""
    lo = x_zp if name == "RSQRT" else -128
    n = int(np.prod(shape))
    codes = np.arange(lo, 128)
    codes = np.resize(codes, -(-len(codes) // n) * n)
    return codes.astype(np.int8).reshape((-1,) + shape)


def quantization(rng, name):
    """Input and output (scale, zero point) TFLM accepts for the op, the zero points at the edges too."""
    x_scale = f32(10 ** rng.uniform(-2.5, -0.3))
    x_zp = int(rng.choice([-128, 127, rng.integers(-128, 128)]))
    y_scale = f32(x_scale * 10 ** rng.uniform(-0.7, 0.7))
    y_zp = int(rng.choice([-128, 127, rng.integers(-128, 128)]))
    if name == "RSQRT":
        x_zp = int(rng.choice([-128, rng.integers(-128, 0)]))
        y_scale = f32(1 / np.sqrt(x_scale) / 100 * 10 ** rng.uniform(-0.5, 0.5))
    if name == "HARD_SWISH":  # TFLM needs the output multiplier's exponent <= 0
        y_scale = f32(max(y_scale, x_scale / 100))
    return (x_scale, x_zp), (y_scale, y_zp)


@pytest.mark.parametrize("name", OPS)
def test_unary_op_matches_tflm_on_every_backend(tmp_path, name):
    rng = np.random.default_rng(OPS.index(name) + 1200)
    shape = tuple(int(d) for d in rng.integers(1, 6, rng.integers(1, 5)))
    x_q, y_q = quantization(rng, name)
    x_q, y_q = (x_q[0], min(x_q[1], 40)), (y_q[0], min(y_q[1], 40))  # not all clamped to one value
    options = {"alpha": f32(rng.choice([0.2, -0.3, 1.7]))} if name == "LEAKY_RELU" else None
    model = unary_model(name, shape, x_q, y_q, options)
    inputs = np.concatenate([every_code(shape, x_q[1], name),
                             rng.integers(max(-128, x_q[1]) if name == "RSQRT" else -128, 128,
                                          (3,) + shape).astype(np.int8)])
    expected = run_everywhere(tmp_path, model, [inputs])
    assert len(np.unique(expected[0])) > 3


@pytest.mark.parametrize("name", OPS)
def test_tables_are_tflms_for_many_scales(name):
    """The host's table against TFLM for 12 random quantizations per op, all 256 codes at once (the
    device only looks the table up, which the test above checks on every backend)."""
    rng = np.random.default_rng(OPS.index(name) + 1300)
    for _ in range(12):
        x_q, y_q = quantization(rng, name)
        alpha = f32(rng.uniform(-2, 2))
        options = {"alpha": alpha} if name == "LEAKY_RELU" else None
        model = unary_model(name, (1, 256), x_q, y_q, options)
        codes = np.arange(-128, 128, dtype=np.int8)
        got = {"RELU": ut.relu_table, "LEAKY_RELU": lambda *q: ut.leaky_relu_table(*q, alpha),
               "RELU6": lambda xs, xz, ys, yz: ut.relu6_table(xs, xz), "HARD_SWISH": ut.hard_swish_table,
               "ELU": ut.elu_table, "ABS": ut.abs_table, "RSQRT": ut.rsqrt_table}[name](*x_q, *y_q)
        if name == "RSQRT":  # TFLM fails on codes below x_zp: only those at or above it
            keep = codes >= x_q[1]
            x = np.where(keep, codes, x_q[1]).reshape(1, 1, 256)
            np.testing.assert_array_equal(oracle.tflm_run(model, [x])[0].ravel()[keep], got[keep])
        else:
            np.testing.assert_array_equal(oracle.tflm_run(model, [codes.reshape(1, 1, 256)])[0].ravel(), got)


def test_abs_with_the_input_quantization_does_not_requantize(tmp_path):
    model = unary_model("ABS", (2, 128), (0.05, -3), (0.05, -128))
    run_everywhere(tmp_path, model, [np.arange(-128, 128, dtype=np.int8).reshape(1, 2, 128)])


def test_hard_swish_with_an_output_scale_tflm_refuses_is_refused():
    with pytest.raises(ConvertError, match="HARD_SWISH.*exponent <= 0"):
        convert(unary_model("HARD_SWISH", (1, 8), (0.1, 0), (0.0001, 0)), "hs")


def test_unary_op_on_int16_is_refused_with_the_reason():
    model = tb.single_op_model("RELU", [T((1, 8), "int16", scale=0.1)], [T((1, 8), "int16", scale=0.1)])
    with pytest.raises(ConvertError, match="int16"):
        convert(model, "relu16")


@pytest.mark.parametrize("shape", [(1, 10), (2, 3, 7), (1, 2, 2, 300), (5,), (3, 1)])
def test_l2_normalization_matches_tflm(tmp_path, shape):
    """Rows of the last dimension: random rows, rows all at the zero point (a zero sum: TFLM's 1 / sqrt
    of 0 taken as of 1), one value off it, and the int8 extremes; the zero point at the edges too."""
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    x_zp = int(rng.choice([-128, 127, rng.integers(-128, 128)]))
    model = unary_model("L2_NORMALIZATION", shape, (f32(10 ** rng.uniform(-2, 0)), x_zp), (1 / 128, 0))
    x = rng.integers(-128, 128, (4,) + shape).astype(np.int8)
    flat = np.full((1,) + shape, x_zp, np.int8)
    one = flat.copy()
    one.reshape(-1)[0] = -128 if x_zp > 0 else 127
    extremes = [np.full((1,) + shape, v, np.int8) for v in (-128, 127)]
    run_everywhere(tmp_path, model, [np.concatenate([x, flat, one] + extremes)])


@pytest.mark.parametrize("shape", [(1, 10), (2, 3, 7), (1, 300), (4,), (3, 1)])
def test_log_softmax_matches_tflm(tmp_path, shape):
    """Rows of the last dimension: random rows, rows all equal, one value far above the rest (the
    others below diff_min or the adjusted minimum), the int8 extremes, input scales small and large."""
    rng = np.random.default_rng(len(shape) * 300 + shape[-1])
    for x_scale in (f32(10 ** rng.uniform(-2.5, -1.5)), f32(10 ** rng.uniform(-0.5, 0.5))):
        model = unary_model("LOG_SOFTMAX", shape, (x_scale, int(rng.integers(-128, 128))), (16 / 256, 127))
        x = rng.integers(-128, 128, (4,) + shape).astype(np.int8)
        peak = np.full((1,) + shape, -100, np.int8)
        peak.reshape(-1)[::shape[-1]] = 120
        extremes = [np.full((1,) + shape, v, np.int8) for v in (-128, 0, 127)]
        run_everywhere(tmp_path, model, [np.concatenate([x, peak] + extremes)])


def test_log_softmax_with_another_output_quantization_is_refused():
    with pytest.raises(ConvertError, match="16/256 and zero point 127"):
        convert(unary_model("LOG_SOFTMAX", (1, 8), (0.1, 0), (1 / 256, -128)), "logsm")
