# The converter's ops with int16 activations and int8 weights (TFLite's 16x8 quantization, made by
# TFLiteConverter with target_spec.supported_ops = [EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]):
# the ops of the op table's S16 (device_lib/tinyml/ops.py) take an int16 input and output, zero points
# 0, and for FULLY_CONNECTED and the convolutions an int64 bias; the device runs their <kernel>_s16,
# TFLM's reference arithmetic with an int64 accumulator (docs/model-format.md, "int16 activations").
import numpy as np

from tinyml.ops import S16
from tinyml_host.model import op_params

S16_ADVICE = ("quantize those layers with int8 activations (target_spec.supported_ops="
              "[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]), or keep them out of the 16x8 model")
IO_ADVICE = ("the ops that convert from and to float at the model's ends come from float input and output: "
             "convert with converter.inference_input_type = tf.int16 and converter.inference_output_type = tf.int16; ")


def s16_names():
    return sorted(name for name, code in op_params.OPCODES.items() if code in S16)


def check_s16(model, name, error):
    """A 16x8 model: every op whose input or output 0 is an int16 activation must be one tinyml has
    an int16 kernel for; lists all the others at once."""
    bad, float_io = {}, False
    for op in model.operators:
        ends = [i for i in (op.inputs[:1] + op.outputs[:1]) if i >= 0]
        # (an unquantized int16, a CAST's output, is no 16x8 activation)
        if any(model.tensors[i].dtype == np.int16 and model.tensors[i].is_quantized for i in ends) and \
                op_params.OPCODES.get(op.name) not in S16:
            bad.setdefault(op.name, []).append(str(op.index))
            float_io = float_io or any(model.tensors[i].dtype == np.float32 for i in ends)
    if bad:
        raise error("%s: a model with int16 activations (16x8 quantization): tinyml has no int16 kernel for %s"
                           % (name, "; ".join("%s (op %s)" % (n, ", ".join(at)) for n, at in bad.items())),
                           "%s%s; tinyml runs int16 activations in %s" % (
                               IO_ADVICE if float_io else "", S16_ADVICE,
                               ", ".join(s16_names())))


class S16Ops:
    """Mixed into the converter (tinyml_host.model.convert._Converter)."""

    def _s16_requant(self, op, x, w, y, n_out):
        for t, what in ((x, "input"), (y, "output")):
            if t.dtype != np.int16 or int(t.zero_point[0]) != 0:
                self.fail(op, "%s must be int16 with zero point 0 in a 16x8 model (TFLM's requirement), got %s, "
                          "zero point %d" % (what, t.dtype, int(t.zero_point[0])))
        _, mults, shifts = self.requant_params(op, x, w, y, n_out, 0)
        if shifts.max(initial=-31) > 7:  # TFLM's 64-bit MultiplyByQuantizedMultiplier takes shifts -31..7
            self.fail(op, "input scale x weight scale / output scale is %g, over 128: TFLM's int16 kernels cannot "
                      "requantize it" % (float(x.scale[0]) * float(np.max(w.scale)) / float(y.scale[0])))
        b = self.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if b is not None and (b.data is None or b.dtype != np.int64):
            self.fail(op, "bias must be a constant int64 tensor in a 16x8 model (the converter's default), got %s"
                      % b.dtype)
        bias = np.zeros(n_out, np.int64) if b is None else b.data.astype(np.int64).reshape(n_out)
        if np.abs(bias).max(initial=0) >= 2 ** 40:
            self.fail(op, "bias over 2**40, beyond what TFLM's int16 kernels accumulate exactly")
        return bias, mults, shifts

    def fully_connected_s16(self, op):
        x, w, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        if op.options.get("weights_format", "DEFAULT") != "DEFAULT":
            self.fail(op, "shuffled weights format is not supported")
        if w.data is None or len(w.shape) != 2:
            self.fail(op, "weights must be a constant matrix (got shape %s)" % (w.shape,))
        n_out, n_in = w.shape
        if int(np.prod(x.shape)) % n_in:
            self.fail(op, "input of shape %s does not split into rows of %d" % (x.shape, n_in))
        bias, mults, shifts = self._s16_requant(op, x, w, y, n_out)
        ins = [self.activation(op.inputs[0])] + self.weighted(op, w.name, w.data, bias, mults, shifts)
        lo, hi = self.clamp(op, y)
        self.emit(op, ins, [self.activation(op.outputs[0])], y_zp=0, act_min=lo, act_max=hi)

    def conv_s16(self, op, depthwise):
        x, w, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        if w.data is None or w.dtype != np.int8 or len(w.shape) != 4:
            self.fail(op, "weights must be a constant int8 tensor of 4 dimensions")
        if depthwise:
            _, kh, kw, oc = w.shape
            c = x.shape[3]
            if oc % c:
                self.fail(op, "%d output channels is not a multiple of %d input channels" % (oc, c))
            data, extra = w.data.reshape(kh, kw, oc).transpose(2, 0, 1), dict(depth_multiplier=oc // c)
        else:
            oc, kh, kw, c = w.shape
            if c != x.shape[3]:
                self.fail(op, "weights for %d input channels, input has %d (grouped convolution)" % (c, x.shape[3]))
            data, extra = w.data, {}
        geometry = self._conv_geometry(op, x, kh, kw, y)
        bias, mults, shifts = self._s16_requant(op, x, w, y, oc)
        ins = [self.activation(op.inputs[0])] + self.weighted(op, w.name, data, bias, mults, shifts)
        lo, hi = self.clamp(op, y)
        self.emit(op, ins, [self.activation(op.outputs[0])], **geometry, x_zp=0, y_zp=0, act_min=lo, act_max=hi,
                  **extra)
