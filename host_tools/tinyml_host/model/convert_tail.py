# The converter's methods of the long tail of TFLM's int8 ops (issue 12) that are no data move of
# convert_layout.py: CAST, EMBEDDING_LOOKUP, DYNAMIC_UPDATE_SLICE, ADD_N, CUMSUM.
#
# CAST from int8 is TFLM's static_cast of each code: a table of the 256 codes' values in the output
# type (int16, int32 or float32), looked up by the lut kernel as the unary ops' tables are.
#
# EMBEDDING_LOOKUP (a Keras Embedding layer), and a GATHER on axis 0 whose indices are computed when
# the model runs (or are its input), copy whole rows of int8 values picked by int32 ids: the lookup
# move (tinyml/moves.py). TFLM copies the bytes without requantizing, and fails on an id outside the
# rows; so does tinyml, when it runs.
#
# ADD_N and CUMSUM are TFLM's int8 ADD arithmetic on one quantization (CalculateOpDataAdd with both
# scales the input's: the inputs' multiplier 0.5, exact, and ADD's output multiplier), summed from the
# input offset, not 0 (TFLM's reference AddN and CumSum start their accumulator there: the sum of N
# codes at the zero point is -x_zp, not 0), in an int32 that wraps past 2**31 as TFLM's does.
import numpy as np

from tinyml_host.model import quantize as q
from tinyml_host.model.convert_layout import gather_nd
from tinyml_host.model.tmlfile import TmlTensor

_WIDER = (np.int8, np.int16, np.int32, np.float32)


