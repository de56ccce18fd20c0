"""A single-op int8 model for every op of tinyml's op table (device_lib/tinyml/ops.py), with inputs:
single_op(name, rng) -> (.tflite bytes, [array (N, *shape) per model input]). TFLM runs them on the
host and a board runs their conversion (tests/test_qemu_esp32.py: every op on the ESP32's core).
An op added to the table gets its model here (test_qemu_esp32 fails, naming it, until it has one)."""
import numpy as np

from test_math_board import OPS as MATH_OPS, single_op as math_single_op
from test_matmul_ops import TWO_ACTIVATIONS, two_activations_model
from recurrent_models import lstm_model, svdf_model
from test_ops_vs_tflm import conv_model, fc_model, int8_inputs, one_op, random_inputs
from test_transpose_conv import CASES as TCONV_CASES, transpose_conv_model
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor


def _binary(name, rng):
    return one_op(name, [T((1, 4, 4, 3), scale=0.05, zero_point=-128), T((1, 1, 1, 3), scale=0.03, zero_point=-20)],
                  T((1, 4, 4, 3), scale=0.2 if name == "MUL" else 0.06, zero_point=4),
                  {"fused_activation_function": "RELU"}, 2), int8_inputs(rng, (1, 4, 4, 3), (1, 1, 1, 3))


def _pool(name, rng):
    return one_op(name, [T((1, 7, 5, 3), scale=0.1, zero_point=-7)], T((1, 4, 3, 3), scale=0.1, zero_point=-7),
                  {"padding": "SAME", "stride_h": 2, "stride_w": 2, "filter_height": 3, "filter_width": 3,
                   "fused_activation_function": "RELU"}, 2), int8_inputs(rng, (1, 7, 5, 3))


# Unary ops (one table lookup on the device): every input code once; (input zero point, output
# scale and zero point, options). RSQRT's inputs are >= 0 (TFLM refuses negative ones).
UNARY = {"LOGISTIC": (-2, 1 / 256, -128, None), "TANH": (-2, 1 / 128, 0, None), "QUANTIZE": (-2, 0.03, 9, None),
         "RELU": (-2, 0.03, -128, None), "RELU6": (-2, 0.03, -128, None), "ABS": (-2, 0.04, -128, None),
         "ELU": (-2, 0.04, 30, None), "HARD_SWISH": (-2, 0.03, -100, None),
         "LEAKY_RELU": (-2, 0.05, 10, {"alpha": 0.1}), "RSQRT": (-128, 0.05, -128, None)}


def _table(name):
    x_zp, y_scale, y_zp, options = UNARY[name]
    x = np.arange(-128, 128, dtype=np.int8).reshape(16, 1, 16)
    return one_op(name, [T((1, 16), scale=0.06, zero_point=x_zp)], T((1, 16), scale=y_scale, zero_point=y_zp),
                  options), [x]


def _fc(rng):
    model, shape = fc_model(rng, True, "RELU")
    return model, [random_inputs(rng, shape)]


def _conv(depthwise):
    def build(rng):
        model, shape = conv_model(rng, depthwise, "SAME", 1 if depthwise else 2, 1, 3, 2 if depthwise else 1, "RELU6")
        return model, int8_inputs(rng, shape)
    return build


def _dequantize(rng):
    model = one_op("DEQUANTIZE", [T((1, 8), scale=0.04, zero_point=-3)], T((1, 8), dtype="float32"), None, 2)
    return model, int8_inputs(rng, (1, 8))


def _mean(rng):
    model = one_op("MEAN", [T((1, 4, 5, 6), scale=0.07, zero_point=-3), T(data=np.array([1, 2], np.int32), dtype="int32")],
                   T((1, 6), scale=0.05, zero_point=10), {"keep_dims": False}, 2)
    return model, int8_inputs(rng, (1, 4, 5, 6))


def _pad(rng):
    pads = T(data=np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32), dtype="int32")
    return one_op("PAD", [T((1, 3, 2, 3), scale=0.1, zero_point=5), pads],
                  T((1, 6, 3, 3), scale=0.1, zero_point=5)), int8_inputs(rng, (1, 3, 2, 3))


def _concat(rng):
    return one_op("CONCATENATION", [T((1, 3, 2, 2), scale=0.1, zero_point=5), T((1, 3, 2, 1), scale=0.1, zero_point=5)],
                  T((1, 3, 2, 3), scale=0.1, zero_point=5), {"axis": 3}), int8_inputs(rng, (1, 3, 2, 2), (1, 3, 2, 1))


