"""Read a TFLite model (.tflite flatbuffer) into plain Python objects.

Uses only the `flatbuffers` runtime and numpy, not TensorFlow or tflite_micro. A field of a
table is found through its vtable at offset 4 + 2 * field_id, field ids as in TFLite's schema.fbs.
Only subgraph 0 is read in detail (TFLM models have one, or more for control flow).
"""

import os
import struct

import numpy as np
from flatbuffers import number_types as N
from flatbuffers.table import Table

from tinyml_host.errors import ModelError


class TfliteError(ModelError, ValueError):
    pass


FILE_IDENTIFIER = b"TFL3"

# TensorType number -> (name, numpy dtype or None when numpy has no such type)
TENSOR_TYPES = {
    0: ("FLOAT32", np.float32), 1: ("FLOAT16", np.float16), 2: ("INT32", np.int32),
    3: ("UINT8", np.uint8), 4: ("INT64", np.int64), 5: ("STRING", None), 6: ("BOOL", np.bool_),
    7: ("INT16", np.int16), 8: ("COMPLEX64", np.complex64), 9: ("INT8", np.int8),
    10: ("FLOAT64", np.float64), 11: ("COMPLEX128", np.complex128), 12: ("UINT64", np.uint64),
    13: ("RESOURCE", None), 14: ("VARIANT", None), 15: ("UINT32", np.uint32),
    16: ("UINT16", np.uint16), 17: ("INT4", None), 18: ("BFLOAT16", None), 19: ("INT2", None),
    20: ("UINT4", None), 21: ("FLOAT8_E4M3FN", None), 22: ("FLOAT8_E5M2", None),
}
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")
PADDINGS = ("SAME", "VALID")
WEIGHTS_FORMATS = ("DEFAULT", "SHUFFLED4x16INT8")
CUSTOM = 32

