"""The converter's methods for TFLM's math ops (issue 12): activations and unary ops as one table
lookup each, computed here with TFLM's arithmetic (model/unary_tables.py). A mixin of
convert._Converter: it uses the converter's t, qp, activation, const, emit and fail."""
import numpy as np

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
