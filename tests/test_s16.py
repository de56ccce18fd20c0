"""Ops with int16 activations and int8 weights (TFLite's 16x8 quantization): single-op models built
here, converted, and run by TFLM (tflite-micro) and by each backend on the real MicroPython unix port:
the bytes must be the same (docs/model-format.md, "int16 activations")."""
import numpy as np
import pytest

from test_ops_vs_tflm import ACTIVATIONS, assert_same, run_everywhere
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor


def int16_inputs(rng, shape, n=6):
    x = rng.integers(-32768, 32768, (n,) + shape)
    small = rng.integers(-300, 300, (2,) + shape)  # a typical activation's codes, not only saturation
    extremes = np.stack([np.full(shape, -32768), np.full(shape, 32767)])
    return np.concatenate([x, small, extremes]).astype(np.int16)


def _scales(rng, n, per_channel):
    return (10 ** rng.uniform(-3, -1, n if per_channel else 1)).astype(np.float32)


def fc16_model(rng, per_channel, activation, gain=1.0, bias_bits=22):
    n_in, n_out, batches = int(rng.integers(1, 80)), int(rng.integers(1, 24)), int(rng.integers(1, 4))
    x_scale = float(10 ** rng.uniform(-5, -3))
    w_scales = _scales(rng, n_out, per_channel)
    w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    y_scale = float(x_scale * w_scales.mean() * 40 * np.sqrt(n_in) * gain)
    ins = [T((batches, n_in), dtype="int16", scale=x_scale, name="input"),
           T(data=w, scale=w_scales, name="weights")]
    if bias_bits:
        ins.append(T(data=rng.integers(-2 ** bias_bits, 2 ** bias_bits, n_out).astype(np.int64), dtype="int64",
                     scale=np.float32(x_scale) * w_scales, name="bias"))
    model = tb.single_op_model("FULLY_CONNECTED", ins, [T((batches, n_out), dtype="int16", scale=y_scale, name="output")],
                               {"fused_activation_function": activation}, version=tb.FC_PER_CHANNEL_VERSION)
    return model, (batches, n_in)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fully_connected_s16(tmp_path, per_channel, activation):
    rng = np.random.default_rng([16, per_channel, ACTIVATIONS.index(activation)])
    seen = set()
    # 0.05 and a bias of 2**36: saturation, and results beyond int32 (TFLM's cast wraps them)
    for gain, bias_bits in ((1.0, 22), (0.05, 36), (1.0, None)):
        model, shape = fc16_model(rng, per_channel, activation, gain, bias_bits)
        expected, got = run_everywhere(tmp_path, model, [int16_inputs(rng, shape)])
        assert expected[0].dtype == np.int16
        assert_same(expected, got)
        seen.update(np.unique(expected[0]).tolist())
    assert len(seen) > 20, "outputs nearly constant: the test would not see a requantization error"