# BuiltinOperator number -> name, copied from TFLite's schema (tflite_micro's schema_py_generated).
OP_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 7: "EMBEDDING_LOOKUP", 8: "FLOOR", 9: "FULLY_CONNECTED",
    10: "HASHTABLE_LOOKUP", 11: "L2_NORMALIZATION", 12: "L2_POOL_2D",
    13: "LOCAL_RESPONSE_NORMALIZATION", 14: "LOGISTIC", 15: "LSH_PROJECTION", 16: "LSTM",
    17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 20: "RELU_N1_TO_1", 21: "RELU6", 22: "RESHAPE",
    23: "RESIZE_BILINEAR", 24: "RNN", 25: "SOFTMAX", 26: "SPACE_TO_DEPTH", 27: "SVDF", 28: "TANH",
    29: "CONCAT_EMBEDDINGS", 30: "SKIP_GRAM", 31: "CALL", 32: "CUSTOM",
    33: "EMBEDDING_LOOKUP_SPARSE", 34: "PAD", 35: "UNIDIRECTIONAL_SEQUENCE_RNN", 36: "GATHER",
    37: "BATCH_TO_SPACE_ND", 38: "SPACE_TO_BATCH_ND", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB",
    42: "DIV", 43: "SQUEEZE", 44: "UNIDIRECTIONAL_SEQUENCE_LSTM", 45: "STRIDED_SLICE",
    46: "BIDIRECTIONAL_SEQUENCE_RNN", 47: "EXP", 48: "TOPK_V2", 49: "SPLIT", 50: "LOG_SOFTMAX",
    51: "DELEGATE", 52: "BIDIRECTIONAL_SEQUENCE_LSTM", 53: "CAST", 54: "PRELU", 55: "MAXIMUM",
    56: "ARG_MAX", 57: "MINIMUM", 58: "LESS", 59: "NEG", 60: "PADV2", 61: "GREATER",
    62: "GREATER_EQUAL", 63: "LESS_EQUAL", 64: "SELECT", 65: "SLICE", 66: "SIN",
    67: "TRANSPOSE_CONV", 68: "SPARSE_TO_DENSE", 69: "TILE", 70: "EXPAND_DIMS", 71: "EQUAL",
    72: "NOT_EQUAL", 73: "LOG", 74: "SUM", 75: "SQRT", 76: "RSQRT", 77: "SHAPE", 78: "POW",
    79: "ARG_MIN", 80: "FAKE_QUANT", 81: "REDUCE_PROD", 82: "REDUCE_MAX", 83: "PACK",
    84: "LOGICAL_OR", 85: "ONE_HOT", 86: "LOGICAL_AND", 87: "LOGICAL_NOT", 88: "UNPACK",
    89: "REDUCE_MIN", 90: "FLOOR_DIV", 91: "REDUCE_ANY", 92: "SQUARE", 93: "ZEROS_LIKE",
    94: "FILL", 95: "FLOOR_MOD", 96: "RANGE", 97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU",
    99: "SQUARED_DIFFERENCE", 100: "MIRROR_PAD", 101: "ABS", 102: "SPLIT_V", 103: "UNIQUE",
    104: "CEIL", 105: "REVERSE_V2", 106: "ADD_N", 107: "GATHER_ND", 108: "COS", 109: "WHERE",
    110: "RANK", 111: "ELU", 112: "REVERSE_SEQUENCE", 113: "MATRIX_DIAG", 114: "QUANTIZE",
    115: "MATRIX_SET_DIAG", 116: "ROUND", 117: "HARD_SWISH", 118: "IF", 119: "WHILE",
    120: "NON_MAX_SUPPRESSION_V4", 121: "NON_MAX_SUPPRESSION_V5", 122: "SCATTER_ND",
    123: "SELECT_V2", 124: "DENSIFY", 125: "SEGMENT_SUM", 126: "BATCH_MATMUL",
    127: "PLACEHOLDER_FOR_GREATER_OP_CODES", 128: "CUMSUM", 129: "CALL_ONCE", 130: "BROADCAST_TO",
    131: "RFFT2D", 132: "CONV_3D", 133: "IMAG", 134: "REAL", 135: "COMPLEX_ABS", 136: "HASHTABLE",
    137: "HASHTABLE_FIND", 138: "HASHTABLE_IMPORT", 139: "HASHTABLE_SIZE", 140: "REDUCE_ALL",
    141: "CONV_3D_TRANSPOSE", 142: "VAR_HANDLE", 143: "READ_VARIABLE", 144: "ASSIGN_VARIABLE",
    145: "BROADCAST_ARGS", 146: "RANDOM_STANDARD_NORMAL", 147: "BUCKETIZE", 148: "RANDOM_UNIFORM",
    149: "MULTINOMIAL", 150: "GELU", 151: "DYNAMIC_UPDATE_SLICE", 152: "RELU_0_TO_1",
    153: "UNSORTED_SEGMENT_PROD", 154: "UNSORTED_SEGMENT_MAX", 155: "UNSORTED_SEGMENT_SUM",
    156: "ATAN2", 157: "UNSORTED_SEGMENT_MIN", 158: "SIGN", 159: "BITCAST", 160: "BITWISE_XOR",
    161: "RIGHT_SHIFT", 162: "STABLEHLO_LOGISTIC", 163: "STABLEHLO_ADD", 164: "STABLEHLO_DIVIDE",
    165: "STABLEHLO_MULTIPLY", 166: "STABLEHLO_MAXIMUM", 167: "STABLEHLO_RESHAPE",
    168: "STABLEHLO_CLAMP", 169: "STABLEHLO_CONCATENATE", 170: "STABLEHLO_BROADCAST_IN_DIM",
    171: "STABLEHLO_CONVOLUTION", 172: "STABLEHLO_SLICE", 173: "STABLEHLO_CUSTOM_CALL",
    174: "STABLEHLO_REDUCE", 175: "STABLEHLO_ABS", 176: "STABLEHLO_AND", 177: "STABLEHLO_COSINE",
    178: "STABLEHLO_EXPONENTIAL", 179: "STABLEHLO_FLOOR", 180: "STABLEHLO_LOG",
    181: "STABLEHLO_MINIMUM", 182: "STABLEHLO_NEGATE", 183: "STABLEHLO_OR", 184: "STABLEHLO_POWER",
    185: "STABLEHLO_REMAINDER", 186: "STABLEHLO_RSQRT", 187: "STABLEHLO_SELECT",
    188: "STABLEHLO_SUBTRACT", 189: "STABLEHLO_TANH", 190: "STABLEHLO_SCATTER",
    191: "STABLEHLO_COMPARE", 192: "STABLEHLO_CONVERT", 193: "STABLEHLO_DYNAMIC_SLICE",
    194: "STABLEHLO_DYNAMIC_UPDATE_SLICE", 195: "STABLEHLO_PAD", 196: "STABLEHLO_IOTA",
    197: "STABLEHLO_DOT_GENERAL", 198: "STABLEHLO_REDUCE_WINDOW", 199: "STABLEHLO_SORT",
    200: "STABLEHLO_WHILE", 201: "STABLEHLO_GATHER", 202: "STABLEHLO_TRANSPOSE", 203: "DILATE",
    204: "STABLEHLO_RNG_BIT_GENERATOR", 205: "REDUCE_WINDOW", 206: "STABLEHLO_COMPOSITE",
    207: "STABLEHLO_SHIFT_LEFT", 208: "STABLEHLO_CBRT", 209: "STABLEHLO_CASE",
}