def id_inputs(model):
    """The model inputs that are ids of a lookup (int32, which the converter takes as a model input)."""
    out = set()
    for op in model.operators:
        name = op.name.lower()
        at = {"embedding_lookup": 0, "gather": 1, "gather_nd": 1, "dynamic_update_slice": 2}.get(name)
        if at is not None and len(op.inputs) > at:
            i = op.inputs[at]
            if i in model.inputs and model.tensors[i].dtype == np.int32:
                out.add(i)
    return out


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

    def gather_nd_rows(self, op):
        """GATHER_ND of constant indices (..., k) that no remap does, or of indices the model computes:
        the input as rows of its first k dimensions (a reshape), each index's row looked up (constant:
        the row numbers; computed: the k components, checked against the rows' bounds when it runs)."""
        x, idx, y = self.t(op.inputs[0]), self.t(op.inputs[1]), self.t(op.outputs[0])
        k = idx.shape[-1] if len(idx.shape) else 0
        rows = (int(np.prod(x.shape[:k])),) + tuple(x.shape[k:])
        if x.dtype != np.int8 or y.dtype != np.int8 or not 1 <= k <= min(len(x.shape), 4) or \
                len(idx.shape) - 1 + len(rows) - 1 > 4 or tuple(y.shape) != tuple(idx.shape[:-1]) + tuple(x.shape[k:]):
            self.fail(op, "a gather of indices %s from %s into %s: tinyml gathers int8 into at most 4 dimensions, "
                      "as TFLM's shapes say" % (tuple(idx.shape), tuple(x.shape), tuple(y.shape)))
        src = self.activation(op.inputs[0])
        if tuple(rows) != tuple(x.shape):
            mid = self._new(TmlTensor(x.name + "/rows", np.int8, rows, None, x.scale[0], x.zero_point[0]))
            self.emit_as("reshape", [src], [mid])
            src = mid
        if idx.data is None:  # indices computed when the model runs: k at a time, the rows' bounds
            if idx.dtype != np.int32:
                self.fail(op, "indices of %s computed when the model runs: tinyml takes int32" % idx.dtype)
            return self.emit_as("embedding_lookup", [self.activation(op.inputs[1], (np.int32,)), src],
                                [self.activation(op.outputs[0])], dims=list(x.shape[:k]) + [0] * (4 - k))
        ids = gather_nd(np.arange(rows[0], dtype=np.int64).reshape(x.shape[:k] + (1,) * (len(x.shape) - k)),
                        idx.data).reshape(idx.shape[:-1])  # TFLM's row of each index, checked
        self.emit_as("embedding_lookup", [self.const(idx.name, ids.astype(np.int32)), src], [self.activation(op.outputs[0])])

    def embedding_lookup(self, op):
        self.lookup_rows(op, op.inputs[0], op.inputs[1])

    def lookup_rows(self, op, ids_at, rows_at):
        ids, rows, y = self.t(ids_at), self.t(rows_at), self.t(op.outputs[0])
        o = op.options
        if op.name.lower() == "gather" and (o.get("batch_dims", 0) or o.get("axis", 0) % max(len(rows.shape), 1)):
            self.fail(op, "indices computed when the model runs pick along axis 0 only in tinyml (axis %d, "
                      "batch_dims %d): gather rows, or make the indices constant" % (o.get("axis", 0), o.get("batch_dims", 0)))
        if rows.dtype != np.int8 or y.dtype != np.int8:
            self.fail(op, "a lookup of %s rows into %s: tinyml looks up int8 rows into int8 (TFLM's hybrid "
                      "lookup into float32: dequantize after the lookup instead)" % (rows.dtype, y.dtype))
        if op.name.lower() == "embedding_lookup" and (len(ids.shape) != 1 or len(rows.shape) < 2):
            self.fail(op, "ids of shape %s and a table of shape %s: TFLM takes 1-D ids and a table of 2 "
                      "dimensions or more" % (tuple(ids.shape), tuple(rows.shape)))
        if ids.dtype != np.int32:
            self.fail(op, "ids of %s: tinyml takes int32 ids" % ids.dtype)
        if tuple(y.shape) != tuple(ids.shape) + tuple(rows.shape[1:]):
            self.fail(op, "output %s is not the ids' shape %s then a row's %s"
                      % (tuple(y.shape), tuple(ids.shape), tuple(rows.shape[1:])))
        if ids.data is not None and ids.data.size and (ids.data.min() < 0 or ids.data.max() >= rows.shape[0]):
            self.fail(op, "an id out of range 0..%d (TFLM fails on it)" % (rows.shape[0] - 1))
        ids_t = self.const(ids.name, ids.data.astype(np.int32)) if ids.data is not None else \
            self.activation(ids_at, (np.int32,))
        self.emit_as("embedding_lookup", [ids_t, self.operand(rows_at)], [self.activation(op.outputs[0])])

    def dynamic_update_slice(self, op):
        """The update written into the operand at start indices clamped when it runs (tinyml/moves.py):
        the same bytes, as TFLM copies them."""
        x, u, starts, y = (self.t(i) for i in (op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]))
        if not x.dtype == u.dtype == y.dtype == np.int8:
            self.fail(op, "tinyml updates int8 slices, not %s with %s" % (x.dtype, u.dtype))
        if len(u.shape) != len(x.shape) or any(a > b for a, b in zip(u.shape, x.shape)) or \
                tuple(starts.shape) != (len(x.shape),) or tuple(y.shape) != tuple(x.shape):
            self.fail(op, "an update of shape %s into %s at %s start indices: shapes TFLM refuses"
                      % (tuple(u.shape), tuple(x.shape), tuple(starts.shape)))
        if starts.data is not None:
            at = self.const(starts.name, np.clip(starts.data, -2 ** 31, 2 ** 31 - 1).astype(np.int32))
        elif starts.dtype != np.int32:
            self.fail(op, "start indices of %s computed when the model runs: tinyml takes int32" % starts.dtype)
        else:
            at = self.activation(op.inputs[2], (np.int32,))
        self.emit(op, [self.operand(op.inputs[0]), self.operand(op.inputs[1]), at], [self.activation(op.outputs[0])])

    def _addn_params(self, op, xs, y):
        (s, zp), (y_scale, y_zp) = self.qp(xs[0]), self.qp(y)
        if any(self.qp(x) != (s, zp) for x in xs) or not all(x.dtype == np.int8 for x in xs + [y]):
            self.fail(op, "tinyml sums int8 inputs of one quantization (TFLM's requirement)")
        _, am, ash, _, _, ym, ysh = q.add_params(s, s, y_scale)
        assert (am, ash) == (1 << 30, 0)  # 0.5: each input's (x - x_zp) << 19, exactly
        return dict(x_zp=zp, y_multiplier=ym, y_shift=ysh, y_zp=y_zp)

    def add_n(self, op):
        xs, y = [self.t(i) for i in op.inputs], self.t(op.outputs[0])
        if any(tuple(x.shape) != tuple(y.shape) for x in xs):
            self.fail(op, "inputs of shapes %s for an output of %s: TFLM adds inputs of the output's shape"
                      % ([tuple(x.shape) for x in xs], tuple(y.shape)))
        self.emit(op, [self.operand(i) for i in op.inputs], [self.activation(op.outputs[0])],
                  **self._addn_params(op, xs, y))

    def cumsum(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        axis = self.t(op.inputs[1]).data if len(op.inputs) > 1 else None
        if axis is None or axis.size != 1:
            self.fail(op, "the axis (input 1) must be one constant")
        rank = len(x.shape)
        a = int(axis.ravel()[0])
        if not -rank <= a < rank or tuple(y.shape) != tuple(x.shape):
            self.fail(op, "axis %d of an input of shape %s (output %s)" % (a, tuple(x.shape), tuple(y.shape)))
        a %= rank
        self.emit(op, [self.activation(op.inputs[0])], [self.activation(op.outputs[0])],
                  outer=int(np.prod(x.shape[:a], dtype=np.int64)), n=int(x.shape[a]),
                  inner=int(np.prod(x.shape[a + 1:], dtype=np.int64)),
                  exclusive=int(bool(op.options.get("exclusive", False))),
                  reverse=int(bool(op.options.get("reverse", False))), **self._addn_params(op, [x], y))
