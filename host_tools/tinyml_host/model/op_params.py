"""The host's half of the op table: each op's parameter names, in the order its .tml record holds them.

Opcodes, names and kernels come from the device's table (device_lib/tinyml/ops.py, imported, not
copied); this adds what the board never needs: the names the converter emits parameters by and that
`tinyml inspect` prints. tests/test_op_table.py checks each name against the device's slot constant
<FAMILY>_<NAME> (e.g. CONV_STRIDE_H) and against docs/model-format.md.

A parameter spec: "name" is one int32, "name[4]" a run of 4 (the device's slot <FAMILY>_<NAME>0 is
its first), "name[]" a run to the end of the record (one per input). An op emits all its parameters
or none (QUANTIZE from int8 is a table lookup, without parameters).
"""
from tinyml import ops as device

# ADD's record, which the comparisons take too (left_shift 8, each input's scale as its multiplier)
_ADD_RECORD = ("ADD", "d[4] a_stride[4] b_stride[4] a_zp b_zp left_shift a_multiplier a_shift b_multiplier b_shift "
                      "y_multiplier y_shift y_zp act_min act_max")

# op name: (slot family in tinyml.ops, parameter specs); one row per op of the device's table
PARAMS = {
    "ABS": (None, ""),
    "ADD": ("ADD", "d[4] a_stride[4] b_stride[4] a_zp b_zp left_shift a_multiplier a_shift b_multiplier b_shift "
                   "y_multiplier y_shift y_zp act_min act_max"),
    "ADD_N": ("ADDN", "x_zp y_multiplier y_shift y_zp"),
    "ARG_MAX": (None, ""),
    "ARG_MIN": (None, ""),
    "BATCH_MATMUL": ("MATMUL", "d[3] a_stride[3] b_stride[3] rows cols depth a_row a_k b_k b_col a_zp b_zp "
                               "y_multiplier y_shift y_zp"),
    "AVERAGE_POOL_2D": ("POOL", "stride_h stride_w filter_h filter_w pad_top pad_left act_min act_max"),
    "BATCH_TO_SPACE_ND": ("REMAP", "d[4] esize fill"),
    "CAST": (None, ""),
    "CONCATENATION": ("CONCAT", "outer inner[]"),
    "CONV_2D": ("CONV", "stride_h stride_w dilation_h dilation_w pad_top pad_left x_zp y_zp act_min act_max"),
    "DEPTHWISE_CONV_2D": ("CONV", "stride_h stride_w dilation_h dilation_w pad_top pad_left x_zp y_zp act_min "
                                  "act_max depth_multiplier"),
    "CUMSUM": ("CUMSUM", "outer n inner exclusive reverse x_zp y_multiplier y_shift y_zp"),
    "DEPTH_TO_SPACE": ("REMAP", "d[4] esize fill"),
    "DEQUANTIZE": ("UNARY16", "mode multiplier shift y_zp"),  # int16 only: int8 is a table
    "DYNAMIC_UPDATE_SLICE": (None, ""),
    "ELU": (None, ""),
    "EMBEDDING_LOOKUP": ("LOOKUP", "dims[4]"),
    "EQUAL": _ADD_RECORD,
    "EXPAND_DIMS": (None, ""),
    "FULLY_CONNECTED": ("FC", "y_zp act_min act_max"),
    "GATHER": ("REMAP", "d[4] esize fill"),
    "GREATER": _ADD_RECORD,
    "GREATER_EQUAL": _ADD_RECORD,
    "HARD_SWISH": (None, ""),
    "L2_NORMALIZATION": ("L2NORM", "x_zp"),
    "LEAKY_RELU": (None, ""),
    "LESS": _ADD_RECORD,
    "LESS_EQUAL": _ADD_RECORD,
    "LOG_SOFTMAX": ("LOGSOFTMAX", "input_multiplier input_left_shift reverse_multiplier reverse_shift diff_min"),
    "LOGISTIC": ("UNARY16", "mode multiplier shift y_zp"),  # int16 only: int8 is a table
    "MAXIMUM": ("ADD", "d[4] a_stride[4] b_stride[4]"),
    "MAX_POOL_2D": ("POOL", "stride_h stride_w filter_h filter_w pad_top pad_left act_min act_max"),
    "MEAN": ("MEAN", "x_zp y_zp multiplier shift"),
    "MINIMUM": ("ADD", "d[4] a_stride[4] b_stride[4]"),
    "MIRROR_PAD": ("REMAP", "d[4] esize fill"),
    "MUL": ("MUL", "d[4] a_stride[4] b_stride[4] a_zp b_zp y_multiplier y_shift y_zp act_min act_max"),
    "NOT_EQUAL": _ADD_RECORD,
    "PACK": ("CONCAT", "outer inner[]"),
    "PAD": ("PAD", "before[4] value"),
    "PADV2": ("REMAP", "d[4] esize fill"),
    "PRELU": ("ADD", "d[4] a_stride[4] b_stride[4] a_zp b_zp left_shift a_multiplier a_shift b_multiplier b_shift "
                     "y_multiplier y_shift y_zp act_min act_max"),
    "QUANTIZE": ("QUANTIZE", "y_zp y_scale"),
    "REDUCE_MAX": (None, ""),
    "REDUCE_MIN": (None, ""),
    "RELU": (None, ""),
    "RELU6": (None, ""),
    "RESHAPE": (None, ""),
    "RESIZE_BILINEAR": (None, ""),
    "RESIZE_NEAREST_NEIGHBOR": ("REMAP", "d[4] esize fill"),
    "RSQRT": (None, ""),
    "SLICE": ("REMAP", "d[4] esize fill"),
    "SELECT_V2": ("SELECT", "d[4] c_stride[4] a_stride[4] b_stride[4]"),
    "SOFTMAX": ("SOFTMAX", "input_multiplier input_left_shift diff_min"),
    "SPACE_TO_BATCH_ND": ("REMAP", "d[4] esize fill"),
    "SPACE_TO_DEPTH": ("REMAP", "d[4] esize fill"),
    "SPLIT": ("REMAP", "d[4] esize fill"),
    "SPLIT_V": ("REMAP", "d[4] esize fill"),
    "SQUARED_DIFFERENCE": ("ADD", "d[4] a_stride[4] b_stride[4] a_zp b_zp left_shift a_multiplier a_shift "
                                  "b_multiplier b_shift y_multiplier y_shift y_zp act_min act_max"),
    "SQUEEZE": (None, ""),
    "STRIDED_SLICE": ("REMAP", "d[4] esize fill"),
    "SUB": ("ADD", "d[4] a_stride[4] b_stride[4] a_zp b_zp left_shift a_multiplier a_shift b_multiplier b_shift "
                   "y_multiplier y_shift y_zp act_min act_max"),
    "SVDF": ("SVDF", "rank x_zp feature_multiplier feature_shift state_zp time_multiplier time_shift y_zp"),
    "SUM": ("REDUCE", "x_zp y_zp multiplier shift"),
    "TANH": ("UNARY16", "mode multiplier shift y_zp"),  # int16 only: int8 is a table
    "TRANSPOSE_CONV": ("CONV", "stride_h stride_w dilation_h dilation_w pad_top pad_left x_zp y_zp act_min act_max"),
    "TRANSPOSE": ("REMAP", "d[4] esize fill"),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ("LSTM", "gate_multiplier[8] gate_shift[8] forget_multiplier forget_shift "
                                             "input_multiplier input_shift output_multiplier output_shift h_zp "
                                             "cell_clip tanh_multiplier tanh_shift"),
    "UNPACK": ("REMAP", "d[4] esize fill"),
}

