"""Single-op and small multi-op models built here, run by TFLM (tflite-micro) and by each backend
on the real MicroPython unix port: the bytes must be the same."""
import numpy as np
import pytest

from tinyml_host import tflm as oracle
from conftest import BACKENDS
from tinyml_host import board_unix
from tinyml_host import tflite_build as tb
from tinyml_host.convert import convert

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def run_everywhere(tmp_path, model, inputs):
    """TFLM's outputs and each backend's, for one model."""
    expected = oracle.tflm_run(model, inputs)
    tml = tmp_path / "m.tml"
    tml.write_bytes(convert(model, "test model"))
    got = {}
    for backend in BACKENDS:
        ys, info = board_unix.run_model(tml, inputs, backend)
        assert info["backend"] == backend
        got[backend] = [y.reshape(e.shape) for y, e in zip(ys, expected)]
    return expected, got


def assert_same(expected, got):
    for backend, ys in got.items():
        for e, y in zip(expected, ys):
            np.testing.assert_array_equal(y, e, err_msg="backend %s differs from TFLM" % backend)


def edge_zp(rng):
    return int(rng.choice([-128, 127, rng.integers(-128, 128)]))


def random_inputs(rng, shape, n=6):
    x = rng.integers(-128, 128, (n,) + shape).astype(np.int8)
    extremes = np.stack([np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)])
    return np.concatenate([x, extremes])


def fc_model(rng, per_channel, activation, gain=1.0):
    n_in, n_out, batches = int(rng.integers(1, 80)), int(rng.integers(1, 24)), int(rng.integers(1, 4))
    in_scale = float(10 ** rng.uniform(-3, 0))
    w_scales = 10 ** rng.uniform(-3, -1, n_out if per_channel else 1)
    w = rng.integers(-128, 128, (n_out, n_in))
    bias = rng.integers(-2 ** 16, 2 ** 16, n_out)
    # An output scale near the typical accumulator range, times gain: gain << 1 saturates.
    out_scale = float(in_scale * w_scales.mean() * 40 * np.sqrt(n_in) * gain)
    # A fused activation with the output zero point at 127 clamps everything: keep it inside.
    out_zp = edge_zp(rng) if activation == "NONE" else int(rng.integers(-128, 100))
    model = tb.fully_connected_model(w, bias, in_scale, edge_zp(rng), w_scales, out_scale, out_zp,
                                     activation=activation, batches=batches)
    return model, (batches, n_in)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fully_connected_random(tmp_path, per_channel, activation):
    rng = np.random.default_rng([per_channel, ACTIVATIONS.index(activation)])
    seen = set()
    for gain in (1.0, 0.3, 0.01):  # 0.01: multipliers above one (left shifts) and saturation
        model, shape = fc_model(rng, per_channel, activation, gain)
        expected, got = run_everywhere(tmp_path, model, [random_inputs(rng, shape)])
        assert_same(expected, got)
        seen.update(np.unique(expected[0]).tolist())
    assert len(seen) > 3, "outputs nearly constant: the test would not see a requantization error"


def test_fully_connected_large_multiplier_shifts_left(tmp_path):
    # in_scale * w_scale / out_scale = 4: QuantizeMultiplier gives a positive shift.
    w = np.array([[1, -2, 3], [-1, 1, 0]])
    model = tb.fully_connected_model(w, [5, -7], 0.5, -3, [0.08], 0.01, 10)
    x = np.array([[[v, -v, v // 2]] for v in range(-40, 40)], np.int8)
    expected, got = run_everywhere(tmp_path, model, [x])
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 10


@pytest.mark.parametrize("seed", range(4))
def test_softmax_random(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    n, rows = int(rng.integers(1, 40)), int(rng.integers(1, 4))
    model = tb.softmax_model(n, float(10 ** rng.uniform(-2, 0.5)), edge_zp(rng),
                             beta=float(rng.choice([0.5, 1.0, 2.0])), rows=rows)
    x = random_inputs(rng, (rows, n))
    x[0] = 7  # all equal: the uniform distribution
    expected, got = run_everywhere(tmp_path, model, [x])
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 1 or n == 1


def test_reshape(tmp_path):
    model = tb.reshape_model((1, 12), (1, 3, 4), 0.1, 3)
    x = np.arange(-48, 48, dtype=np.int8).reshape(8, 1, 12)
    expected, got = run_everywhere(tmp_path, model, [x])
    assert_same(expected, got)
    np.testing.assert_array_equal(expected[0].reshape(8, 12), x.reshape(8, 12))


def test_classifier_chain(tmp_path):
    # FC+RELU -> FC -> RESHAPE -> SOFTMAX: activations planned in one arena, shared by lifetime.
    rng = np.random.default_rng(7)
    w1, w2 = rng.integers(-127, 128, (32, 20)), rng.integers(-127, 128, (6, 32))
    T = tb.Tensor
    tensors = [
        T((1, 20), scale=0.05, zero_point=-4, name="x"),
        T(data=w1.astype(np.int8), scale=[0.01], name="w1"),
        T(data=rng.integers(-500, 500, 32).astype(np.int32), dtype="int32", scale=[0.0005], name="b1"),
        T((1, 32), scale=0.3, zero_point=-128, name="h"),
        T(data=w2.astype(np.int8), scale=[0.02], name="w2"),
        T(data=rng.integers(-500, 500, 6).astype(np.int32), dtype="int32", scale=[0.006], name="b2"),
        T((1, 6), scale=0.8, zero_point=2, name="logits"),
        T(data=np.array([1, 6], np.int32), dtype="int32", name="shape"),
        T((1, 6), scale=0.8, zero_point=2, name="logits2"),
        T((1, 6), scale=1 / 256, zero_point=-128, name="probs"),
    ]
    ops = [tb.Op("FULLY_CONNECTED", [0, 1, 2], [3], {"fused_activation_function": "RELU"}, 4),
           tb.Op("FULLY_CONNECTED", [3, 4, 5], [6], {}, 4),
           tb.Op("RESHAPE", [6, 7], [8], {"new_shape": [1, 6]}),
           tb.Op("SOFTMAX", [8], [9], {"beta": 1.0}, 2)]
    model = tb.build_model(ops, tensors, [0], [9])
    expected, got = run_everywhere(tmp_path, model, [random_inputs(rng, (1, 20), 16)])
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 3
