"""Build small TFLite models in memory, for tests and benchmarks.

Uses the TFLite schema's generated object API shipped with tflite_micro (the test oracle), so the
files are written independently of our own reader. A model is a list of tensors and a list of ops:

    build_model(tensors=[Tensor((1, 4), scale=0.5, zero_point=0), ...],
                ops=[Op("FULLY_CONNECTED", inputs=[0, 1, 2], outputs=[3])],
                inputs=[0], outputs=[3])
"""

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

_ENUMS = {  # option fields that take an enum name, e.g. fused_activation_function="RELU"
    "fused_activation_function": schema.ActivationFunctionType,
    "padding": schema.Padding,
    "weights_format": schema.FullyConnectedOptionsWeightsFormat,
    "output_type": schema.TensorType,
    "mode": schema.MirrorPadMode,
    "out_type": schema.TensorType,
}
_OPTION_TABLES = {name.lower(): name for name in vars(schema.BuiltinOptions) if not name.startswith("_")}
_SHARED_OPTIONS = {  # ops whose options table is not named after the op
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
    "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions", "REDUCE_PROD": "ReducerOptions", "REDUCE_ANY": "ReducerOptions",
    "L2_NORMALIZATION": "L2NormOptions", "MAXIMUM": "MaximumMinimumOptions",
    "MINIMUM": "MaximumMinimumOptions", "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions",
}
PLACEHOLDER_FOR_GREATER_OP_CODES = 127  # largest code that fits deprecated_builtin_code (int8)


@dataclass
class Tensor:
    shape: tuple = None  # None: the shape of data
    dtype: str = "int8"
    scale: object = None  # float or sequence of floats (per channel); None: not quantized
    zero_point: object = 0  # int, or one per scale
    data: np.ndarray = None  # constant tensors only
    quantized_dimension: int = 0
    name: str = ""
    shape_signature: tuple = None  # -1 where a dimension is dynamic (TFLite's converter writes 1 in shape)
    variable: bool = False  # a stateful op's state (SVDF, LSTM): TFLM keeps it across invokes


@dataclass
class Op:
    name: str  # BuiltinOperator name ("FULLY_CONNECTED") or "CUSTOM:<custom_code>"
    inputs: list
    outputs: list
    options: dict = field(default_factory=dict)  # snake_case fields of the op's options table
    version: int = 1
    custom_options: bytes = None


def options_type_for(op_name):
    """Name of the BuiltinOptions table of a builtin op, or None when it has none."""
    name = _SHARED_OPTIONS.get(op_name) or op_name.replace("_", "").lower() + "options"
    return _OPTION_TABLES.get(name.lower())


def _options(op):
    table = options_type_for(op.name)
    if table is None:
        if op.options:
            raise ValueError("%s has no options table" % op.name)
        return 0, None
    obj = getattr(schema, table + "T")()
    for key, value in op.options.items():
        attr = "".join(w.capitalize() if i else w for i, w in enumerate(key.split("_")))
        if not hasattr(obj, attr):
            raise ValueError("%s has no field %r" % (table, key))
        if isinstance(value, str):
            value = getattr(_ENUMS[key], value)
        setattr(obj, attr, value)
    return getattr(schema.BuiltinOptions, table), obj


class _AlignedBufferT(schema.BufferT):
    def Pack(self, builder):  # 16-byte aligned data, as TFLite's converter writes it
        raw = bytes(self.data)
        builder.StartVector(1, len(raw), 16)
        builder.head -= len(raw)
        builder.Bytes[builder.head:builder.head + len(raw)] = raw
        data = builder.EndVector()
        schema.BufferStart(builder)
        schema.BufferAddData(builder, data)
        return schema.BufferEnd(builder)


def _tensor(index, spec, buffers):
    t = schema.TensorT()
    data = None if spec.data is None else np.asarray(spec.data, spec.dtype)
    t.shape = list(data.shape if spec.shape is None else spec.shape)
    t.type = getattr(schema.TensorType, np.dtype(spec.dtype).name.upper())
    t.name = spec.name or "t%d" % index
    t.isVariable = spec.variable
    if spec.shape_signature is not None:
        t.shapeSignature = list(spec.shape_signature)
    if data is not None:
        if data.size != int(np.prod(t.shape)):
            raise ValueError("tensor %d: data of shape %s for shape %s" % (index, data.shape, t.shape))
        buffers.append(_AlignedBufferT())
        buffers[-1].data = data.astype(data.dtype.newbyteorder("<")).tobytes()
        t.buffer = len(buffers) - 1
    if spec.scale is not None:
        q = schema.QuantizationParametersT()
        q.scale = [float(s) for s in np.atleast_1d(spec.scale)]
        q.zeroPoint = [int(z) for z in np.broadcast_to(spec.zero_point, len(q.scale))]
        q.quantizedDimension = spec.quantized_dimension
        t.quantization = q
    return t


