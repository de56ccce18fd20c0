# TFLite int8 model -> .tml: checks the model is one tinyml can run bit-exactly, folds the input zero
# point into the bias, precomputes every fixed-point multiplier and lookup table, and works out
# padding and broadcasting, so the device only computes (docs/model-format.md).
import numpy as np

from tinyml_host.errors import ModelError
from tinyml_host.model import op_params
from tinyml_host.model import quantize as q
from tinyml_host.model.conv_layout import interleave_conv_weights
from tinyml_host.model.convert_layout import LayoutOps, fold_constants
from tinyml_host.model.convert_math import MathOps
from tinyml_host.model.convert_nn import LOWERED, NnOps, fold_float_islands
from tinyml_host.model.convert_recurrent import RecurrentOps
from tinyml_host.model.convert_s16 import S16Ops, check_s16
from tinyml_host.model.convert_tail import TailOps, id_inputs
from tinyml_host.model.tflite_reader import read_tflite
from tinyml_host.model.tmlfile import TmlOp, TmlTensor, write_tml

# the op table's ops, and those the converter writes as ops of the table: each has a method of _Converter
SUPPORTED = set(op_params.OPCODES) | set(LOWERED)

INT8_ADVICE = ("tinyml runs full-integer int8 models: convert with TFLiteConverter using "
               "optimizations=[tf.lite.Optimize.DEFAULT], a representative_dataset, "
               "target_spec.supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8], "
               "inference_input_type=tf.int8 and inference_output_type=tf.int8")


class ConvertError(ModelError, ValueError):
    pass


def out_size(padding, size, k, stride, dilation):
    """TFLM's ComputeOutSize."""
    eff = (k - 1) * dilation + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size - eff + stride) // stride


def pad_before(size, k, stride, dilation, out):
    """TFLM's ComputePaddingWithOffset: the padding before (top or left)."""
    total = (out - 1) * stride + (k - 1) * dilation + 1 - size
    return max(total, 0) // 2


def broadcast_strides(shape, out):
    """Element strides of a tensor of `shape` read at the indices of `out` (both right-aligned to 4-D)."""
    shape = (1,) * (4 - len(shape)) + tuple(shape)
    strides, s = [], 1
    for d in reversed(shape):
        strides.append(s if d > 1 else 0)
        s *= d
    return list(reversed(strides))