def _squeeze(rng):
    return one_op("SQUEEZE", [T((1, 6, 3, 3), scale=0.1, zero_point=5)], T((6, 3, 3), scale=0.1, zero_point=5),
                  {"squeeze_dims": [0]}), int8_inputs(rng, (1, 6, 3, 3))


# Ops that move, pick or reduce values: input and output quantized alike (SUM rescales).
def _q(shape, scale=0.1, zp=3):
    return T(shape, scale=scale, zero_point=zp)


def _i32(values):
    return T(data=np.array(values, np.int32), dtype="int32")


def _moves(name, ins, outs, options=None):
    def build(rng):
        model = tb.single_op_model(name, ins, outs, options)
        return model, int8_inputs(rng, *[t.shape for t in ins if t.data is None])
    return build


MOVES = {
    "DEPTH_TO_SPACE": ([_q((1, 2, 2, 8))], [_q((1, 4, 4, 2))], {"block_size": 2}),
    "SPACE_TO_DEPTH": ([_q((1, 4, 4, 2))], [_q((1, 2, 2, 8))], {"block_size": 2}),
    "RESIZE_BILINEAR": ([_q((1, 3, 3, 2)), _i32([5, 5])], [_q((1, 5, 5, 2))], {"half_pixel_centers": True}),
    "RESIZE_NEAREST_NEIGHBOR": ([_q((1, 3, 3, 2)), _i32([6, 6])], [_q((1, 6, 6, 2))], {}),
    "GATHER": ([_q((5, 3)), _i32([4, 0, 2])], [_q((3, 3))], {"axis": 0}),
    "BATCH_TO_SPACE_ND": ([_q((4, 2, 2, 1)), _i32([2, 2]), _i32([[0, 0], [0, 0]])], [_q((1, 4, 4, 1))], None),
    "SPACE_TO_BATCH_ND": ([_q((1, 4, 4, 1)), _i32([2, 2]), _i32([[0, 0], [0, 0]])], [_q((4, 2, 2, 1))], None),
    "TRANSPOSE": ([_q((1, 2, 3, 4)), _i32([0, 3, 1, 2])], [_q((1, 4, 2, 3))], None),
    "STRIDED_SLICE": ([_q((1, 6, 5, 2)), _i32([0, 1, 0, 0]), _i32([1, 6, 5, 2]), _i32([1, 2, 2, 1])],
                      [_q((1, 3, 3, 2))], {}),
    "SPLIT": ([_i32(2), _q((1, 4, 6, 2))], [_q((1, 4, 3, 2)), _q((1, 4, 3, 2))], {"num_splits": 2}),
    "SPLIT_V": ([_q((1, 4, 6, 2)), _i32([2, 4]), _i32([2])], [_q((1, 4, 2, 2)), _q((1, 4, 4, 2))], {"num_splits": 2}),
    "PADV2": ([_q((1, 3, 2, 2)), _i32([[0, 0], [1, 1], [1, 1], [0, 0]]),
               T(data=np.array([7], np.int8), scale=0.1, zero_point=3)], [_q((1, 5, 4, 2))], None),
    "SLICE": ([_q((1, 5, 5, 2)), _i32([0, 1, 2, 0]), _i32([1, 3, 2, 2])], [_q((1, 3, 2, 2))], None),
    "EXPAND_DIMS": ([_q((4, 3)), _i32([1])], [_q((4, 1, 3))], None),
    "SUM": ([_q((1, 4, 5, 6)), _i32([1, 2])], [_q((1, 6), 1.0, -20)], {"keep_dims": False}),
    "REDUCE_MAX": ([_q((1, 4, 5, 6)), _i32([1, 2])], [_q((1, 6))], {"keep_dims": False}),
    "REDUCE_MIN": ([_q((1, 4, 5, 6)), _i32([1, 2])], [_q((1, 6))], {"keep_dims": False}),
    "PACK": ([_q((2, 3)), _q((2, 3))], [_q((2, 2, 3))], {"values_count": 2, "axis": 0}),
    "UNPACK": ([_q((3, 4))], [_q((4,)), _q((4,)), _q((4,))], {"num": 3, "axis": 0}),
    "MIRROR_PAD": ([_q((1, 3, 3, 2)), _i32([[0, 0], [1, 1], [2, 1], [0, 0]])], [_q((1, 5, 6, 2))], {"mode": 0}),
}

def _cast(rng):  # int8 to int32 (a table of each code's value), every code once
    return (tb.single_op_model("CAST", [T((16, 16), scale=0.1, zero_point=3)], [T((16, 16), dtype="int32")]),
            [np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16)])