OPCODES = {name: opcode for opcode, name, *_ in device.rows()}
NAMES = {opcode: name for name, opcode in OPCODES.items()}


class ParamError(ValueError):
    pass


def specs(name):
    """[(parameter name, count)] of an op: count 1, n for a run, None for a run to the end."""
    out = []
    for spec in PARAMS[name][1].split():
        if spec.endswith("[]"):
            out.append((spec[:-2], None))
        elif spec.endswith("]"):
            base, n = spec[:-1].split("[")
            out.append((base, int(n)))
        else:
            out.append((spec, 1))
    return out


def encode(name, values):
    """An op's parameters by name (a dict; runs as sequences) -> the int32 list of its record."""
    if not values:
        return []
    want = specs(name)
    names = [n for n, _ in want]
    if sorted(values) != sorted(names):
        raise ParamError("%s takes parameters %s, got %s" % (name, ", ".join(names), ", ".join(sorted(values))))
    out = []
    for n, count in want:
        v = values[n]
        if count == 1:
            out.append(int(v))
        else:
            v = [int(i) for i in v]
            if count is not None and len(v) != count:
                raise ParamError("%s: %s takes %d values, got %d" % (name, n, count, len(v)))
            out.extend(v)
    return out


def decode(opcode, params):
    """[(name, value)] of an op's record (a run's value is a list); positional names for an unknown op."""
    name = NAMES.get(opcode)
    if name is None or not params:
        return [("p%d" % i, v) for i, v in enumerate(params)]
    out, i = [], 0
    for n, count in specs(name):
        if count == 1:
            out.append((n, params[i]) if i < len(params) else (n, None))
            i += 1
        else:
            end = len(params) if count is None else i + count
            out.append((n, list(params[i:end])))
            i = end
    return out + [("p%d" % j, params[j]) for j in range(i, len(params))]


def describe(opcode, params):
    """name=value, ... of an op's parameters, as `tinyml inspect` prints them."""
    return ", ".join("%s=%s" % (n, "[%s]" % ",".join(str(i) for i in v) if isinstance(v, list) else v)
                     for n, v in decode(opcode, params))


# What to change when a model has an op tinyml does not run: the layer that usually makes it (Keras,
# PyTorch) and what to use instead. The converter's refusal and `tinyml inspect` print it. Only ops
# the converter does not take: an op that comes to run leaves this list (tests/test_model_refusals.py).
# (SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM run; the LSTM forms TFLM's kernel lacks, peephole, projection,
# layer norm, CIFG, batch > 1, are refused with their own advice by convert_recurrent.py.)
ADVICE = {
    "UNIDIRECTIONAL_SEQUENCE_RNN": "a Keras SimpleRNN; use Conv1D layers over the sequence",
    "BIDIRECTIONAL_SEQUENCE_LSTM": "a Keras Bidirectional(LSTM); use Conv1D layers over the sequence",
    "DIV": "a division by a tensor (Keras Lambda, torch division); multiply by a constant instead",
    "EXP": "tf.exp or torch.exp; use a Softmax or Sigmoid where that is what it computes",
    "LOG": "tf.math.log or torch.log; move it to the host",
    "SQRT": "tf.sqrt or torch.sqrt; move it to the host",
    "WHILE": "a loop in the graph (a Keras RNN without unroll=True, tf.while_loop); unroll the RNN",
    "IF": "a branch in the graph (tf.cond); compute both branches, or move the choice to the host",
    "FLOOR_DIV": "integer division of a tensor; move it to the host",
    "TILE": "tf.tile, Keras RepeatVector, or Keras 3's UpSampling2D (nearest: written as TILE, which TFLM "
            "lacks too); use keras.layers.Resizing(height, width, interpolation='nearest') or "
            "UpSampling2D(interpolation='bilinear')",
}