# BuiltinOptions union type -> (table name, "field:kind" in field-id order).
# kinds: act, pad, wfmt, type (enum names), i32, f32, bool, ivec (int32 vector).
OPTIONS = {
    1: ("Conv2DOptions", "padding:pad stride_w:i32 stride_h:i32 fused_activation_function:act "
                         "dilation_w_factor:i32 dilation_h_factor:i32"),
    2: ("DepthwiseConv2DOptions", "padding:pad stride_w:i32 stride_h:i32 depth_multiplier:i32 "
                                  "fused_activation_function:act dilation_w_factor:i32 "
                                  "dilation_h_factor:i32"),
    5: ("Pool2DOptions", "padding:pad stride_w:i32 stride_h:i32 filter_width:i32 "
                         "filter_height:i32 fused_activation_function:act"),
    6: ("SVDFOptions", "rank:i32 fused_activation_function:act asymmetric_quantize_inputs:bool"),
    8: ("FullyConnectedOptions", "fused_activation_function:act weights_format:wfmt "
                                 "keep_num_dims:bool asymmetric_quantize_inputs:bool"),
    9: ("SoftmaxOptions", "beta:f32"),
    10: ("ConcatenationOptions", "axis:i32 fused_activation_function:act"),
    11: ("AddOptions", "fused_activation_function:act pot_scale_int16:bool"),
    12: ("L2NormOptions", "fused_activation_function:act"),
    17: ("ReshapeOptions", "new_shape:ivec"),
    21: ("MulOptions", "fused_activation_function:act"),
    23: ("GatherOptions", "axis:i32 batch_dims:i32"),
    27: ("ReducerOptions", "keep_dims:bool"),
    28: ("SubOptions", "fused_activation_function:act pot_scale_int16:bool"),
    29: ("DivOptions", "fused_activation_function:act"),
    30: ("SqueezeOptions", "squeeze_dims:ivec"),
    32: ("StridedSliceOptions", "begin_mask:i32 end_mask:i32 ellipsis_mask:i32 new_axis_mask:i32 "
                                "shrink_axis_mask:i32 offset:bool"),
    35: ("SplitOptions", "num_splits:i32"),
    40: ("ArgMaxOptions", "output_type:type"),
    49: ("TransposeConvOptions", "padding:pad stride_w:i32 stride_h:i32 "
                                 "fused_activation_function:act"),
    57: ("ArgMinOptions", "output_type:type"),
    59: ("PackOptions", "values_count:i32 axis:i32"),
    64: ("UnpackOptions", "num:i32 axis:i32"),
    74: ("ResizeNearestNeighborOptions", "align_corners:bool half_pixel_centers:bool"),
    75: ("LeakyReluOptions", "alpha:f32"),
}
_NONZERO_DEFAULTS = {"dilation_w_factor": 1, "dilation_h_factor": 1, "pot_scale_int16": True}


