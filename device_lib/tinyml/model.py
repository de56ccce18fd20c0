# The interpreter: a parsed .tml model, its activation arena, and the kernel calls that run it.
from array import array
from tinyml import tmlfile, planner, backends

FULLY_CONNECTED = 9
RESHAPE = 22
SOFTMAX = 25
OP_NAMES = {FULLY_CONNECTED: "FULLY_CONNECTED", RESHAPE: "RESHAPE", SOFTMAX: "SOFTMAX"}


def _copy(x, y):
    y[:] = x


def _shape(t):
    return "x".join(str(d) for d in t.shape) or "scalar"


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class Model:
    def __init__(self, buf, backend=None, name="model"):
        self.name = name
        self.tensors, self.ops, self.input_ids, self.output_ids = tmlfile.parse(buf, name)
        self.backend, self._k = backends.load(backend)
        offsets, self.arena_bytes = planner.plan(self.tensors, self.ops, self.input_ids, self.output_ids)
        self._arena = bytearray(self.arena_bytes)
        arena = memoryview(self._arena)
        for i, off in offsets.items():
            t = self.tensors[i]
            t.data = arena[off:off + t.nbytes]
        self._steps = [self._bind(op) for op in self.ops]

    @property
    def inputs(self):
        return [self.tensors[i] for i in self.input_ids]

    @property
    def outputs(self):
        return [self.tensors[i] for i in self.output_ids]

    def _bind(self, op):
        # Resolve each op once to (kernel, args) so run() is a flat loop of calls.
        ins = [self.tensors[i] for i in op.inputs]
        y = self.tensors[op.outputs[0]].data
        k = self._k
        if op.opcode == FULLY_CONNECTED:
            x, w, bias, mult, shift = ins
            n_out, n_in = w.shape
            return k.fully_connected, (x.data, w.data, bias.data, mult.data, shift.data, y, n_in, n_out) + op.params
        if op.opcode == SOFTMAX:
            return k.softmax, (ins[0].data, y, ins[0].shape[-1]) + op.params
        if op.opcode == RESHAPE:
            return _copy, (ins[0].data, y)
        raise tmlfile.ModelFileError("%s: op %d has opcode %d, which this tinyml cannot run; update the "
                                     "device library (tinyml deploy) to the converter's version"
                                     % (self.name, op.index, op.opcode))

    def _set_input(self, t, x):
        data = x if isinstance(x, (bytes, bytearray, memoryview)) else array("b", x)
        if len(data) != t.nbytes:
            raise ValueError("input '%s' takes %d int8 values (shape %s), got %d"
                             % (t.name, t.nbytes, _shape(t), len(data)))
        t.data[:] = data

    def run(self, *xs):
        """Runs one inference on raw int8 inputs (bytes, array('b') or a list of ints in -128..127),
        one per model input. Returns the int8 output as array('b'), a tuple when several."""
        if len(xs) != len(self.input_ids):
            raise TypeError("the model has %d input(s), run() got %d" % (len(self.input_ids), len(xs)))
        for i, x in zip(self.input_ids, xs):
            self._set_input(self.tensors[i], x)
        for fn, args in self._steps:
            fn(*args)
        outs = tuple(array("b", self.tensors[i].data) for i in self.output_ids)
        return outs[0] if len(outs) == 1 else outs

    def predict(self, *values):
        """Like run(), on real numbers: quantizes the inputs and dequantizes the outputs (lists of floats)."""
        xs = []
        for t, v in zip(self.inputs, values):
            v = v if isinstance(v, (list, tuple)) else [v]
            xs.append([max(-128, min(127, t.zero_point + int(round(f / t.scale)))) for f in v])
        outs = self.run(*xs)
        outs = (outs,) if len(self.output_ids) == 1 else outs
        res = [[(q - t.zero_point) * t.scale for q in o] for t, o in zip(self.outputs, outs)]
        return res[0] if len(res) == 1 else tuple(res)

    def macs(self, op):
        if op.opcode == FULLY_CONNECTED:
            w = self.tensors[op.inputs[1]]
            return _size(self.tensors[op.outputs[0]].shape) * w.shape[1]
        return 0

    def summary(self):
        print("model %s: %d ops, backend %s" % (self.name, len(self.ops), self.backend))
        print("  #  %-16s %-14s %-14s %10s %10s" % ("op", "input", "output", "MACs", "weights"))
        total_macs = total_w = 0
        for op in self.ops:
            ins = [self.tensors[i] for i in op.inputs]
            wbytes = sum(t.nbytes for t in ins if t.const)
            macs = self.macs(op)
            total_macs += macs
            total_w += wbytes
            print("%3d  %-16s %-14s %-14s %10d %10d" % (op.index, OP_NAMES.get(op.opcode, op.opcode),
                  _shape(ins[0]), _shape(self.tensors[op.outputs[0]]), macs, wbytes))
        for kind, ts in (("input", self.inputs), ("output", self.outputs)):
            for t in ts:
                print("%s %s: int8 %s, scale %g, zero point %d" % (kind, t.name, _shape(t), t.scale, t.zero_point))
        print("MACs %d, constant bytes %d, activation arena %d bytes" % (total_macs, total_w, self.arena_bytes))
