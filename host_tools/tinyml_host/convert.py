# TFLite int8 model -> .tml: checks the model is one tinyml can run bit-exactly, folds the input zero
# point into the bias and precomputes every fixed-point multiplier (docs/model-format.md).
import numpy as np

from tinyml_host.quantize import activation_range, quantize_multiplier, softmax_params
from tinyml_host.tflite_reader import read_tflite
from tinyml_host.tmlfile import TmlOp, TmlTensor, write_tml

FULLY_CONNECTED, RESHAPE, SOFTMAX = 9, 22, 25
SUPPORTED = {"FULLY_CONNECTED", "RESHAPE", "SOFTMAX"}

INT8_ADVICE = ("tinyml runs full-integer int8 models: convert with TFLiteConverter using "
               "optimizations=[tf.lite.Optimize.DEFAULT], a representative_dataset, "
               "target_spec.supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8], "
               "inference_input_type=tf.int8 and inference_output_type=tf.int8")


class ConvertError(ValueError):
    pass


class _Converter:
    def __init__(self, model, name):
        self.m = model
        self.name = name
        self.tensors = []   # TmlTensor list being built
        self.index = {}     # TFLite tensor index -> .tml tensor index
        self.ops = []

    def fail(self, what):
        raise ConvertError("%s: %s" % (self.name, what))

    def activation(self, i):
        """The .tml index of TFLite activation tensor i (an int8 tensor with one scale)."""
        if i not in self.index:
            t = self.m.tensors[i]
            if t.dtype != np.int8:
                self.fail("tensor %d '%s' is %s; %s" % (i, t.name, t.dtype, INT8_ADVICE))
            if len(t.scale) != 1:
                self.fail("activation tensor %d '%s' has %d scales; expected one" % (i, t.name, len(t.scale)))
            self.index[i] = self.add(TmlTensor(t.name, np.int8, t.shape, None, t.scale[0], t.zero_point[0]))
        return self.index[i]

    def add(self, tensor):
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def const(self, name, array):
        return self.add(TmlTensor(name, array.dtype, array.shape, array))

    def fully_connected(self, op):
        x, w = (self.m.tensors[i] for i in op.inputs[:2])
        b = self.m.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        y = self.m.tensors[op.outputs[0]]
        where = "op %d FULLY_CONNECTED" % op.index
        if w.data is None or w.dtype != np.int8 or len(w.shape) != 2:
            self.fail("%s: weights must be a constant int8 matrix (got %s %s)" % (where, w.dtype, w.shape))
        if np.any(w.zero_point != 0):
            self.fail("%s: weights have a nonzero zero point; TFLite int8 weights are symmetric" % where)
        if op.options.get("weights_format", "DEFAULT") not in ("DEFAULT", 0):
            self.fail("%s: shuffled weights format is not supported" % where)
        n_out, n_in = w.shape
        if int(np.prod(x.shape)) % n_in:
            self.fail("%s: input of shape %s does not split into rows of %d" % (where, x.shape, n_in))
        xi, yi = self.activation(op.inputs[0]), self.activation(op.outputs[0])
        wq = w.data.astype(np.int64)
        bias = np.zeros(n_out, np.int64) if b is None or b.data is None else b.data.astype(np.int64).reshape(n_out)
        # Fold the input zero point: sum (x - zx) w + b = sum x w + (b - zx sum w).
        folded = bias - int(x.zero_point[0]) * wq.sum(axis=1)
        if folded.min() < -2**31 or folded.max() >= 2**31:
            self.fail("%s: bias with the input zero point folded in overflows int32" % where)
        scales = np.asarray(w.scale, np.float32)
        if len(scales) not in (1, n_out):
            self.fail("%s: weights have %d scales for %d outputs" % (where, len(scales), n_out))
        mults, shifts = zip(*(quantize_multiplier(float(x.scale[0]) * float(s) / float(y.scale[0]))
                              for s in scales))
        lo, hi = activation_range(op.options.get("fused_activation_function", "NONE"), y.scale[0], int(y.zero_point[0]))
        ins = [xi, self.const(w.name, w.data),
               self.const(w.name + "/bias_folded", folded.astype(np.int32)),
               self.const(w.name + "/multiplier", np.array(mults, np.int32)),
               self.const(w.name + "/shift", np.array(shifts, np.int32))]
        self.ops.append(TmlOp(FULLY_CONNECTED, ins, [yi], [int(y.zero_point[0]), lo, hi]))

    def reshape(self, op):
        x, y = self.m.tensors[op.inputs[0]], self.m.tensors[op.outputs[0]]
        if x.scale[0] != y.scale[0] or x.zero_point[0] != y.zero_point[0]:
            self.fail("op %d RESHAPE changes quantization, which TFLite does not allow" % op.index)
        self.ops.append(TmlOp(RESHAPE, [self.activation(op.inputs[0])], [self.activation(op.outputs[0])]))

    def softmax(self, op):
        x, y = self.m.tensors[op.inputs[0]], self.m.tensors[op.outputs[0]]
        if y.zero_point[0] != -128 or abs(float(y.scale[0]) - 1 / 256) > 1e-9:
            self.fail("op %d SOFTMAX: output must have scale 1/256 and zero point -128 (as TFLM requires), "
                      "got scale %g, zero point %d" % (op.index, y.scale[0], y.zero_point[0]))
        params = softmax_params(op.options.get("beta", 1.0), float(x.scale[0]))
        self.ops.append(TmlOp(SOFTMAX, [self.activation(op.inputs[0])], [self.activation(op.outputs[0])], params))


def check_supported(model, name):
    """Refuses float and hybrid models, and lists every op tinyml cannot run, all at once."""
    for i in list(model.inputs) + list(model.outputs):
        t = model.tensors[i]
        if t.dtype == np.float32:
            raise ConvertError("%s: model %s '%s' is float32: this is a float model. %s"
                               % (name, "input" if i in model.inputs else "output", t.name, INT8_ADVICE))
    for op in model.operators:
        for i in op.inputs:
            if i >= 0 and model.tensors[i].dtype == np.float32:
                raise ConvertError("%s: op %d %s takes float32 tensor '%s': a float or hybrid model. %s"
                                   % (name, op.index, op.name, model.tensors[i].name, INT8_ADVICE))
    bad = {}
    for op in model.operators:
        if op.name not in SUPPORTED:
            bad.setdefault((op.name, op.version), []).append(str(op.index))
    if bad:
        listed = ["%s (version %d) at index %s" % (n, v, ", ".join(at)) for (n, v), at in bad.items()]
        raise ConvertError("%s: ops tinyml cannot run: %s. Supported: %s"
                           % (name, "; ".join(listed), ", ".join(sorted(SUPPORTED))))


def convert(source, name=None):
    """TFLite flatbuffer (path or bytes) -> .tml bytes. Raises ConvertError saying what to change."""
    name = name or (source if isinstance(source, str) else "model")
    model = read_tflite(source)
    check_supported(model, name)
    c = _Converter(model, name)
    inputs = [c.activation(i) for i in model.inputs]
    for op in model.operators:
        getattr(c, op.name.lower())(op)
    outputs = [c.activation(i) for i in model.outputs]
    return write_tml(c.tensors, c.ops, inputs, outputs)
