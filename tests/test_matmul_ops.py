"""FULLY_CONNECTED on 3-D inputs (keep_num_dims, a Keras Dense on a sequence): single-op int8 models
built with tflite_build, converted, run by every backend on the real MicroPython unix port and
compared byte for byte with TFLM run in the same test: keep_num_dims on and off, per-tensor and
per-channel weights, every fused activation."""
import numpy as np
import pytest

from conftest import BACKENDS
from tinyml_host.board import unix as board_unix
from tinyml_host.model.convert import convert
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.oracle import tflm as oracle

T = tb.Tensor
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def run_everywhere(tmp_path, model, inputs):
    expected = oracle.tflm_run(model, inputs)
    tml = tmp_path / "m.tml"
    tml.write_bytes(convert(model, "matmul model"))
    for backend in BACKENDS:
        ys, info = board_unix.run_model(tml, inputs, backend)
        assert info["backend"] == backend
        for e, y in zip(expected, ys):
            np.testing.assert_array_equal(y.reshape(e.shape), e, err_msg="backend %s differs from TFLM" % backend)
    return expected


def cases(rng, shape, n=5):
    return np.concatenate([rng.integers(-128, 128, (n,) + shape), np.full((1,) + shape, -128),
                           np.full((1,) + shape, 127)]).astype(np.int8)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("keep_num_dims", [True, False])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_fully_connected_on_a_sequence_matches_tflm(tmp_path, activation, keep_num_dims, per_channel):
    rng = np.random.default_rng([ACTIVATIONS.index(activation), keep_num_dims, per_channel])
    steps, n_in, n_out = int(rng.integers(2, 7)), int(rng.integers(3, 20)), int(rng.integers(2, 12))
    x_scale, x_zp = float(rng.uniform(0.01, 0.1)), int(rng.choice([-128, 127, rng.integers(-128, 128)]))
    w_scales = rng.uniform(0.002, 0.02, n_out if per_channel else 1).astype(np.float32)
    y_scale = float(x_scale * w_scales.mean() * np.sqrt(n_in) * 40)
    if activation != "NONE":
        y_scale = min(y_scale, {"RELU": 1.0, "RELU6": 6.0, "RELU_N1_TO_1": 1.0}[activation] / 100)
    y_zp = int(rng.integers(-100, 100))
    out_shape = (1, steps, n_out) if keep_num_dims else (steps, n_out)
    model = tb.single_op_model(
        "FULLY_CONNECTED",
        [T((1, steps, n_in), scale=x_scale, zero_point=x_zp, name="input"),
         T(data=rng.integers(-127, 128, (n_out, n_in)).astype(np.int8), scale=w_scales,
           zero_point=[0] * len(w_scales), name="weights"),
         T(data=rng.integers(-5000, 5000, n_out).astype(np.int32), dtype="int32",
           scale=np.float32(x_scale) * w_scales, zero_point=[0] * len(w_scales), name="bias")],
        [T(out_shape, scale=y_scale, zero_point=y_zp)],
        {"fused_activation_function": activation, "keep_num_dims": keep_num_dims},
        tb.FC_PER_CHANNEL_VERSION if per_channel else tb.FC_VERSION)
    expected = run_everywhere(tmp_path, model, [cases(rng, (1, steps, n_in))])
    assert expected[0].shape[1:] == out_shape
    assert len(np.unique(expected[0])) > 3
