# The parts of the API a model does not need to run, imported only when called so they cost no RAM on
# the board until then (measured on qemu-m3: inline in model.py, reset() alone cost 1 KB at import):
# repr(model), tinyml.usage() (MicroPython keeps no docstrings), Model.reset()'s zeroing, and
# Model.predict(), summary() and op_macs(); Model.profile() is tinyml/profiling.py's.
from array import array
from tinyml import tmlfile


def _shape(t):
    return "x".join(str(d) for d in t.shape) or "scalar"


def describe(m):
    """repr(model): name, ops (counted by kind), input and output shapes, arena, window, backend."""
    from tinyml import ops  # here, not at the top: profile() (tinyml bench's) runs without the op table
    count = {}
    for op in m.ops:
        n = ops.name(op.opcode)
        count[n] = count.get(n, 0) + 1
    return "<tinyml.Model %s: %d ops (%s), in %s, out %s, arena %d B%s, backend %s>" % (
        m.name, len(m.ops), ", ".join(("%s x%d" % (n, c)) if c > 1 else n for n, c in count.items()),
        " ".join(_shape(t) for t in m.inputs), " ".join(_shape(t) for t in m.outputs),
        m.arena_bytes, ", window %d B" % m.window_bytes if m._file is not None else "", m.backend)


def usage(version):
    print("tinyml %s\n m = tinyml.load(path, backend=None, window=-1)  repr(m): name, ops, arena, backend\n"
          " m.run(x, ...) int8 in, int8 out (array('b'))   m.predict(v, ...) numbers in, floats out\n"
          " m.input_buffer(k) fill, m.invoke(), m.output_buffer(k) bytes / m.output(k) int8\n"
          " m.profile(x) per-op us and heap   m.summary()   m.reset() zeroes the arena and any op's state" % version)


def zero(buf):
    """Zeroes a bytearray 64 bytes at a time, without allocating its size."""
    n = len(buf)
    z = memoryview(bytes(min(n, 64)))
    for i in range(0, n, 64):
        buf[i:i + 64] = z[:n - i]


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def predict(m, values):
    """Like run(), on real numbers: quantizes the inputs and dequantizes the outputs (lists of floats)."""
    if len(values) != len(m.inputs):
        raise TypeError("predict() takes one value (a number or a list) per model input: the model has %d "
                        "input(s), predict() got %d" % (len(m.inputs), len(values)))
    xs = []
    for t, v in zip(m.inputs, values):
        v = v if isinstance(v, (list, tuple)) else [v]
        if len(v) != _size(t.shape) or not all(isinstance(f, (int, float)) for f in v):
            raise ValueError("input '%s' takes %d number(s) (shape %s), got %r" % (
                t.name, _size(t.shape), _shape(t), v if len(v) < 8 else "%d values" % len(v)))
        if t.dtype == 5:  # float32 input: the model quantizes it itself
            xs.append(bytes(array("f", v)))
        else:
            lo, hi = (-32768, 32767) if t.dtype == 4 else (-128, 127)
            xs.append([max(lo, min(hi, t.zero_point + int(round(f / t.scale)))) for f in v])
    outs = m.run(*xs)
    outs = (outs,) if len(m.output_ids) == 1 else outs
    res = [list(o) if t.dtype == 5 else [(q - t.zero_point) * t.scale for q in o]
           for t, o in zip(m.outputs, outs)]
    return res[0] if len(res) == 1 else tuple(res)


def summary(m):
    print("model %s: %d ops, backend %s, weights %s" % (
        m.name, len(m.ops), m.backend,
        "in RAM" if m._file is None else "streamed through a %d-byte window" % m.window_bytes))
    from tinyml import ops
    print("  #  %-18s %-14s %-14s %10s %10s" % ("op", "input", "output", "MACs", "weights"))
    total_macs = total_w = 0
    for op in m.ops:
        ins = [m.tensors[i] for i in op.inputs]
        wbytes = sum(t.nbytes for t in ins if t.const)
        macs = op_macs(op, m.tensors)
        total_macs += macs
        total_w += wbytes
        print("%3d  %-18s %-14s %-14s %10d %10d" % (op.index, ops.name(op.opcode),
              _shape(ins[0]), _shape(m.tensors[op.outputs[0]]), macs, wbytes))
    for kind, ts in (("input", m.inputs), ("output", m.outputs)):
        for t in ts:
            print("%s %s: %s %s, scale %g, zero point %d" % (kind, t.name, tmlfile.DTYPE_NAME[t.dtype],
                  _shape(t), t.scale, t.zero_point))
    print("MACs %d, constant bytes %d, activation arena %d bytes, weight window %d bytes"
          % (total_macs, total_w, m.arena_bytes, m.window_bytes))


def op_macs(op, tensors):
    """Multiply-accumulates of one op (0 for ops without a dot product)."""
    from tinyml import ops
    row = ops.row(op.opcode)
    kernel = row[2] if row else ""
    if kernel == "fully_connected":
        return _size(tensors[op.outputs[0]].shape) * tensors[op.inputs[1]].shape[1]
    if kernel == "conv2d":
        w = tensors[op.inputs[1]].shape
        return _size(tensors[op.outputs[0]].shape) * w[1] * w[2] * w[3]
    if kernel == "depthwise_conv2d":
        w = tensors[op.inputs[1]].shape
        return _size(tensors[op.outputs[0]].shape) * w[1] * w[2]
    if kernel == "transpose_conv2d":  # each input value times each weight of its channel
        return _size(tensors[op.inputs[0]].shape) * _size(tensors[op.inputs[1]].shape) // tensors[op.inputs[1]].shape[3]
    if kernel == "batch_matmul":
        return _size(tensors[op.outputs[0]].shape) * op.params[11]  # depth
    if kernel == "svdf":  # each filter's feature and time dot products
        w_time = tensors[op.inputs[2]].shape
        return _size(tensors[op.inputs[0]].shape) * w_time[0] + tensors[op.inputs[4]].nbytes // 2
    if kernel == "lstm":  # the 4 gates' dot products with x and h, each step
        steps_x_in, w_h = _size(tensors[op.inputs[0]].shape), tensors[op.inputs[2]].shape
        return steps_x_in * w_h[0] + steps_x_in // tensors[op.inputs[0]].shape[-1] * w_h[0] * w_h[1]
    return 0
