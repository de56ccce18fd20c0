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
from tinyml_host.model import op_params


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
MIRROR_PAD_MODES = ("REFLECT", "SYMMETRIC")
CUSTOM = 32


def builtin_names():
    """TFLite's BuiltinOperator number -> name: the op table's names (tinyml_host.model.op_params) for
    the ops tinyml runs, the schema's (shipped with tflite_micro) for the others, which only errors
    name; without tflite_micro those are BUILTIN_<number>."""
    global _names
    if _names is None:
        names = {}
        try:
            from tflite_micro.tensorflow.lite.micro.python.schema_py_generated import BuiltinOperator
            names.update((v, k) for k, v in vars(BuiltinOperator).items() if not k.startswith("_"))
        except ImportError:
            pass
        names.update(op_params.NAMES)
        _names = names
    return _names


_names = None


def op_name(code):
    name = op_params.NAMES.get(code)  # no schema import while every op is one tinyml runs
    return name if name is not None else builtin_names().get(code, "BUILTIN_%d" % code)


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
    15: ("ResizeBilinearOptions", "_new_height:i32 _new_width:i32 align_corners:bool half_pixel_centers:bool"),
    17: ("ReshapeOptions", "new_shape:ivec"),
    19: ("SpaceToDepthOptions", "block_size:i32"),
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
    55: ("ShapeOptions", "out_type:type"),
    59: ("PackOptions", "values_count:i32 axis:i32"),
    64: ("UnpackOptions", "num:i32 axis:i32"),
    74: ("ResizeNearestNeighborOptions", "align_corners:bool half_pixel_centers:bool"),
    75: ("LeakyReluOptions", "alpha:f32"),
    77: ("MirrorPadOptions", "mode:mpad"),
    79: ("SplitVOptions", "num_splits:i32"),
    94: ("DepthToSpaceOptions", "block_size:i32"),
    71: ("UnidirectionalSequenceLSTMOptions", "fused_activation_function:act cell_clip:f32 proj_clip:f32 "
                                              "time_major:bool asymmetric_quantize_inputs:bool "
                                              "diagonal_recurrent_tensors:bool"),
    101: ("BatchMatMulOptions", "adj_x:bool adj_y:bool asymmetric_quantize_inputs:bool"),
    102: ("CumsumOptions", "exclusive:bool reverse:bool"),
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
        if name.startswith("_"):  # a deprecated field: its id is taken, its value unused
            continue
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
                names = {"act": ACTIVATIONS, "pad": PADDINGS, "wfmt": WEIGHTS_FORMATS, "mpad": MIRROR_PAD_MODES}[kind]
                options[name] = _enum_name(names, value)
    return options


class Tensor:
    def __init__(self, index, t, buffers):
        self.index = index
        self.name = t.string(3)
        self.shape = tuple(int(d) for d in t.array(0, np.int32))
        # -1 where the dimension is dynamic (a batch of None in Keras); shape then holds 1 there
        self.shape_signature = tuple(int(d) for d in t.array(7, np.int32)) or self.shape
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
        self.name = op_name(self.opcode)
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
        if os.path.isdir(where) or not os.path.exists(where):
            from tinyml_host.model import recognize
            recognize.kind(where)  # a SavedModel's directory, or no such file: says which
        with open(path_or_bytes, "rb") as f:
            buf = f.read()
    else:
        where, buf = "model", bytes(path_or_bytes)
    if len(buf) < 8:
        raise TfliteError("%s: not a TFLite model (only %d bytes)" % (where, len(buf)))
    if buf[4:8] != FILE_IDENTIFIER and isinstance(path_or_bytes, (str, os.PathLike)):
        from tinyml_host.model import recognize
        recognize.kind(path_or_bytes)  # a Keras, SavedModel or ONNX file: names the command to convert it
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
