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


def conv16_model(rng, depthwise, padding, stride, dilation, c_in, mult, activation, hw=(9, 7), k=(3, 3)):
    (h, w), (kh, kw) = hw, k
    oc = c_in * mult if depthwise else 6
    wt = rng.integers(-127, 128, (1, kh, kw, oc) if depthwise else (oc, kh, kw, c_in)).astype(np.int8)
    scales = (10 ** rng.uniform(-3, -2, oc)).astype(np.float32)
    from tinyml_host.model.convert import out_size
    oh, ow = out_size(padding, h, kh, stride, dilation), out_size(padding, w, kw, stride, dilation)
    opts = {"padding": padding, "stride_h": stride, "stride_w": stride, "dilation_h_factor": dilation,
            "dilation_w_factor": dilation, "fused_activation_function": activation}
    if depthwise:
        opts["depth_multiplier"] = mult
    x_scale = 1e-4
    taps = kh * kw * (1 if depthwise else c_in)
    y_scale = float(x_scale * scales.mean() * 60 * np.sqrt(taps))
    model = tb.single_op_model(
        "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D",
        [T((1, h, w, c_in), dtype="int16", scale=x_scale, name="x"),
         T(data=wt, scale=scales, quantized_dimension=3 if depthwise else 0, name="w"),
         T(data=rng.integers(-2 ** 21, 2 ** 21, oc).astype(np.int64), dtype="int64",
           scale=np.float32(x_scale) * scales, quantized_dimension=0, name="b")],
        [T((1, oh, ow, oc), dtype="int16", scale=y_scale, name="y")], opts, 3 if depthwise else 2)
    return model, (1, h, w, c_in)


@pytest.mark.parametrize("depthwise,padding,stride,dilation,c_in,mult,activation", [
    (False, "SAME", 2, 1, 3, 1, "RELU6"), (False, "VALID", 1, 2, 4, 1, "NONE"), (False, "SAME", 1, 1, 40, 1, "RELU"),
    (True, "SAME", 1, 1, 1, 8, "NONE"), (True, "SAME", 2, 1, 3, 2, "RELU"), (True, "VALID", 1, 2, 2, 1, "RELU_N1_TO_1")])
def test_conv_s16(tmp_path, depthwise, padding, stride, dilation, c_in, mult, activation):
    rng = np.random.default_rng([16, depthwise, stride, dilation, c_in, mult])
    model, shape = conv16_model(rng, depthwise, padding, stride, dilation, c_in, mult, activation)
    expected, got = run_everywhere(tmp_path, model, [int16_inputs(rng, shape, 3)])
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 20


@pytest.mark.parametrize("name", ["MAX_POOL_2D", "AVERAGE_POOL_2D"])
def test_pool_s16(tmp_path, name):
    rng = np.random.default_rng(len(name))
    model = tb.single_op_model(name, [T((1, 7, 5, 3), dtype="int16", scale=0.001)],
                               [T((1, 4, 3, 3), dtype="int16", scale=0.001)],
                               {"padding": "SAME", "stride_h": 2, "stride_w": 2, "filter_height": 3, "filter_width": 3,
                                "fused_activation_function": "RELU6"}, 2)
    expected, got = run_everywhere(tmp_path, model, [int16_inputs(rng, (1, 7, 5, 3))])
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 20


def test_reshape_s16(tmp_path):
    rng = np.random.default_rng(3)
    model = tb.single_op_model("RESHAPE", [T((1, 2, 3, 4), dtype="int16", scale=0.001),
                                           T(data=np.array([1, 24], np.int32), dtype="int32")],
                               [T((1, 24), dtype="int16", scale=0.001)], {"new_shape": [1, 24]})
    expected, got = run_everywhere(tmp_path, model, [int16_inputs(rng, (1, 2, 3, 4))])
    assert_same(expected, got)


def test_16x8_model_with_an_op_without_int16_kernels_is_refused_naming_it():
    model = tb.build_model(
        [tb.Op("FULLY_CONNECTED", [0, 1, 2], [3], {}, 12), tb.Op("RELU", [3], [4], {}, 3),
         tb.Op("LEAKY_RELU", [4], [5], {"alpha": 0.2}, 2)],
        [T((1, 4), dtype="int16", scale=0.001), T(data=np.ones((3, 4), np.int8), scale=0.01),
         T(data=np.zeros(3, np.int64), dtype="int64", scale=1e-5), T((1, 3), dtype="int16", scale=0.001),
         T((1, 3), dtype="int16", scale=1 / 32768), T((1, 3), dtype="int16", scale=1 / 32768)], [0], [5])
    with pytest.raises(ConvertError) as e:
        convert(model, "m16")
    msg = str(e.value)
    assert "int16" in msg and "RELU (op 1)" in msg and "LEAKY_RELU (op 2)" in msg and "FULLY_CONNECTED," in msg
    assert "TFLITE_BUILTINS_INT8" in msg


