# The converter's methods of the long tail of TFLM's int8 ops (issue 12) that are no data move of
# convert_layout.py: CAST.
#
# CAST from int8 is TFLM's static_cast of each code: a table of the 256 codes' values in the output
# type (int16, int32 or float32), looked up by the lut kernel as the unary ops' tables are.
import numpy as np

from tinyml_host.model.tmlfile import TmlTensor

_WIDER = (np.int8, np.int16, np.int32, np.float32)


class TailOps:
    """Mixed into convert._Converter."""

    def cast(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        if x.dtype != np.int8 or y.dtype not in _WIDER:
            self.fail(op, "a cast from %s to %s: tinyml casts int8 to int8, int16, int32 or float32 (TFLM "
                      "casts int8 to those too); keep the model int8 end to end" % (x.dtype, y.dtype))
        if op.outputs[0] not in self.index:  # unquantized: the codes' values themselves
            self.index[op.outputs[0]] = self._new(TmlTensor(y.name, y.dtype, y.shape))
        table = np.arange(-128, 128).astype(y.dtype)
        self.emit(op, [self.activation(op.inputs[0]), self.const(x.name + "/cast", table)],
                  [self.index[op.outputs[0]]])

    cast.float_outputs = True  # an int8 model's float outputs: check_supported lets them through