def _lookup(rng):  # ids the model computes (ARG_MAX of the input, in range) picking rows of a table
    rows = T(data=rng.integers(-128, 128, (5, 2, 3)).astype(np.int8), scale=0.1, zero_point=3)
    ops = [tb.Op("ARG_MAX", [0, 1], [2], {"output_type": "INT32"}), tb.Op("EMBEDDING_LOOKUP", [2, 3], [4])]
    tensors = [T((4, 5), scale=0.1, zero_point=3), T(data=np.array([1], np.int32), dtype="int32"),
               T((4,), dtype="int32"), rows, T((4, 2, 3), scale=0.1, zero_point=3)]
    return tb.build_model(ops, tensors, [0], [4]), int8_inputs(rng, (4, 5))


def _update_slice(rng):  # start indices the model computes (ARG_MAX of the input), clamped
    upd = T(data=rng.integers(-128, 128, (2, 3)).astype(np.int8), scale=0.1, zero_point=3)
    ops = [tb.Op("ARG_MAX", [0, 1], [2], {"output_type": "INT32"}), tb.Op("DYNAMIC_UPDATE_SLICE", [0, 3, 2], [4])]
    tensors = [T((2, 5), scale=0.1, zero_point=3), T(data=np.array([1], np.int32), dtype="int32"),
               T((2,), dtype="int32"), upd, T((2, 5), scale=0.1, zero_point=3)]
    return tb.build_model(ops, tensors, [0], [4]), int8_inputs(rng, (2, 5))


def _transpose_conv(rng):
    return transpose_conv_model(rng, TCONV_CASES[0], "RELU"), int8_inputs(rng, (1,) + TCONV_CASES[0][0])


def _batch_matmul(rng):  # of two activations, broadcast (a constant matrix is a fully_connected)
    lhs, rhs, adj_x, adj_y = TWO_ACTIVATIONS[2]
    return two_activations_model(rng, lhs, rhs, adj_x, adj_y), int8_inputs(rng, lhs, rhs)


BUILDERS = {
    "TRANSPOSE_CONV": _transpose_conv,
    "BATCH_MATMUL": _batch_matmul,
    "FULLY_CONNECTED": _fc,
    "CONV_2D": _conv(False),
    "DEPTHWISE_CONV_2D": _conv(True),
    "ADD": lambda rng: _binary("ADD", rng),
    "MUL": lambda rng: _binary("MUL", rng),
    "SUB": lambda rng: _binary("SUB", rng),
    "MAX_POOL_2D": lambda rng: _pool("MAX_POOL_2D", rng),
    "AVERAGE_POOL_2D": lambda rng: _pool("AVERAGE_POOL_2D", rng),
    "DEQUANTIZE": _dequantize,
    "SOFTMAX": lambda rng: (tb.softmax_model(10, 0.1, 3, beta=1.0, rows=2), [random_inputs(rng, (2, 10))]),
    "MEAN": _mean,
    "RESHAPE": lambda rng: (tb.reshape_model((1, 12), (1, 3, 4), 0.1, 3),
                            [np.arange(-48, 48, dtype=np.int8).reshape(8, 1, 12)]),
    "PAD": _pad,
    "CONCATENATION": _concat,
    "SQUEEZE": _squeeze,
    "CAST": _cast,
    "EMBEDDING_LOOKUP": _lookup,
    "DYNAMIC_UPDATE_SLICE": _update_slice,
    "ADD_N": lambda rng: (tb.single_op_model("ADD_N", [T((3, 4), scale=0.1, zero_point=-5)] * 3,
                                             [T((3, 4), scale=0.2, zero_point=7)]), int8_inputs(rng, *[(3, 4)] * 3)),
    "CUMSUM": lambda rng: (tb.single_op_model("CUMSUM", [T((3, 4), scale=0.1, zero_point=-5), _i32(-1)],
                                              [T((3, 4), scale=0.3, zero_point=7)], {"exclusive": True}),
                           int8_inputs(rng, (3, 4))),
    "SVDF": svdf_model,  # stateful: its cases run in order, the state carried (tflm_run carries it too)
    "UNIDIRECTIONAL_SEQUENCE_LSTM": lstm_model,
}
BUILDERS.update({name: (lambda rng, name=name: _table(name)) for name in UNARY})
BUILDERS.update({name: _moves(name, *spec) for name, spec in MOVES.items()})
BUILDERS.update({name: (lambda rng, name=name: math_single_op(name, rng)) for name in MATH_OPS if name not in BUILDERS})


def single_op(name, rng):
    """(.tflite bytes of a model of the one op `name`, its inputs: one array (N, *shape) per model input)."""
    return BUILDERS[name](rng)
