# The parts of the API a model does not need to run, imported only when called so they cost no RAM on
# the board until then (measured on qemu-m3: inline in model.py, reset() alone cost 1 KB at import):
# repr(model), tinyml.usage() (MicroPython keeps no docstrings), Model.reset()'s zeroing.
from tinyml import ops


def _shape(t):
    return "x".join(str(d) for d in t.shape) or "scalar"


def describe(m):
    """repr(model): name, ops (counted by kind), input and output shapes, arena, window, backend."""
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