def build_model(ops, tensors, inputs, outputs, description="tinyml test model"):
    """A one-subgraph .tflite file (bytes) from Tensor and Op specs."""
    buffers = [schema.BufferT()]  # buffer 0 is the empty one, for tensors without data
    graph = schema.SubGraphT()
    graph.tensors = [_tensor(i, t, buffers) for i, t in enumerate(tensors)]
    graph.inputs, graph.outputs, graph.name = list(inputs), list(outputs), "main"
    codes, graph.operators = [], []
    for op in ops:
        builtin, _, custom = op.name.partition(":")
        code = getattr(schema.BuiltinOperator, builtin)
        key = (code, custom, op.version)
        if key not in codes:
            codes.append(key)
        o = schema.OperatorT()
        o.opcodeIndex = codes.index(key)
        o.inputs, o.outputs = list(op.inputs), list(op.outputs)
        o.builtinOptionsType, o.builtinOptions = _options(op)
        if op.custom_options is not None:
            o.customOptions = list(op.custom_options)
        graph.operators.append(o)
    model = schema.ModelT()
    model.version, model.description = 3, description
    model.subgraphs, model.buffers = [graph], buffers
    model.operatorCodes = []
    for code, custom, version in codes:
        c = schema.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode = code, min(code, PLACEHOLDER_FOR_GREATER_OP_CODES)
        c.customCode, c.version = custom or None, version
        model.operatorCodes.append(c)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def single_op_model(name, inputs, outputs, options=None, version=1, custom_options=None):
    """A model of one op: inputs and outputs are Tensor specs; those without data are model I/O."""
    tensors = list(inputs) + list(outputs)
    outs = list(range(len(inputs), len(tensors)))
    op = Op(name, list(range(len(inputs))), outs, dict(options or {}), version, custom_options)
    model_inputs = [i for i, t in enumerate(inputs) if t.data is None]
    return build_model([op], tensors, model_inputs, outs)


# Operator versions as TFLite's converter sets them for int8 (TFLM itself does not check them).
FC_VERSION, FC_PER_CHANNEL_VERSION, SOFTMAX_VERSION, RESHAPE_VERSION = 4, 12, 2, 1


def fully_connected_model(w, bias, in_scale, in_zp, w_scales, out_scale, out_zp,
                          activation="NONE", batches=1):
    """int8 FULLY_CONNECTED, per-channel when w_scales has one scale per output."""
    w = np.asarray(w, np.int8)
    n_out, n_in = w.shape
    w_scales = np.atleast_1d(np.asarray(w_scales, np.float32))
    per_channel = w_scales.size > 1
    bias_scales = np.float32(in_scale) * w_scales  # what TFLite's quantizer writes for the bias
    return single_op_model(
        "FULLY_CONNECTED",
        [Tensor((batches, n_in), scale=in_scale, zero_point=in_zp, name="input"),
         Tensor(data=w, scale=w_scales, zero_point=0, name="weights"),
         Tensor(data=np.asarray(bias, np.int32), dtype="int32", scale=bias_scales, zero_point=0,
                name="bias")],
        [Tensor((batches, n_out), scale=out_scale, zero_point=out_zp, name="output")],
        options={"fused_activation_function": activation},
        version=FC_PER_CHANNEL_VERSION if per_channel else FC_VERSION)


def softmax_model(n, in_scale, in_zp, beta=1.0, rows=1):
    """int8 SOFTMAX over n values; output scale 1/256, zero point -128 (what TFLM requires)."""
    return single_op_model(
        "SOFTMAX",
        [Tensor((rows, n), scale=in_scale, zero_point=in_zp, name="input")],
        [Tensor((rows, n), scale=1 / 256, zero_point=-128, name="output")],
        options={"beta": beta}, version=SOFTMAX_VERSION)


def reshape_model(in_shape, out_shape, scale, zp):
    """int8 RESHAPE with the new shape both as an int32 input tensor and in the options (as TF)."""
    return single_op_model(
        "RESHAPE",
        [Tensor(tuple(in_shape), scale=scale, zero_point=zp, name="input"),
         Tensor(data=np.asarray(out_shape, np.int32), dtype="int32", name="shape")],
        [Tensor(tuple(out_shape), scale=scale, zero_point=zp, name="output")],
        options={"new_shape": list(out_shape)}, version=RESHAPE_VERSION)


def float_model(w=((2.0,),), bias=(0.5,), activation="NONE", batches=1):
    """float32 FULLY_CONNECTED: y = x @ w.T + bias."""
    w = np.asarray(w, np.float32)
    n_out, n_in = w.shape
    return single_op_model(
        "FULLY_CONNECTED",
        [Tensor((batches, n_in), dtype="float32", name="input"),
         Tensor(data=w, dtype="float32", name="weights"),
         Tensor(data=np.asarray(bias, np.float32), dtype="float32", name="bias")],
        [Tensor((batches, n_out), dtype="float32", name="output")],
        options={"fused_activation_function": activation}, version=1)