class _Converter(MathOps, LayoutOps, NnOps, S16Ops, RecurrentOps, TailOps):
    def __init__(self, model, name):
        self.m = model
        self.name = name
        self.tensors = []   # TmlTensor list being built
        self.index = {}     # TFLite tensor index -> .tml tensor index
        self.ops = []
        self.consts = {}    # (dtype, shape, bytes) -> .tml index of a constant

    def fail(self, op, what):
        where = "op %d %s: " % (op.index, op.name) if op is not None else ""
        raise ConvertError("%s: %s%s" % (self.name, where, what))

    def t(self, i):
        return self.m.tensors[i]

    def activation(self, i, dtypes=(np.int8, np.int16)):
        """The .tml index of TFLite activation tensor i."""
        if i not in self.index:
            t = self.t(i)
            if len(t.shape) > 4:
                self.fail(None, "tensor %d '%s' has shape %s: more than 4 dimensions, which tinyml does not "
                          "support" % (i, t.name, tuple(t.shape)))
            if t.dtype not in dtypes:
                self.fail(None, "tensor %d '%s' is %s; %s" % (i, t.name, t.dtype, INT8_ADVICE))
            if t.dtype == np.bool_:  # a comparison's bools: uint8 0 or 1
                self.index[i] = self._new(TmlTensor(t.name, np.uint8, t.shape))
            elif t.dtype == np.float32 or t.dtype == np.int32:  # float I/O; int32 indices (argmax)
                self.index[i] = self._new(TmlTensor(t.name, t.dtype, t.shape))
            else:
                if len(t.scale) != 1:
                    self.fail(None, "activation tensor %d '%s' has %d scales; expected one" % (i, t.name, len(t.scale)))
                # int16: a 16x8 model's activations, which only the ops of ops.S16 take (check_s16)
                self.index[i] = self._new(TmlTensor(t.name, t.dtype, t.shape, None, t.scale[0], t.zero_point[0]))
        return self.index[i]

    def _new(self, tensor):
        # TensorFlow names a tensor of fused ops by all of them, joined by ';': the first is enough
        # (an unrolled LSTM's names would be a third of its file)
        tensor.name = tensor.name.split(";")[0]
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def const(self, name, array, shared=True):
        """A constant tensor; one with the bytes of one made before is that one (an unrolled LSTM's
        steps share their tables and remaps), unless not shared (weights that stream from the file
        belong to one op)."""
        array = np.ascontiguousarray(array)
        if not shared:
            return self._new(TmlTensor(name, array.dtype, array.shape, array))
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self.consts:
            self.consts[key] = self._new(TmlTensor(name, array.dtype, array.shape, array))
        return self.consts[key]

    def emit(self, op, ins, outs, **params):
        """The .tml op of TFLite op `op`, its parameters by name (tinyml_host.model.op_params)."""
        self.ops.append(TmlOp(op_params.OPCODES[op.name], ins, outs, op_params.encode(op.name, params)))

    @staticmethod
    def qp(t):
        return float(t.scale[0]), int(t.zero_point[0])

    def clamp(self, op, y):
        bounds = (-32768, 32767) if y.dtype == np.int16 else (-128, 127)
        return q.activation_range(op.options.get("fused_activation_function", "NONE"), *self.qp(y), *bounds)

    def requant_params(self, op, x, w, y, n_out, axis):
        """Folded bias, multipliers and shifts of a weighted op (per channel, or one per tensor)."""
        if w.data is None or w.dtype != np.int8:
            self.fail(op, "weights must be a constant int8 tensor (got %s)" % w.dtype)
        if np.any(w.zero_point != 0):
            self.fail(op, "weights have a nonzero zero point; TFLite int8 weights are symmetric")
        scales = np.asarray(w.scale, np.float32)
        if len(scales) not in (1, n_out):
            self.fail(op, "weights have %d scales for %d output channels" % (len(scales), n_out))
        x_scale, x_zp = self.qp(x)
        y_scale = float(y.scale[0])
        pairs = [q.quantize_multiplier(x_scale * float(s) / y_scale) for s in scales]
        mults = np.array([m for m, _ in pairs], np.int32)
        shifts = np.array([s for _, s in pairs], np.int32)
        return x_zp, mults, shifts

    def bias(self, op, n_out, w_rows, x_zp):
        """TFLite bias (or zeros) minus x_zp times each output channel's weight sum."""
        b = self.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        bias = np.zeros(n_out, np.int64) if b is None or b.data is None else b.data.astype(np.int64).reshape(n_out)
        folded = bias - x_zp * w_rows.astype(np.int64).sum(axis=1)
        if folded.min() < -2 ** 31 or folded.max() >= 2 ** 31:
            self.fail(op, "bias with the input zero point folded in overflows int32")
        return folded.astype(np.int32)

    def weighted(self, op, w_name, w_data, bias, mults, shifts):
        return [self.const(w_name, np.ascontiguousarray(w_data), False),
                self.const(w_name + "/bias_folded", bias, False),
                self.const(w_name + "/multiplier", mults, False),
                self.const(w_name + "/shift", shifts, False)]

    # ---- one method per TFLite op, named after it ----

    def fully_connected(self, op):
        x, w, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        if x.dtype == np.int16:
            return self.fully_connected_s16(op)
        if op.options.get("weights_format", "DEFAULT") != "DEFAULT":
            self.fail(op, "shuffled weights format is not supported")
        if w.data is None or len(w.shape) != 2:
            self.fail(op, "weights must be a constant matrix (got shape %s)" % (w.shape,))
        n_out, n_in = w.shape
        if int(np.prod(x.shape)) % n_in:
            self.fail(op, "input of shape %s does not split into rows of %d" % (x.shape, n_in))
        x_zp, mults, shifts = self.requant_params(op, x, w, y, n_out, 0)
        bias = self.bias(op, n_out, w.data, x_zp)
        ins = [self.activation(op.inputs[0])] + self.weighted(op, w.name, w.data, bias, mults, shifts)
        lo, hi = self.clamp(op, y)
        self.emit(op, ins, [self.activation(op.outputs[0])], y_zp=self.qp(y)[1], act_min=lo, act_max=hi)

    def _conv_geometry(self, op, x, kh, kw, y):
        o = op.options
        sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
        dh, dw = o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)
        if len(x.shape) != 4 or x.shape[0] != 1:
            self.fail(op, "input must be (1, H, W, C), got %s" % (x.shape,))
        _, h, wd, _ = x.shape
        oh, ow = out_size(o["padding"], h, kh, sh, dh), out_size(o["padding"], wd, kw, sw, dw)
        if tuple(y.shape[1:3]) != (oh, ow):
            self.fail(op, "output %s does not match %s padding (expected %dx%d)" % (y.shape, o["padding"], oh, ow))
        return dict(stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
                    pad_top=pad_before(h, kh, sh, dh, oh), pad_left=pad_before(wd, kw, sw, dw, ow))

    def conv_2d(self, op):
        x, w, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        if x.dtype == np.int16:
            return self.conv_s16(op, False)
        oc, kh, kw, c = w.shape
        if c != x.shape[3]:
            self.fail(op, "weights for %d input channels, input has %d (grouped convolution)" % (c, x.shape[3]))
        geometry = self._conv_geometry(op, x, kh, kw, y)
        x_zp, mults, shifts = self.requant_params(op, x, w, y, oc, 0)
        bias = self.bias(op, oc, w.data.reshape(oc, -1), x_zp)
        ins = [self.activation(op.inputs[0])] + self.weighted(op, w.name, w.data, bias, mults, shifts)
        lo, hi = self.clamp(op, y)
        self.emit(op, ins, [self.activation(op.outputs[0])], **geometry, x_zp=x_zp, y_zp=self.qp(y)[1],
                  act_min=lo, act_max=hi)

    def depthwise_conv_2d(self, op):
        x, w, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        if x.dtype == np.int16:
            return self.conv_s16(op, True)
        _, kh, kw, oc = w.shape
        c = x.shape[3]
        if oc % c:
            self.fail(op, "%d output channels is not a multiple of %d input channels" % (oc, c))
        multiplier = oc // c
        geometry = self._conv_geometry(op, x, kh, kw, y)
        x_zp, mults, shifts = self.requant_params(op, x, w, y, oc, 3)
        w_t = w.data.reshape(kh, kw, oc).transpose(2, 0, 1)  # (OC, KH, KW): a run of channels is contiguous
        bias = self.bias(op, oc, w_t.reshape(oc, -1), x_zp)
        ins = [self.activation(op.inputs[0])] + self.weighted(op, w.name, w_t, bias, mults, shifts)
        lo, hi = self.clamp(op, y)
        self.emit(op, ins, [self.activation(op.outputs[0])], **geometry, x_zp=x_zp, y_zp=self.qp(y)[1],
                  act_min=lo, act_max=hi, depth_multiplier=multiplier)

    def _pool(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        (xs, xz), (ys, yz) = self.qp(x), self.qp(y)
        if xz != yz or abs(xs - ys) > 1e-6:  # TFLM's own tolerance (pooling_common.cc)
            self.fail(op, "input and output quantization differ, which TFLM does not support for int8")
        o = op.options
        fh, fw, sh, sw = o["filter_height"], o["filter_width"], o["stride_h"], o["stride_w"]
        _, h, wd, _ = x.shape
        oh, ow = out_size(o["padding"], h, fh, sh, 1), out_size(o["padding"], wd, fw, sw, 1)
        lo, hi = self.clamp(op, y)
        self.emit(op, [self.activation(op.inputs[0])], [self.activation(op.outputs[0])],
                  stride_h=sh, stride_w=sw, filter_h=fh, filter_w=fw, pad_top=pad_before(h, fh, sh, 1, oh),
                  pad_left=pad_before(wd, fw, sw, 1, ow), act_min=lo, act_max=hi)

    average_pool_2d = max_pool_2d = _pool

    def _two_inputs(self, op):
        """A two-input elementwise op's (scales and zero points of a, b, y; its inputs; its output
        clamp; its broadcasting: the 4-D output dims and each input's element strides)."""
        a, b, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        out = tuple(np.broadcast_shapes(a.shape, b.shape))
        if len(out) > 4:
            self.fail(op, "broadcasting over more than 4 dimensions is not supported")
        ins = [self.operand(i) for i in op.inputs[:2]]
        y_q = self.qp(y) if y.is_quantized else (0.0, 0)  # a comparison's bools have no quantization
        lo, hi = q.activation_range(op.options.get("fused_activation_function", "NONE"), *y_q,
                                    *((-32768, 32767) if y.dtype == np.int16 else ()))
        broadcast = dict(d=[1] * (4 - len(out)) + list(out), a_stride=broadcast_strides(a.shape, out),
                         b_stride=broadcast_strides(b.shape, out), act_min=lo, act_max=hi)
        return (self.qp(a), self.qp(b), y_q), ins, broadcast

    def add(self, op):
        ((a_scale, a_zp), (b_scale, b_zp), (y_scale, y_zp)), ins, broadcast = self._two_inputs(op)
        s16 = self.t(op.outputs[0]).dtype == np.int16  # TFLM's int16 ADD and SUB: left_shift 15, zero points 0
        if s16 and (a_zp, b_zp, y_zp) != (0, 0, 0):
            self.fail(op, "int16 inputs and output must have zero point 0 (TFLM's requirement)")
        ls, am, ash, bm, bsh, ym, ysh = q.add_params(a_scale, b_scale, y_scale, *((15,) if s16 else ()))
        self.emit(op, ins, [self.activation(op.outputs[0])], **broadcast, a_zp=a_zp, b_zp=b_zp, left_shift=ls,
                  a_multiplier=am, a_shift=ash, b_multiplier=bm, b_shift=bsh, y_multiplier=ym, y_shift=ysh, y_zp=y_zp)

    # TFLM's CalculateOpDataSub is CalculateOpDataAdd for int8 (in double precision in the tflite-micro we
    # check against): a subtraction's record is an addition's; its kernel subtracts the scaled second input
    sub = add

    def mul(self, op):
        ((a_scale, a_zp), (b_scale, b_zp), (y_scale, y_zp)), ins, broadcast = self._two_inputs(op)
        if self.t(op.outputs[0]).dtype == np.int16 and (a_zp, b_zp, y_zp) != (0, 0, 0):
            self.fail(op, "int16 inputs and output must have zero point 0 (TFLM's requirement)")
        ym, ysh = q.mul_params(a_scale, b_scale, y_scale)
        self.emit(op, ins, [self.activation(op.outputs[0])], **broadcast, a_zp=a_zp, b_zp=b_zp,
                  y_multiplier=ym, y_shift=ysh, y_zp=y_zp)

    def operand(self, i):
        """An activation, or a constant operand (e.g. of an addition) stored as it is."""
        t = self.t(i)
        if t.data is None:
            return self.activation(i)
        if t.dtype != np.int8:
            self.fail(None, "constant tensor %d '%s' is %s; expected int8" % (i, t.name, t.dtype))
        return self._new(TmlTensor(t.name, np.int8, t.shape, t.data, t.scale[0], t.zero_point[0]))

    def _table(self, op, table):
        self.emit(op, [self.activation(op.inputs[0]), self.const(self.t(op.inputs[0]).name + "/table", table)],
                  [self.activation(op.outputs[0], (np.int8, np.int16, np.float32))])

    def logistic(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if x.dtype == np.int16:
            return self.sigmoid_s16(op, False)
        if self.qp(y) != (1 / 256, -128):
            self.fail(op, "output must have scale 1/256 and zero point -128 (TFLM's requirement)")
        self._table(op, q.logistic_table(*self.qp(x)))

    def tanh(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if x.dtype == np.int16:
            return self.sigmoid_s16(op, True)
        if self.qp(y) != (1 / 128, 0):
            self.fail(op, "output must have scale 1/128 and zero point 0 (TFLM's requirement)")
        self._table(op, q.tanh_table(*self.qp(x)))

    def dequantize(self, op):
        if self.t(op.inputs[0]).dtype == np.int16:
            return self.dequantize_s16(op)
        self._table(op, q.dequantize_table(*self.qp(self.t(op.inputs[0]))))

    dequantize.float_outputs = True  # an int8 model's float outputs: check_supported lets them through

    def quantize(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if np.int16 in (x.dtype, y.dtype):
            return self.quantize_s16(op)
        if x.dtype == np.float32:
            y_scale, y_zp = self.qp(y)
            bits = int(np.array([y_scale], np.float32).view(np.int32)[0])
            self.emit(op, [self.activation(op.inputs[0], (np.float32,))], [self.activation(op.outputs[0])],
                      y_zp=y_zp, y_scale=bits)
        else:
            self._table(op, q.requantize_table(*self.qp(x), *self.qp(y)))

    quantize.float_inputs = True  # an int8 model's float inputs

    def _same_bytes(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if x.is_quantized and y.is_quantized and self.qp(x) != self.qp(y):
            self.fail(op, "changes quantization, which TFLite does not allow")
        self.emit(op, [self.activation(op.inputs[0])], [self.activation(op.outputs[0])])

    reshape = squeeze = _same_bytes

    def pad(self, op):
        x, paddings, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        if paddings.data is None or len(x.shape) > 4:
            self.fail(op, "paddings must be constant, for at most 4 dimensions")
        before = [0] * (4 - len(x.shape)) + [int(p[0]) for p in paddings.data.reshape(-1, 2)]
        self.emit(op, [self.activation(op.inputs[0])], [self.activation(op.outputs[0])],
                  before=before, value=self.qp(y)[1])

    def concatenation(self, op):
        y = self.t(op.outputs[0])
        xs = [self.t(i) for i in op.inputs]
        if any(self.qp(x) != self.qp(y) for x in xs):
            self.fail(op, "inputs and output must share one quantization (TFLM's requirement for int8)")
        axis = op.options.get("axis", 0) % len(y.shape)
        outer = int(np.prod(y.shape[:axis], dtype=np.int64))
        inners = [int(np.prod(x.shape[axis:], dtype=np.int64)) for x in xs]
        lo, hi = self.clamp(op, y)
        if (lo, hi) != (-128, 127):
            self.fail(op, "a fused activation on a concatenation is not supported")
        self.emit(op, [self.operand(i) for i in op.inputs], [self.activation(op.outputs[0])], outer=outer, inner=inners)

    def softmax(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if x.dtype == np.int16:
            return self.softmax_s16(op)
        if self.qp(y)[1] != -128 or abs(self.qp(y)[0] - 1 / 256) > 1e-9:
            self.fail(op, "output must have scale 1/256 and zero point -128 (as TFLM requires), "
                      "got scale %g, zero point %d" % self.qp(y))
        p = q.softmax_params(op.options.get("beta", 1.0), self.qp(x)[0])
        self.emit(op, [self.activation(op.inputs[0])], [self.activation(op.outputs[0])],
                  **dict(zip(("input_multiplier", "input_left_shift", "diff_min"), p)))


def check_static_shapes(model, name):
    """A dynamic batch is run as batch 1, as TFLM does (its shape holds 1 there, and shape arithmetic on
    it folds away); any other dynamic dimension is refused, saying how to export fixed shapes."""
    for i in model.inputs:
        t = model.tensors[i]
        dynamic = [k for k, d in enumerate(t.shape_signature) if d < 0]
        if [k for k in dynamic if k > 0]:
            raise ConvertError(
                "%s: input '%s' has dynamic dimensions (shape signature %s): tinyml needs fixed shapes. "
                "Export with every dimension fixed, e.g. in Keras tf.keras.Input(shape=(%s), batch_size=1), "
                "or convert a concrete function with a fixed tf.TensorSpec" % (
                    name, t.name, list(t.shape_signature), ", ".join(str(d) for d in t.shape[1:])))


def check_supported(model, name):
    """Refuses float and hybrid models, and lists every op tinyml cannot run, all at once."""
    float_ok = set()  # float tensors an op converts from or to (its method says): an int8 model's float I/O
    for op in model.operators:
        method = getattr(_Converter, op.name.lower(), None) if op.name in SUPPORTED else None
        if getattr(method, "float_inputs", False):
            float_ok.update(op.inputs)
        if getattr(method, "float_outputs", False):
            float_ok.update(op.outputs)
    for i in list(model.inputs) + list(model.outputs):
        t = model.tensors[i]
        if t.dtype == np.float32 and i not in float_ok:
            raise ConvertError("%s: model %s '%s' is float32: this is a float model. %s"
                               % (name, "input" if i in model.inputs else "output", t.name, INT8_ADVICE))
    for op in model.operators:
        for i in op.inputs:
            if i >= 0 and model.tensors[i].dtype == np.float32 and i not in float_ok:
                raise ConvertError("%s: op %d %s takes float32 tensor '%s': a float or hybrid model. %s"
                                   % (name, op.index, op.name, model.tensors[i].name, INT8_ADVICE))
    bad = {}
    for op in model.operators:
        if op.name not in SUPPORTED:
            bad.setdefault((op.name, op.version), []).append(str(op.index))
    if bad:
        raise ConvertError("%s: ops tinyml cannot run:\n%s" % (name, "\n".join(
            "  %s (version %d) at index %s: %s" % (n, v, ", ".join(at), unsupported_advice(n))
            for (n, v), at in bad.items())),
            "change the layers named above; tinyml runs %s" % ", ".join(sorted(SUPPORTED)))


def unsupported_advice(op_name):
    """What usually makes an op tinyml does not run, and what to use instead."""
    if op_name.startswith("CUSTOM:Flex"):
        return ("a TensorFlow (Flex) op, which TFLM does not run either; convert with "
                "target_spec.supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8] and replace the layer it names")
    if op_name.startswith("CUSTOM:Signal"):
        return ("an op of TFLM's signal library (an audio front end inside the model); tinyml's front end is "
                "tinyml.preprocess on the board: convert the model from the features on and compute them with it")
    if op_name.startswith("CUSTOM:"):
        return "a custom op, registered by the program that made the model; replace the layer that makes it"
    return op_params.ADVICE.get(op_name, "not run by tinyml yet (docs/ops.md lists the ops and what runs them)")


def input_ref(x):
    """Reference statistics of int8 model inputs x (N cases): mean and variance of the bytes
    tinyml.monitor samples (every max(1, size // 256)-th byte of each case), for its drift check."""
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise ConvertError("--ref-input must be int8 (the model's quantized input), not %s" % x.dtype)
    x = x.reshape(len(x), -1)
    v = x[:, ::max(1, x.shape[1] // 256)].astype(np.float64)
    return {"mean": round(float(v.mean()), 4), "var": round(float(v.var()), 4), "n": int(v.size)}


def convert(source, name=None, ref_input=None):
    """TFLite flatbuffer (path or bytes) -> .tml bytes. Raises ConvertError saying what to change.
    ref_input: int8 inputs (N, ...) of the first model input (calibration or golden data): their
    statistics go into the file's metadata trailer as "input_ref" (tinyml.monitor's drift reference)."""
    name = name or (source if isinstance(source, str) else "model")
    model = read_tflite(source)
    check_static_shapes(model, name)
    model.operators = fold_constants(model, _Converter(model, name).fail)
    model.operators = fold_float_islands(model)
    check_supported(model, name)
    check_s16(model, name, ConvertError)
    c = _Converter(model, name)
    ids = id_inputs(model)  # int32 ids of a lookup (a Keras Embedding layer)
    inputs = [c.activation(i, (np.int8, np.int16, np.float32) + ((np.int32,) if i in ids else ())) for i in model.inputs]
    for op in model.operators:
        getattr(c, op.name.lower())(op)
    outputs = [c.activation(i, (np.int8, np.int16, np.float32)) for i in model.outputs]
    interleave_conv_weights(c.tensors, c.ops)
    meta = {"input_ref": input_ref(ref_input)} if ref_input is not None else None
    return write_tml(c.tensors, c.ops, inputs, outputs, meta)