@pytest.mark.parametrize("ratio", [2.0 ** -29, 2.0 ** -20, 2.0 ** -12, 2.0 ** -3, 0.7, 3.0, 100.0])
def test_fully_connected_s16_every_requantization_shift(tmp_path, ratio):
    """x_scale * w_scale / y_scale from 2**-29 to 100: TFLM's 64-bit requantization shifts by 44 down to 8
    (each branch of the viper kernel's 32-bit limbs), over a dot product of 600 (several int32 runs of 256)."""
    rng = np.random.default_rng(int(-np.log2(ratio) * 10) + 1000)
    n_in, n_out = 600, 5
    w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    x_scale, w_scale = 1e-4, 1e-2
    y_scale = x_scale * w_scale / ratio
    bound = int(min(2 ** 39, max(2, 2 ** 14 / ratio)))  # a bias up to 2**39, where it leaves the output in range
    model = tb.single_op_model(
        "FULLY_CONNECTED",
        [T((1, n_in), dtype="int16", scale=x_scale), T(data=w, scale=[w_scale]),
         T(data=rng.integers(-bound, bound, n_out).astype(np.int64), dtype="int64", scale=[x_scale * w_scale])],
        [T((1, n_out), dtype="int16", scale=y_scale)], {}, version=tb.FC_PER_CHANNEL_VERSION)
    amp = int(np.clip(8000 / (ratio * 127 * np.sqrt(n_in)), 1, 32767))  # outputs inside int16, mostly
    sparse = np.zeros((4, 1, n_in), np.int16)
    sparse[np.arange(4), 0, rng.integers(0, n_in, 4)] = rng.integers(-amp, amp + 1, 4)
    x = np.concatenate([int16_inputs(rng, (1, n_in)), rng.integers(-amp, amp + 1, (4, 1, n_in)).astype(np.int16),
                        sparse])
    expected, got = run_everywhere(tmp_path, model, [x])
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 3


@pytest.mark.parametrize("name", ["ADD", "SUB"])
@pytest.mark.parametrize("shapes", [((1, 4, 4, 3), (1, 1, 1, 3)), ((2, 5), (2, 5)), ((3, 1, 6), (4, 1))],
                         ids=["channels", "same", "both"])
def test_add_sub_s16(tmp_path, name, shapes):
    """TFLM's int16 ADD and SUB (left_shift 15, zero points 0), broadcast, with a fused activation."""
    rng = np.random.default_rng([len(name), len(shapes[0]), len(shapes[1])])
    out = tuple(np.broadcast_shapes(*shapes))
    model = tb.single_op_model(name, [T(shapes[0], dtype="int16", scale=3e-4), T(shapes[1], dtype="int16", scale=1e-4)],
                               [T(out, dtype="int16", scale=4e-4)], {"fused_activation_function": "RELU6"}, 2)
    expected, got = run_everywhere(tmp_path, model, [int16_inputs(rng, shapes[0], 3), int16_inputs(rng, shapes[1], 3)])
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 10


def test_16x8_model_with_float_io_runs_as_tflm(tmp_path):
    """TF's converter's default ends of a 16x8 model: QUANTIZE float32 -> int16 in, DEQUANTIZE out
    (tests/test_s16_unary.py has each op alone)."""
    rng = np.random.default_rng(16)
    model = tb.build_model(
        [tb.Op("QUANTIZE", [0], [1], {}, 1), tb.Op("FULLY_CONNECTED", [1, 2, 3], [4], {}, 12),
         tb.Op("DEQUANTIZE", [4], [5], {}, 1)],
        [T((1, 4), dtype="float32"), T((1, 4), dtype="int16", scale=0.001),
         T(data=rng.integers(-127, 128, (3, 4)).astype(np.int8), scale=0.01),
         T(data=np.zeros(3, np.int64), dtype="int64", scale=1e-5), T((1, 3), dtype="int16", scale=0.001),
         T((1, 3), dtype="float32")], [0], [5])
    x = rng.normal(0, 10, (6, 1, 4)).astype(np.float32)
    expected, got = run_everywhere(tmp_path, model, [x])
    assert expected[0].dtype == np.float32 and len(np.unique(expected[0])) > 5
    for backend, ys in got.items():
        assert ys[0].tobytes() == expected[0].tobytes(), backend


@pytest.mark.parametrize("shapes", [((1, 4, 4, 3), (1, 1, 1, 3)), ((2, 5), (2, 5)), ((3, 1, 6), (4, 1))],
                         ids=["channels", "same", "both"])
@pytest.mark.parametrize("y_scale", [0.05, 2e-5], ids=["shift-right", "shift-left"])
def test_mul_s16(tmp_path, shapes, y_scale):
    """TFLM's int16 MUL (the product of the codes requantized; a multiplier above one shifts left), broadcast."""
    rng = np.random.default_rng([len(shapes[0]), len(shapes[1]), int(y_scale * 1e5)])
    out = tuple(np.broadcast_shapes(*shapes))
    model = tb.single_op_model("MUL", [T(shapes[0], dtype="int16", scale=3e-3), T(shapes[1], dtype="int16", scale=1e-3)],
                               [T(out, dtype="int16", scale=y_scale)], {"fused_activation_function": "RELU"}, 2)
    xs = [int16_inputs(rng, shapes[0], 3), int16_inputs(rng, shapes[1], 3)]
    xs = [np.concatenate([x, (x[:3] // 256).astype(np.int16)]) for x in xs]  # small codes: products in range
    expected, got = run_everywhere(tmp_path, model, xs)
    assert_same(expected, got)
    assert len(np.unique(expected[0])) > 10