def _enum_name(names, value):
    return names[value] if 0 <= value < len(names) else "UNKNOWN(%d)" % value


class _Table:
    """A flatbuffer table, with bounds-checked reads of its fields by field id."""

    def __init__(self, buf, pos):
        self.buf = buf
        self.tab = Table(buf, pos)

    def _field(self, fid):  # absolute position of the field, or 0 when absent
        o = self.tab.Offset(4 + 2 * fid)
        return self.tab.Pos + o if o else 0

    def scalar(self, fid, flags, default=0):
        at = self._field(fid)
        return self.tab.Get(flags, at) if at else default

    def table(self, fid):
        at = self._field(fid)
        return _Table(self.buf, self.tab.Indirect(at)) if at else None

    def vector(self, fid, item_size):  # (start, length) of a vector field
        at = self._field(fid)
        if not at:
            return 0, 0
        start = self.tab.Indirect(at) + 4
        n = self.tab.Get(N.Uint32Flags, start - 4)
        if start + n * item_size > len(self.buf):
            raise TfliteError("truncated or corrupt: a vector runs past the end of the file")
        return start, n

    def string(self, fid):
        start, n = self.vector(fid, 1)
        return bytes(self.buf[start:start + n]).decode("utf-8", "replace")

    def array(self, fid, dtype):
        dtype = np.dtype(dtype).newbyteorder("<")
        start, n = self.vector(fid, dtype.itemsize)
        return np.frombuffer(self.buf, dtype, n, start).astype(dtype.newbyteorder("="))

    def tables(self, fid):
        start, n = self.vector(fid, 4)
        return [_Table(self.buf, self.tab.Indirect(start + 4 * i)) for i in range(n)]


def _read_options(kind_type, table):
    if table is None or kind_type not in OPTIONS:
        return {}
    options = {}
    for fid, spec in enumerate(OPTIONS[kind_type][1].split()):
        name, kind = spec.split(":")
        default = _NONZERO_DEFAULTS.get(name, 0)
        if kind == "ivec":
            options[name] = [int(v) for v in table.array(fid, np.int32)]
        elif kind == "f32":
            options[name] = table.scalar(fid, N.Float32Flags, 0.0)
        elif kind == "bool":
            options[name] = bool(table.scalar(fid, N.BoolFlags, default))
        elif kind == "i32":
            options[name] = table.scalar(fid, N.Int32Flags, default)
        else:
            value = table.scalar(fid, N.Int8Flags)
            if kind == "type":
                options[name] = TENSOR_TYPES.get(value, ("UNKNOWN(%d)" % value,))[0]
            else:
                names = {"act": ACTIVATIONS, "pad": PADDINGS, "wfmt": WEIGHTS_FORMATS}[kind]
                options[name] = _enum_name(names, value)
    return options


class Tensor:
    def __init__(self, index, t, buffers):
        self.index = index
        self.name = t.string(3)
        self.shape = tuple(int(d) for d in t.array(0, np.int32))
        self.type_code = t.scalar(1, N.Int8Flags)
        self.type_name, self.dtype = TENSOR_TYPES.get(self.type_code, ("UNKNOWN", None))
        if self.dtype is not None:
            self.dtype = np.dtype(self.dtype)
        self.is_variable = bool(t.scalar(5, N.BoolFlags))
        q = t.table(4)
        self.scale = q.array(2, np.float32) if q else np.zeros(0, np.float32)
        self.zero_point = q.array(3, np.int64) if q else np.zeros(0, np.int64)
        # Not checked against the rank: person_detect's biases carry an invalid 3 that TFLM ignores.
        self.quantized_dimension = q.scalar(6, N.Int32Flags) if q else 0
        raw = buffers[t.scalar(2, N.Uint32Flags)]
        self.data = None
        if raw and self.dtype is None:
            self.data = np.frombuffer(raw, np.uint8)  # no numpy type (e.g. INT4): the raw bytes
        elif raw:
            data = np.frombuffer(raw, self.dtype.newbyteorder("<"))
            if data.size != int(np.prod(self.shape)):
                raise TfliteError("tensor %d (%s): %d bytes of data do not fit shape %s"
                                  % (index, self.name, len(raw), self.shape))
            self.data = data.astype(self.dtype, copy=False).reshape(self.shape)

    @property
    def is_quantized(self):
        return self.scale.size > 0

    def __repr__(self):
        return "Tensor(%d, %r, %s, %s)" % (self.index, self.name, self.shape, self.type_name)


