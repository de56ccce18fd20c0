# The converter's ops with int16 activations and int8 weights (TFLite's 16x8 quantization, made by
# TFLiteConverter with target_spec.supported_ops = [EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]):
# the ops of the op table's S16 (device_lib/tinyml/ops.py) take an int16 input and output, zero points
# 0, and for FULLY_CONNECTED and the convolutions an int64 bias; the device runs their <kernel>_s16,
# TFLM's reference arithmetic with an int64 accumulator (docs/model-format.md, "int16 activations").
import numpy as np

from tinyml.ops import S16
from tinyml_host.model import op_params
from tinyml_host.model import quantize as q
from tinyml_host.model.convert_recurrent import SIGMOID_TABLE_UINT16

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

    # ---- int16 LOGISTIC, TANH, SOFTMAX, QUANTIZE, DEQUANTIZE: TFLM's Prepare arithmetic here, the
    # device runs lut_s16 / softmax_s16 / quantize_f32_s16 (docs/model-format.md, "int16 activations")

    def _zero_zp(self, op, *tensors):
        for t in tensors:
            if t.dtype == np.int16 and int(t.zero_point[0]) != 0:
                self.fail(op, "int16 tensor '%s' has zero point %d: TFLM's int16 kernels take zero point 0 only; "
                          "quantize it symmetrically (TF's 16x8 converter does)" % (t.name, int(t.zero_point[0])))

    def sigmoid_s16(self, op, tanh):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        self._zero_zp(op, x, y)
        if y.dtype != np.int16 or checked_log2(float(y.scale[0])) != (True, -15):
            self.fail(op, "an int16 input needs an int16 output of scale 1/32768 (TFLM's requirement), got %s scale %g"
                      % (y.dtype, float(y.scale[0])))
        m, s = sigmoid16_params(float(x.scale[0]), tanh)
        if m > 32767:
            self.fail(op, "input scale %g is over 8/3 (int16 codes beyond +-87000): TFLM's int16 %s overflows "
                      "int32 there; quantize its input with a smaller range" % (float(x.scale[0]), op.name))
        table = np.array(SIGMOID_TABLE_UINT16, np.uint16).view(np.int16)
        self.emit(op, [self.activation(op.inputs[0]), self.const("sigmoid_table_uint16", table)],
                  [self.activation(op.outputs[0])], mode=int(tanh), multiplier=m, shift=s, y_zp=0)

    def softmax_s16(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        self._zero_zp(op, x, y)
        if y.dtype != np.int16 or abs(float(y.scale[0]) - 1 / 32768) > 0.001 / 32768:
            self.fail(op, "an int16 input needs an int16 output of scale 1/32768 (TFLM's requirement), got %s scale %g"
                      % (y.dtype, float(y.scale[0])))
        real = float(np.float32(x.scale[0])) * float(np.float32(op.options.get("beta", 1.0))) / (10.0 / 65535.0)
        m, s = q.quantize_multiplier(real)
        if s > 15:  # a difference of -65535 shifted left by more overflows int32 in TFLM
            self.fail(op, "input scale x beta is %g, 5 or more: TFLM's int16 %s overflows int32 there; quantize "
                      "its input with a smaller range" % (real * 10.0 / 65535.0, op.name))
        self.emit(op, [self.activation(op.inputs[0]), self.const("softmax_int16_luts", softmax16_tables())],
                  [self.activation(op.outputs[0])], input_multiplier=m, input_left_shift=s, diff_min=0)

    def quantize_s16(self, op):
        # to or from int16 (TFLM's quantize.cc): float32 -> int16 (AffineQuantize), int8 -> int16 (a
        # table of 256 int16, TFLM's Requantize of each code), int16 -> int8 or int16 (Requantize)
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        self._zero_zp(op, x, y)
        if y.dtype not in (np.int8, np.int16):
            self.fail(op, "int16 to %s: tinyml quantizes int16 to int8 or int16 only" % y.dtype)
        if x.dtype == np.float32:
            bits = int(np.array([y.scale[0]], np.float32).view(np.int32)[0])
            return self.emit(op, [self.activation(op.inputs[0], (np.float32,))], [self.activation(op.outputs[0])],
                             y_zp=0, y_scale=bits)
        m, s = q.quantize_multiplier(float(np.float32(x.scale[0])) / float(np.float32(y.scale[0])))
        y_zp = int(y.zero_point[0])
        if x.dtype == np.int8:
            x_zp = int(x.zero_point[0])
            table = np.array([min(max(q.requantize(v - x_zp, m, s) + y_zp, -32768), 32767)
                              for v in range(-128, 128)], np.int16)
            return self._table(op, table)
        if x.dtype != np.int16:
            self.fail(op, "%s to int16: tinyml quantizes float32, int8 or int16 to int16" % x.dtype)
        bits = int(np.array([y.scale[0]], np.float32).view(np.int32)[0])
        self.emit(op, [self.activation(op.inputs[0]), self.const(x.name + "/requantize", np.array([m, s], np.int32))],
                  [self.activation(op.outputs[0])], y_zp=y_zp, y_scale=bits)

    def dequantize_s16(self, op):
        x = self.t(op.inputs[0])
        self._zero_zp(op, x)
        bits = int(np.array([x.scale[0]], np.float32).view(np.int32)[0])
        self.emit(op, [self.activation(op.inputs[0])], [self.activation(op.outputs[0], (np.float32,))],
                  mode=2, multiplier=bits, shift=0, y_zp=0)


def checked_log2(x):
    """TFLM's CheckedLog2 in float32: (x is a power of two within 1e-3 of its log, the rounded log2)."""
    f = np.float32
    l2 = f(np.log(f(x))) * (f(1.0) / f(np.log(f(2.0))))
    r = q.tflite_round(float(l2))
    return bool(abs(f(l2) - f(r)) < f(1e-3)), int(r)


def sigmoid16_params(x_scale, tanh):
    # TFLM's int16 logistic / tanh Prepare: (input_multiplier, input_left_shift) scaling the input to
    # 1/(3*4096); its power-of-two case (multiplier 0, the kernel's 3 << shift) resolved here
    pot, l2 = checked_log2(x_scale)
    shift = 12 + l2
    if pot and (shift == 0 or tanh and shift == 1):
        return 3 << shift, 0
    real, shift = float(np.float32(x_scale)) * 4096.0 * 3.0, 0
    while real <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        real *= 2.0
    return int(real), shift


def _gen_lut(fn, lo, hi):
    # TFLM's gen_lut<float, int16_t, int16_t> (output range -1..1): 512 steps and a last entry, in float32
    f = np.float32
    step = (f(hi) - f(lo)) / f(512)
    half = step / f(2)
    inv = f(65536) / (f(1) - f(-1))

    def rnd(v):
        return f(q.tflite_round(float(v)))
    out = []
    for i in range(512):
        at = f(lo) + f(i) * step
        val, mid, nxt = fn(at), fn(at + half), fn(f(lo) + f(i + 1) * step)
        sample = rnd(val * inv)
        mid_interp = rnd((nxt * inv + rnd(val * inv)) / f(2))
        bias = rnd((mid_interp - rnd(mid * inv)) / f(2))
        out.append(min(max(sample - bias, -32768), 32767))
    out.append(min(max(rnd(fn(f(hi)) * inv), -32768), 32767))
    return out


def _expf(v):
    return np.float32(np.exp(np.float64(v)))  # correctly rounded, as glibc's expf


def softmax16_tables():
    # TFLM's int16 softmax tables: exp on [-10, 0], then 1 / (1 + x) on [0, 1], 513 int16 each
    return np.array(_gen_lut(_expf, -10.0, 0.0)
                    + _gen_lut(lambda v: np.float32(1.0) / (np.float32(1.0) + v), 0.0, 1.0), np.int16)
