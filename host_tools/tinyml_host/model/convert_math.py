"""The converter's methods for TFLM's math ops (issue 12): activations and unary ops as one table
lookup each, computed here with TFLM's arithmetic (model/unary_tables.py). A mixin of
convert._Converter: it uses the converter's t, qp, activation, const, emit and fail."""
import numpy as np

from tinyml_host.model import quantize as q
from tinyml_host.model import unary_tables as ut


class MathOps:
    def _unary(self, op, fn, *args):
        """A unary int8 op run as the lookup table fn(x_scale, x_zp, y_scale, y_zp, *args)."""
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        for t in (x, y):
            if t.dtype != np.int8:
                self.fail(op, "tinyml runs %s on int8 tensors only, tensor '%s' is %s" % (op.name, t.name, t.dtype))
        try:
            table = fn(*self.qp(x), *self.qp(y), *args)
        except ValueError as e:  # scales TFLM's Prepare refuses
            self.fail(op, str(e))
        self.emit(op, [self.activation(op.inputs[0]), self.const(x.name + "/table", table)],
                  [self.activation(op.outputs[0])])

    def relu(self, op):
        self._unary(op, ut.relu_table)

    def relu6(self, op):
        self._unary(op, lambda xs, xz, ys, yz: ut.relu6_table(xs, xz))

    def leaky_relu(self, op):
        self._unary(op, ut.leaky_relu_table, float(np.float32(op.options.get("alpha", 0.0))))

    def hard_swish(self, op):
        self._unary(op, ut.hard_swish_table)

    def elu(self, op):
        self._unary(op, ut.elu_table)

    def abs(self, op):
        self._unary(op, ut.abs_table)

    def rsqrt(self, op):
        self._unary(op, ut.rsqrt_table)

    # ---- reductions over any axes: mean, sum, reduce_max, reduce_min ----

    def _reduce(self, op, params, hw=False, out=np.int8):
        """The record of a reduction: x, its axes as a constant int32 input (the device works out
        the geometry from them and x's shape), the output (of dtype out); params(x, y, count) its
        parameters; hw: a mean over height and width of (1, H, W, C) keeps its own record."""
        x, axis, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        if axis.data is None:
            self.fail(op, "the axes (input 1) must be a constant tensor")
        if x.dtype != np.int8 or y.dtype != out:
            fix = " (convert with tf.argmax(..., output_type=tf.int32): TFLM has no int64 output)"
            self.fail(op, "tinyml runs %s from int8 to %s only, not from %s to %s%s" % (
                op.name, np.dtype(out).name, x.dtype, y.dtype, fix if out != np.int8 else ""))
        n = len(x.shape)
        axes = [int(a) for a in np.asarray(axis.data).ravel()]
        if any(not -n <= a < n for a in axes):
            self.fail(op, "axes %s outside the input's %d dimensions" % (axes, n))
        reduced = sorted({a % n for a in axes})
        count = int(np.prod([x.shape[a] for a in reduced], dtype=np.int64))
        if count > 1 << 23:
            self.fail(op, "reduces %d values into one; tinyml's int32 sums take at most 2**23" % count)
        p = params(x, y, count)
        if hw and n == 4 and reduced == [1, 2] and x.shape[0] == 1:
            ins = [self.activation(op.inputs[0])]  # the mean over height and width: its own kernel
        else:
            ins = [self.activation(op.inputs[0]), self.const(axis.name + "/axes", np.array(axes, np.int32))]
        self.emit(op, ins, [self.activation(op.outputs[0], (out,))], **p)

    def _sum_params(self, x, y, count):
        # QuantizedMeanOrSum's multiplier: x_scale / y_scale in double; a mean's with 1 / count folded in
        return dict(zip(("x_zp", "y_zp", "multiplier", "shift"), q.mean_params(*self.qp(x), *self.qp(y), count)))

    def mean(self, op):
        self._reduce(op, self._sum_params, hw=True)

    def sum(self, op):
        self._reduce(op, lambda x, y, count: self._sum_params(x, y, 1))

    def _same_quantization(self, op):
        def params(x, y, count):
            (xs, xz), (ys, yz) = self.qp(x), self.qp(y)
            if xz != yz or np.float32(xs) != np.float32(ys):
                self.fail(op, "input and output quantization differ (scale %g, %g; zero point %d, %d): TFLM "
                          "requires them equal for int8" % (xs, ys, xz, yz))
            return {}
        self._reduce(op, params)

    reduce_max = reduce_min = _same_quantization

    def _arg(self, op):
        # TFLM's ArgMinMax for int8 over its one axis: the int32 index of the first extreme
        if self.t(op.inputs[1]).data is not None and self.t(op.inputs[1]).data.size != 1:
            self.fail(op, "the axis (input 1) must be one value")
        self._reduce(op, lambda x, y, count: {}, out=np.int32)

    arg_max = arg_min = _arg

    # ---- broadcast binary ops: the add family's record and kernel walk ----

    def squared_difference(self, op):
        ((a_scale, a_zp), (b_scale, b_zp), (y_scale, y_zp)), ins, broadcast = self._two_inputs(op)
        ls, am, ash, bm, bsh, ym, ysh = squared_difference_params(a_scale, b_scale, y_scale)
        self.emit(op, ins, [self.activation(op.outputs[0])], **broadcast, a_zp=a_zp, b_zp=b_zp, left_shift=ls,
                  a_multiplier=am, a_shift=ash, b_multiplier=bm, b_shift=bsh, y_multiplier=ym, y_shift=ysh, y_zp=y_zp)

    def _codes(self, op):
        # TFLM's maximum and minimum compare the int8 codes and ignore every quantization, as here
        _, ins, broadcast = self._two_inputs(op)
        del broadcast["act_min"], broadcast["act_max"]
        self.emit(op, ins, [self.activation(op.outputs[0])], **broadcast)

    maximum = minimum = _codes

    def _compare(self, op):
        """TFLM's int8 comparisons (ComparisonWithScaling) on add's record: each input's (code - zp)
        << 8 times its own scale as a multiplier (QuantizeMultiplierSmallerThanOneExp of the scale);
        the output bools, uint8 0 or 1."""
        if self.t(op.outputs[0]).dtype != np.bool_:
            self.fail(op, "the output must be bool")
        ((a_scale, a_zp), (b_scale, b_zp), _), ins, broadcast = self._two_inputs(op)
        pairs = []
        for scale in (a_scale, b_scale):
            if not 0 < float(np.float32(scale)) < 1:
                self.fail(op, "an input scale of %g: TFLM's int8 comparison takes scales below 1" % scale)
            pairs += q.quantize_multiplier(float(np.float32(scale)))
        self.emit(op, ins, [self.activation(op.outputs[0], (np.bool_,))], **broadcast, a_zp=a_zp, b_zp=b_zp,
                  left_shift=8, a_multiplier=pairs[0], a_shift=pairs[1], b_multiplier=pairs[2], b_shift=pairs[3],
                  y_multiplier=0, y_shift=0, y_zp=0)

    equal = not_equal = less = less_equal = greater = greater_equal = _compare

    def prelu(self, op):
        """TFLM's int8 prelu on add's record: a's multiplier the identity's (x >= x_zp), b's the one of
        x times alpha, both from the scales in double (CalculatePreluParams); y_multiplier unused."""
        ((x_scale, x_zp), (a_scale, a_zp), (y_scale, y_zp)), ins, broadcast = self._two_inputs(op)
        x_scale, a_scale, y_scale = (float(np.float32(s)) for s in (x_scale, a_scale, y_scale))
        m1, s1 = q.quantize_multiplier(x_scale / y_scale)
        m2, s2 = q.quantize_multiplier(x_scale * a_scale / y_scale)
        self.emit(op, ins, [self.activation(op.outputs[0])], **broadcast, a_zp=x_zp, b_zp=a_zp, left_shift=0,
                  a_multiplier=m1, a_shift=s1, b_multiplier=m2, b_shift=s2, y_multiplier=0, y_shift=0, y_zp=y_zp)


    def l2_normalization(self, op):
        """TFLM's int8 L2 normalization: rows of the last dimension, out in scale 1/128 and zero point 0
        whatever the output tensor says (TFLM's kernel does not read it); no fused activation."""
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if op.options.get("fused_activation_function", "NONE") != "NONE":
            self.fail(op, "a fused activation on L2 normalization is refused by TFLM too")
        if x.dtype != np.int8 or y.dtype != np.int8:
            self.fail(op, "tinyml runs it on int8 tensors only")
        if not x.shape or x.shape[-1] > 33025:
            self.fail(op, "the last dimension must be 1..33025 (the sum of squares in int32)")
        self.emit(op, [self.activation(op.inputs[0])], [self.activation(op.outputs[0])], x_zp=self.qp(x)[1])


    def log_softmax(self, op):
        """TFLM's int8 log softmax over the last dimension: output scale 16/256 and zero point 127 (as
        TFLM requires), PreprocessLogSoftmaxScalingExp's multipliers (beta 1, 5 integer bits)."""
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if x.dtype != np.int8 or y.dtype != np.int8:
            self.fail(op, "tinyml runs it on int8 tensors only")
        if np.float32(self.qp(y)[0]) != np.float32(16 / 256) or self.qp(y)[1] != 127:
            self.fail(op, "output must have scale 16/256 and zero point 127 (TFLM's requirement), got scale %g, "
                      "zero point %d" % self.qp(y))
        if not x.shape or x.shape[-1] > 4096:
            self.fail(op, "the last dimension must be 1..4096 (the sum of exps in Q12)")
        mult, left_shift, diff_min = q.softmax_params(1.0, self.qp(x)[0])
        rev_mult, rev_shift = q.quantize_multiplier((1 << (31 - left_shift)) / float(mult))
        self.emit(op, [self.activation(op.inputs[0])], [self.activation(op.outputs[0])], input_multiplier=mult,
                  input_left_shift=left_shift, reverse_multiplier=rev_mult, reverse_shift=rev_shift, diff_min=diff_min)

    def select_v2(self, op):
        """TFLM's int8 select: a's code where the condition holds, else b's, no requantization (TFLM
        reads no quantization); the three inputs broadcast to the output (at most 4-D)."""
        c, a, b, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.inputs[2]), self.t(op.outputs[0])
        if c.dtype != np.bool_ or not a.dtype == b.dtype == y.dtype == np.int8:
            self.fail(op, "tinyml runs it with a bool condition and int8 values, not %s, %s, %s"
                      % (c.dtype, a.dtype, b.dtype))
        if c.data is not None:
            self.fail(op, "a constant condition: the converter should have chosen the input; convert the model again")
        out = tuple(np.broadcast_shapes(c.shape, a.shape, b.shape))
        if len(out) > 4:
            self.fail(op, "broadcasting over more than 4 dimensions is not supported")
        o4 = (1,) * (4 - len(out)) + out

        def strides(shape):  # element strides over the output's dims, 0 where broadcast
            s4 = (1,) * (4 - len(shape)) + tuple(shape)
            return [st if d > 1 else 0 for st, d in zip(np.broadcast_to(np.zeros(s4, np.int8), o4).strides, s4)]
        ins = [self.activation(op.inputs[0], (np.bool_,))] + [self.operand(i) for i in op.inputs[1:3]]
        self.emit(op, ins, [self.activation(op.outputs[0])], d=list(o4), c_stride=strides(c.shape),
                  a_stride=strides(a.shape), b_stride=strides(b.shape))

def squared_difference_params(a_scale, b_scale, y_scale):
    """squared_difference.cc PrepareQuantized for int8 (left shift 7): (left_shift, a_mult, a_shift,
    b_mult, b_shift, y_mult, y_shift); (1 << 14) * y_scale is a float32 product there."""
    a, b = float(np.float32(a_scale)), float(np.float32(b_scale))
    twice = 2.0 * max(a, b)
    y = float(np.float32(1 << 14) * np.float32(y_scale))
    return ((7,) + q.quantize_multiplier(a / twice) + q.quantize_multiplier(b / twice)
            + q.quantize_multiplier(twice * twice / y))


