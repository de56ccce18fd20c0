"""Single-op and small multi-op models built here, run by TFLM (tflite-micro) and by each backend
on the real MicroPython unix port: the bytes must be the same."""
import numpy as np
import pytest

from tinyml_host.oracle import tflm as oracle
from conftest import BACKENDS
from tinyml_host.board import unix as board_unix
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.model.convert import convert

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


# ---- every CNN op through the converter and the interpreter, end to end ----

T = tb.Tensor


def one_op(name, in_specs, out_spec, options=None, version=1):
    return tb.single_op_model(name, in_specs, [out_spec], options, version)


def int8_inputs(rng, *shapes, n=5):
    return [random_inputs(rng, s, n) for s in shapes]


def conv_model(rng, depthwise, padding, stride, dilation, c_in, mult, activation):
    h, w, kh, kw = 9, 7, 3, 3
    oc = c_in * mult if depthwise else 6
    wt = rng.integers(-127, 128, (1, kh, kw, oc) if depthwise else (oc, kh, kw, c_in)).astype(np.int8)
    scales = list(10 ** rng.uniform(-3, -2, oc))
    from tinyml_host.model.convert import out_size
    oh, ow = out_size(padding, h, kh, stride, dilation), out_size(padding, w, kw, stride, dilation)
    opts = {"padding": padding, "stride_h": stride, "stride_w": stride, "dilation_h_factor": dilation,
            "dilation_w_factor": dilation, "fused_activation_function": activation}
    if depthwise:
        opts["depth_multiplier"] = mult
    return one_op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D",
                  [T((1, h, w, c_in), scale=0.05, zero_point=int(rng.choice([-128, 127, 3])), name="x"),
                   T(data=wt, scale=scales, quantized_dimension=3 if depthwise else 0, name="w"),
                   T(data=rng.integers(-3000, 3000, oc).astype(np.int32), dtype="int32",
                     scale=[0.05 * s for s in scales], name="b")],
                  T((1, oh, ow, oc), scale=0.2, zero_point=-5, name="y"), opts,
                  3 if depthwise else 2), (1, h, w, c_in)


@pytest.mark.parametrize("depthwise,padding,stride,dilation,c_in,mult", [
    (False, "SAME", 2, 1, 3, 1), (False, "VALID", 1, 2, 4, 1), (True, "SAME", 1, 1, 1, 8),
    (True, "SAME", 2, 1, 3, 2), (True, "VALID", 1, 2, 2, 1)])
def test_conv_ops_end_to_end(tmp_path, depthwise, padding, stride, dilation, c_in, mult):
    rng = np.random.default_rng([depthwise, stride, dilation, c_in, mult])
    model, shape = conv_model(rng, depthwise, padding, stride, dilation, c_in, mult, "RELU6")
    expected, got = run_everywhere(tmp_path, model, int8_inputs(rng, shape))
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 10


@pytest.mark.parametrize("name", ["MAX_POOL_2D", "AVERAGE_POOL_2D"])
def test_pool_ops_end_to_end(tmp_path, name):
    rng = np.random.default_rng(len(name))
    model = one_op(name, [T((1, 7, 5, 3), scale=0.1, zero_point=-7)], T((1, 4, 3, 3), scale=0.1, zero_point=-7),
                   {"padding": "SAME", "stride_h": 2, "stride_w": 2, "filter_height": 3, "filter_width": 3,
                    "fused_activation_function": "RELU"}, 2)
    expected, got = run_everywhere(tmp_path, model, int8_inputs(rng, (1, 7, 5, 3)))
    assert_same(expected, got)


def test_mean_end_to_end(tmp_path):
    rng = np.random.default_rng(40)
    model = one_op("MEAN", [T((1, 4, 5, 6), scale=0.07, zero_point=-3),
                            T(data=np.array([1, 2], np.int32), dtype="int32")],
                   T((1, 6), scale=0.05, zero_point=10), {"keep_dims": False}, 2)
    expected, got = run_everywhere(tmp_path, model, int8_inputs(rng, (1, 4, 5, 6)))
    assert_same(expected, got)


@pytest.mark.parametrize("name", ["ADD", "MUL"])
def test_binary_ops_end_to_end_with_broadcast(tmp_path, name):
    rng = np.random.default_rng(len(name) + 1)
    b_zp = 127 if name == "ADD" else -20  # with MUL and RELU, a zero point of 127 would zero every output
    model = one_op(name, [T((1, 4, 4, 3), scale=0.05, zero_point=-128), T((1, 1, 1, 3), scale=0.03, zero_point=b_zp)],
                   T((1, 4, 4, 3), scale=0.06 if name == "ADD" else 0.2, zero_point=4),
                   {"fused_activation_function": "RELU"}, 2)
    expected, got = run_everywhere(tmp_path, model, int8_inputs(rng, (1, 4, 4, 3), (1, 1, 1, 3)))
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 10


@pytest.mark.parametrize("name,out_q", [("LOGISTIC", (1 / 256, -128)), ("TANH", (1 / 128, 0)),
                                        ("QUANTIZE", (0.03, 9))])
def test_table_ops_end_to_end(tmp_path, name, out_q):
    x = np.arange(-128, 128, dtype=np.int8).reshape(16, 1, 16)
    model = one_op(name, [T((1, 16), scale=0.06, zero_point=-2)], T((1, 16), scale=out_q[0], zero_point=out_q[1]))
    expected, got = run_everywhere(tmp_path, model, [x])
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 20


def test_float_quantize_and_dequantize_end_to_end(tmp_path):
    # float32 in -> QUANTIZE -> int8 -> DEQUANTIZE -> float32 out: an int8 model with a float interface
    tensors = [T((1, 8), dtype="float32", name="in"), T((1, 8), scale=0.04, zero_point=-3, name="q"),
               T((1, 8), dtype="float32", name="out")]
    model = tb.build_model([tb.Op("QUANTIZE", [0], [1]), tb.Op("DEQUANTIZE", [1], [2], version=2)], tensors, [0], [2])
    x = (np.random.default_rng(3).normal(0, 3, (6, 1, 8))).astype(np.float32)
    x[0, 0, :4] = [0.02, -0.02, 0.06, -0.06]  # exact halves of the scale: rounding away from zero
    expected, got = run_everywhere(tmp_path, model, [x])
    assert_same(expected, got)


def test_pad_concat_squeeze_end_to_end(tmp_path):
    tensors = [T((1, 3, 2, 2), scale=0.1, zero_point=5, name="a"), T((1, 3, 2, 1), scale=0.1, zero_point=5, name="b"),
               T((1, 3, 2, 3), scale=0.1, zero_point=5, name="cat"),
               T(data=np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32), dtype="int32", name="pads"),
               T((1, 6, 3, 3), scale=0.1, zero_point=5, name="pad"), T((6, 3, 3), scale=0.1, zero_point=5, name="sq")]
    ops = [tb.Op("CONCATENATION", [0, 1], [2], {"axis": 3}), tb.Op("PAD", [2, 3], [4]),
           tb.Op("SQUEEZE", [4], [5], {"squeeze_dims": [0]})]
    model = tb.build_model(ops, tensors, [0, 1], [5])
    rng = np.random.default_rng(5)
    expected, got = run_everywhere(tmp_path, model, int8_inputs(rng, (1, 3, 2, 2), (1, 3, 2, 1)))
    assert_same(expected, got)