class Operator:
    def __init__(self, index, op, opcodes):
        self.index = index
        self.opcode, self.version, custom_code = opcodes[op.scalar(0, N.Uint32Flags)]
        self.name = OP_NAMES.get(self.opcode, "UNKNOWN(%d)" % self.opcode)
        if self.opcode == CUSTOM:
            self.name = "CUSTOM:" + custom_code
        self.inputs = [int(i) for i in op.array(1, np.int32)]
        self.outputs = [int(i) for i in op.array(2, np.int32)]
        self.options = _read_options(op.scalar(3, N.Uint8Flags), op.table(4))
        self.custom_options = op.array(5, np.uint8).tobytes()

    def __repr__(self):
        return "Operator(%d, %s, in=%s, out=%s)" % (self.index, self.name, self.inputs, self.outputs)


class TfliteModel:
    def __init__(self, buf):
        model = _Table(buf, int(np.frombuffer(buf, "<u4", 1)[0]))
        self.version = model.scalar(0, N.Uint32Flags)
        self.description = model.string(3)
        opcodes = []
        for c in model.tables(1):
            # Codes >= 127 exist only in builtin_code; old files only set deprecated_builtin_code.
            code = max(c.scalar(3, N.Int32Flags), c.scalar(0, N.Int8Flags))
            opcodes.append((code, c.scalar(2, N.Int32Flags, 1), c.string(1)))
        buffers = [_buffer_bytes(buf, b) for b in model.tables(4)]
        subgraphs = model.tables(2)
        self.n_subgraphs = len(subgraphs)
        if not subgraphs:
            raise TfliteError("the model has no subgraph")
        graph = subgraphs[0]
        self.tensors = [Tensor(i, t, buffers) for i, t in enumerate(graph.tables(0))]
        self.inputs = [int(i) for i in graph.array(1, np.int32)]
        self.outputs = [int(i) for i in graph.array(2, np.int32)]
        self.operators = [Operator(i, op, opcodes) for i, op in enumerate(graph.tables(3))]

    def __repr__(self):
        return "TfliteModel(%d tensors, ops %s)" % (
            len(self.tensors), [op.name for op in self.operators])


def _buffer_bytes(buf, b):
    start, n = b.vector(0, 1)
    if n:
        return bytes(buf[start:start + n])
    offset, size = b.scalar(1, N.Uint64Flags), b.scalar(2, N.Uint64Flags)
    if offset > 1:  # large models keep data after the flatbuffer, offset from the file start
        if offset + size > len(buf):
            raise TfliteError("truncated: buffer data at offset %d runs past the end of the file"
                              % offset)
        return bytes(buf[offset:offset + size])
    return b""


def read_tflite(path_or_bytes):
    """Parse a .tflite file (a path) or its contents (bytes) into a TfliteModel."""
    if isinstance(path_or_bytes, (str, os.PathLike)):
        where = str(path_or_bytes)
        with open(path_or_bytes, "rb") as f:
            buf = f.read()
    else:
        where, buf = "model", bytes(path_or_bytes)
    if len(buf) < 8:
        raise TfliteError("%s: not a TFLite model (only %d bytes)" % (where, len(buf)))
    if buf[4:8] != FILE_IDENTIFIER:
        raise TfliteError("%s: not a TFLite model (file identifier %r, expected %r)"
                          % (where, bytes(buf[4:8]), FILE_IDENTIFIER))
    try:
        return TfliteModel(buf)
    except TfliteError as e:
        raise TfliteError("%s: %s" % (where, e)) from None
    except (IndexError, ValueError, TypeError, OverflowError, struct.error) as e:
        raise TfliteError("%s: truncated or corrupt TFLite file (%s: %s)"
                          % (where, type(e).__name__, e)) from None
