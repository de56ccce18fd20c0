"""int16 (16x8) SOFTMAX, LOGISTIC, TANH, QUANTIZE and DEQUANTIZE: single-op models built here, converted,
and run by TFLM (tflite-micro) and by each backend on the real MicroPython unix port in the same test:
the bytes must be the same (docs/model-format.md, "Ops with int16 activations")."""
import struct

import numpy as np
import pytest

from test_ops_vs_tflm import assert_same, run_everywhere
from test_s16 import int16_inputs
from conftest import verify_on_board
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor


def inputs16(rng, shape, n=4):
    """Random codes over the whole range and small ones, -32768, 32767, and zero."""
    return [np.concatenate([int16_inputs(rng, shape, n), np.zeros((1,) + shape, np.int16),
                            np.stack([np.arange(-32768, 32768, 65536 // max(1, int(np.prod(shape))))
                                      [:int(np.prod(shape))].reshape(shape).astype(np.int16)])])]


def ramp16(shape):
    """Every 8th code from -32768 to 32767 in one tensor: each interpolation step of TFLM's tables."""
    return [np.arange(-32768, 32768, 8, dtype=np.int16).reshape((1,) + shape)]


# scales: TFLM's power-of-two case (2**-12; 2**-11 for TANH), and the multiplier-and-shift one
@pytest.mark.parametrize("x_scale", [2.0 ** -12, 2.0 ** -11, 1e-4, 3.1e-4, 1e-3, 2.0 ** -15, 0.02])
@pytest.mark.parametrize("name", ["LOGISTIC", "TANH"])
def test_sigmoid_s16(tmp_path, name, x_scale):
    shape = (8, 32, 32)
    model = tb.single_op_model(name, [T(shape, dtype="int16", scale=x_scale)],
                               [T(shape, dtype="int16", scale=1 / 32768)], {}, 3)
    expected, got = run_everywhere(tmp_path, model, ramp16(shape))
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 50


@pytest.mark.parametrize("x_scale,beta,shape", [(1e-3, 1.0, (2, 10)), (3e-4, 1.0, (1, 3, 7)), (2.0 ** -10, 0.5, (4, 3)),
                                                 (5e-5, 1.0, (1, 200)), (0.01, 1.0, (3, 40)), (1e-3, 2.0, (5,))])
def test_softmax_s16(tmp_path, x_scale, beta, shape):
    rng = np.random.default_rng([int(x_scale * 1e6), len(shape), shape[-1]])
    model = tb.single_op_model("SOFTMAX", [T(shape, dtype="int16", scale=x_scale)],
                               [T(shape, dtype="int16", scale=1 / 32768)], {"beta": beta}, 3)
    expected, got = run_everywhere(tmp_path, model, inputs16(rng, shape))
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 10


@pytest.mark.parametrize("y_dtype,y_scale,y_zp", [("int8", 0.02, 5), ("int8", 1e-3, -128), ("int16", 3e-4, 0),
                                                  ("int16", 1e-5, 0)])
def test_quantize_from_int16(tmp_path, y_dtype, y_scale, y_zp):
    rng = np.random.default_rng(int(y_scale * 1e5) + y_zp + 128)
    shape = (3, 5, 7)
    model = tb.single_op_model("QUANTIZE", [T(shape, dtype="int16", scale=1e-4)],
                               [T(shape, dtype=y_dtype, scale=y_scale, zero_point=y_zp)], {}, 3)
    expected, got = run_everywhere(tmp_path, model, inputs16(rng, shape))
    assert expected[0].dtype == np.dtype(y_dtype)
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 20


@pytest.mark.parametrize("x_zp,y_scale", [(-3, 1e-4), (127, 2e-5), (-128, 0.5)])
def test_quantize_int8_to_int16(tmp_path, x_zp, y_scale):
    shape = (1, 256)
    model = tb.single_op_model("QUANTIZE", [T(shape, dtype="int8", scale=0.01, zero_point=x_zp)],
                               [T(shape, dtype="int16", scale=y_scale)], {}, 3)
    x = np.arange(-128, 128, dtype=np.int8).reshape((1,) + shape)
    expected, got = run_everywhere(tmp_path, model, [x])
    assert_same(expected, got)


def test_quantize_float_to_int16_and_dequantize(tmp_path):
    rng = np.random.default_rng(7)
    shape = (4, 50)
    scale = 3.7e-4
    x = np.concatenate([rng.normal(0, 5, (3,) + shape), rng.normal(0, 30, (1,) + shape),
                        np.zeros((1,) + shape)]).astype(np.float32)
    # saturation and halves; not beyond int32 (TFLM's float -> int32 cast is undefined there: x86 gives
    # INT32_MIN, tinyml saturates as Arm does)
    x[0, 0, :6] = [1e4, -1e4, 12.12345, -12.12345, scale * 2.5, -scale * 2.5]
    model = tb.single_op_model("QUANTIZE", [T(shape, dtype="float32")], [T(shape, dtype="int16", scale=scale)], {}, 3)
    expected, got = run_everywhere(tmp_path, model, [x])
    assert_same(expected, got)
    assert {-32768, 32767} <= set(expected[0].ravel().tolist())
    model = tb.single_op_model("DEQUANTIZE", [T(shape, dtype="int16", scale=scale)], [T(shape, dtype="float32")], {}, 4)
    expected, got = run_everywhere(tmp_path, model, inputs16(rng, shape))
    assert expected[0].dtype == np.float32
    for backend, ys in got.items():  # the float32 bytes
        assert ys[0].tobytes() == expected[0].tobytes(), backend


def test_int16_ops_with_a_nonzero_zero_point_are_refused():
    for name, x, y in (("LOGISTIC", T((1, 4), dtype="int16", scale=1e-3, zero_point=3),
                        T((1, 4), dtype="int16", scale=1 / 32768)),
                       ("SOFTMAX", T((1, 4), dtype="int16", scale=1e-3),
                        T((1, 4), dtype="int16", scale=1 / 32768, zero_point=-2)),
                       ("DEQUANTIZE", T((1, 4), dtype="int16", scale=1e-3, zero_point=1), T((1, 4), dtype="float32"))):
        with pytest.raises(ConvertError, match="zero point .*: TFLM's int16 kernels take zero point 0 only"):
            convert(tb.single_op_model(name, [x], [y], {"beta": 1.0} if name == "SOFTMAX" else {}, 3), "m")


def test_int16_sigmoid_and_softmax_scales_tflm_cannot_run_are_refused():
    with pytest.raises(ConvertError, match="scale 1/32768"):
        convert(tb.single_op_model("TANH", [T((1, 4), dtype="int16", scale=1e-3)],
                                   [T((1, 4), dtype="int16", scale=1 / 256)], {}, 3), "m")
    with pytest.raises(ConvertError, match="over 8/3"):
        convert(tb.single_op_model("LOGISTIC", [T((1, 4), dtype="int16", scale=4.0)],
                                   [T((1, 4), dtype="int16", scale=1 / 32768)], {}, 3), "m")
    with pytest.raises(ConvertError, match="5 or more"):
        convert(tb.single_op_model("SOFTMAX", [T((1, 4), dtype="int16", scale=10.0)],
                                   [T((1, 4), dtype="int16", scale=1 / 32768)], {"beta": 1.0}, 3), "m")


def board_model():
    """Every int16 op of this file on one int16 input, in one model: LOGISTIC, TANH, SOFTMAX, QUANTIZE
    to int8 and to int16, DEQUANTIZE, and back to int16 from int8 and from float32."""
    t = [T((2, 48), dtype="int16", scale=7e-4, name="x"),
         T((2, 48), dtype="int16", scale=1 / 32768), T((2, 48), dtype="int16", scale=1 / 32768),
         T((2, 48), dtype="int16", scale=1 / 32768), T((2, 48), dtype="int8", scale=0.03, zero_point=-7),
         T((2, 48), dtype="int16", scale=3e-4), T((2, 48), dtype="float32"),
         T((2, 48), dtype="int16", scale=2e-4), T((2, 48), dtype="int16", scale=1e-3)]
    ops = [tb.Op("LOGISTIC", [0], [1], {}, 3), tb.Op("TANH", [0], [2], {}, 3), tb.Op("SOFTMAX", [0], [3], {"beta": 1.0}, 3),
           tb.Op("QUANTIZE", [0], [4], {}, 3), tb.Op("QUANTIZE", [0], [5], {}, 3), tb.Op("DEQUANTIZE", [0], [6], {}, 4),
           tb.Op("QUANTIZE", [4], [7], {}, 3), tb.Op("QUANTIZE", [6], [8], {}, 3)]
    return tb.build_model(ops, t, [0], [1, 2, 3, 4, 5, 6, 7, 8])


def test_every_int16_op_in_one_model_matches_tflm(tmp_path):
    """The board model on the unix port, each backend: what the qemu-m3 test below runs."""
    expected, got = run_everywhere(tmp_path, board_model(), inputs16(np.random.default_rng(9), (2, 48)))
    for backend, ys in got.items():
        for e, y in zip(expected, ys):
            assert y.tobytes() == e.tobytes(), backend


def test_every_int16_op_on_qemu_m3(qemu_m3, tmp_path, capsys):
    """The board model deployed to the emulated Cortex-M3 and checked against TFLM on the host
    (`tinyml verify`) with the native (C) and the viper kernels."""
    inputs = inputs16(np.random.default_rng(9), (2, 48))
    verify_on_board(qemu_m3, board_model(), inputs[0], "s16_ops", tmp_path, capsys)


@pytest.mark.parametrize("name,slot,value,field", [
    ("LOGISTIC", 0, 7, "mode 7 out of range 0..2"), ("TANH", 1, 40000, "multiplier 40000 out of range 1..32767"),
    ("LOGISTIC", 3, 5, "y_zp 5 out of range 0..0"), ("SOFTMAX", 1, 16, "input_left_shift 16 out of range -31..15"),
    ("SOFTMAX", 2, -4, "diff_min -4 out of range 0..0"), ("QUANTIZE", 0, 3, "y_zp 3 out of range 0..0")])
def test_int16_records_the_kernels_cannot_run_are_refused_at_load(name, slot, value, field):
    """A converted int16 record damaged after conversion: the loader names the field and its range
    (ModelFileError), before any kernel sees it."""
    from test_stateful_ops import _load_error, _params_at, _sealed
    out = T((1, 8), dtype="int16", scale=1 / 32768 if name != "QUANTIZE" else 2e-4)
    buf = bytearray(convert(tb.single_op_model(name, [T((1, 8), dtype="int16", scale=1e-3)], [out],
                                               {"beta": 1.0} if name == "SOFTMAX" else {}, 3), "m"))
    struct.pack_into("<i", buf, _params_at(buf) + 4 * slot, value)
    msg = _load_error(_sealed(buf))
    assert field in msg and "convert the model again" in msg, msg
