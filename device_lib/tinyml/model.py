# The interpreter: a parsed .tml model, its activation arena, and the kernel calls that run it.
# Weights come from RAM (the whole file read in) or stream from the open file through a bounded
# window, a run of output channels at a time (docs/kernels.md).
import gc
import struct
import sys
from array import array
from tinyml import tmlfile

try:
    from micropython import const
except ImportError:  # CPython on the host
    def const(x):
        return x

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_CONV_H = const(0)
_CONV_W = const(1)
_CONV_C = const(2)
_CONV_OH = const(3)
_CONV_OW = const(4)
_CONV_OC = const(5)
_CONV_KH = const(6)
_CONV_KW = const(7)
_CONV_OC0 = const(8)
_CONV_OCN = const(9)
_CONV_PARAMS = const(10)
_POOL_H = const(0)
_POOL_W = const(1)
_POOL_C = const(2)
_POOL_OH = const(3)
_POOL_OW = const(4)
_POOL_PARAMS = const(5)
_POOL_IS_MAX = const(13)
_MEAN_H = const(0)
_MEAN_W = const(1)
_MEAN_C = const(2)
_MEAN_PARAMS = const(3)
_PAD_BEFORE0 = const(0)
_PAD_VALUE = const(4)
_CONCAT_OUTER = const(0)
_CONCAT_INNER0 = const(1)
_REDUCE_D0 = const(0)
_REDUCE_R0 = const(4)
_REDUCE_STRIDE0 = const(8)
_REDUCE_PARAMS = const(12)
_RESIZE_BATCHES = const(0)
_RESIZE_OH = const(1)
_RESIZE_OW = const(2)
_RESIZE_C = const(3)
_RESIZE_IN_BATCH = const(4)
_RESIZE_PARAMS = const(5)
_REMAP_D0 = const(0)
_REMAP_ESIZE = const(4)
_REMAP_FILL = const(5)
# ---- end of g's slots ----


def _use(name):
    # A module only a load (or summary) needs: the op table, the planner, the backend picker, the
    # layout moves. Imported when used, forgotten after (_forget), so its code and strings are not
    # on the heap beside a loaded model.
    __import__("tinyml." + name)
    return sys.modules["tinyml." + name]


def _forget(*names):
    pkg = sys.modules.get("tinyml")
    for n in names:
        sys.modules.pop("tinyml." + n, None)
        if pkg is not None and n in pkg.__dict__:
            delattr(pkg, n)


# Imported once now and forgotten: the names their code interns stay (MicroPython keeps every
# interned string), low in the heap with the library's, not in the middle of a load's free space.
_use("backends"), _use("planner"), _use("ops"), _use("moves")
_forget("backends", "planner", "ops", "moves")


def _shape(t):
    return "x".join(str(d) for d in t.shape) or "scalar"


def _which(k, ids, kind):
    if not (isinstance(k, int) and 0 <= k < len(ids)):
        raise IndexError("the model has %d %s(s): %s k is 0..%d, not %r" % (len(ids), kind, kind, len(ids) - 1, k))
    return k


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _hwc(t):
    s = t.shape
    return s[-3], s[-2], s[-1]


def _reduce_g(shape, axes, p):
    # g of reduce_sum/max/min: the output's dims (reduced axes 1), the reduced dims (kept axes 1), the
    # input's strides, all right-aligned to 4-D, then the op's parameters
    n = len(shape)
    at = [a + 4 - n if a >= 0 else a + 4 for a in struct.unpack("<%di" % (len(axes) // 4), bytes(axes))]
    g = array("i", bytes(4 * _REDUCE_PARAMS) + bytes(array("i", p)))
    s = 1
    for i in (3, 2, 1, 0):
        d = shape[i - 4 + n] if i >= 4 - n else 1
        g[_REDUCE_D0 + i], g[_REDUCE_R0 + i] = (1, d) if i in at else (d, 1)
        g[_REDUCE_STRIDE0 + i] = s
        s *= d
    return g


def _copy(x, y):
    y[:] = x


def _s16(backend, k, kernel):
    # The kernel of an op with int16 activations (16x8): the backend's <kernel>_s16, else (the native
    # module has no pool2d_s16) viper's; the Python and viper ones are in modules of their own, imported
    # only by a model that has such ops.
    name = kernel + "_s16"
    if not hasattr(k, name):
        k = _use("kernels_py_s16" if backend == "python" else "kernels_viper_s16")
    return getattr(k, name)


def _align4(n):
    return (n + 3) & ~3


def _pad(x, y, xs, ys, before, value):
    # x placed at offset `before` in y (both 4-D, int8), the rest `value`.
    y[:] = bytes([value & 0xFF]) * len(y)
    d0, d1, d2, d3 = xs
    e1, e2, e3 = ys[1], ys[2], ys[3]
    for i0 in range(d0):
        for i1 in range(d1):
            for i2 in range(d2):
                src = ((i0 * d1 + i1) * d2 + i2) * d3
                dst = (((i0 + before[0]) * e1 + i1 + before[1]) * e2 + i2 + before[2]) * e3 + before[3]
                y[dst:dst + d3] = x[src:src + d3]


def _pad_tables(xs, ys, before):
    # PAD as the layout moves' remap (tinyml/moves.py): per output dimension, each index's byte
    # offset in x, or -2**28 (the fill) in the padding
    t = array("i")
    stride = [1, 1, 1, 1]
    for k in (2, 1, 0):
        stride[k] = stride[k + 1] * xs[k + 1]
    for k in range(4):
        for i in range(ys[k]):
            j = i - before[k]
            t.append(j * stride[k] if 0 <= j < xs[k] else -(1 << 28))
    return t


def _concat(xs, y, outer, inners):
    at = 0
    for o in range(outer):
        for x, n in zip(xs, inners):
            y[at:at + n] = x[o * n:(o + 1) * n]
            at += n


def _chunking(tensors, window):
    """How a weighted op's constants (weights, bias, multiplier, shift) stream: their parts
    ((tensor index, file offset, bytes per output channel; 0 for a per-tensor parameter)), the
    output channels per chunk, and the window bytes a chunk takes (0 when not streamed)."""
    n_out = tensors[0].shape[0]
    parts = tuple((t.index, t.offset, t.nbytes // n_out if t.nbytes > 4 or n_out == 1 else 0)
                  for t in tensors)
    if window is None:
        return parts, n_out, 0
    chunk = max(1, min(n_out, window // (sum(_align4(p[2]) for p in parts) or 1)))
    if chunk < n_out:  # whole runs of 4 channels: conv2d's weights are interleaved by 4 (model-format.md)
        chunk = max(4, chunk & ~3)
    return parts, chunk, sum(_align4(p[2] * chunk) for p in parts)


class _Slicer:
    def __getitem__(self, k):
        return k


_ALL = _Slicer()[:]  # buf[_ALL] = data copies without building a slice object (an allocation) per call
_REFILL = sys.implementation.name == "micropython"  # its arrays take a memoryview's bytes (CPython's do not)
_BUFFERS = (bytes, bytearray, memoryview)


def _call(fa):
    # a kernel without a bound form (all of the viper and Python backends'), or a Python step
    fa[0](*fa[1])


def _run_call(rec, oc0, ocn):
    # a streamed op's kernel call on the window's run of output channels oc0..oc0+ocn-1 (the native
    # backend's is its module's run(record, oc0, ocn))
    fn, args, es = rec  # es: the bytes of an activation (2 for int16)
    if len(args) == 7:  # a convolution: g names the run
        g = args[6]
        g[_CONV_OC0] = oc0
        g[_CONV_OCN] = ocn
        fn(*args)
        return
    x, w, bias, mult, shift, y, n_in, n_out = args[:8]
    if ocn == n_out:
        fn(*args)
        return
    for r in range(len(y) // (n_out * es)):  # a run of output columns of each row
        at = (r * n_out + oc0) * es
        fn(x[r * n_in * es:(r + 1) * n_in * es], w, bias, mult, shift, y[at:at + ocn * es], n_in, ocn, *args[8:])


def _stream(s):
    # A weighted op whose constants stream: each run of output channels read from the file into the
    # window's preallocated views, then the kernel on it. Allocates nothing.
    f, run, rec, n_out, chunk, full, last = s
    oc0 = 0
    while oc0 < n_out:
        ocn = n_out - oc0
        reads = full
        if ocn > chunk:
            ocn = chunk
        elif ocn < chunk:
            reads = last
        for i in range(0, len(reads), 3):  # (file offset, bytes per channel, view) of each constant
            f.seek(reads[i] + oc0 * reads[i + 1])
            f.readinto(reads[i + 2])
        run(rec, oc0, ocn)
        oc0 += chunk


class Model:
    def __init__(self, source, backend=None, name="model", window=None):
        """source: the whole .tml file as bytes, or a file open in binary mode from which weights
        stream through a window of `window` bytes (docs/kernels.md)."""
        self.name = name
        streamed = not isinstance(source, (bytes, bytearray, memoryview))
        self._file = source if streamed else None
        self._stream_window = window if streamed else None
        self.arena_bytes = self.window_bytes = 0
        self._fast = self._outs = self._ret = None  # run()'s buffers, output arrays and result, kept
        gc.collect()  # the kernel module (the native one is ~25 KB of code) packs low in the heap
        self.backend, self._k = _use("backends").load(backend)
        _forget("backends")
        # The two large blocks, the arena and the weight window, must each find one free block, however
        # the library grows. A first pass checks the file's records and sizes the blocks, in a call of
        # its own that keeps nothing; then a block of the arena's size holds its place while the ops
        # are checked (tinyml/validate.py: its code comes and goes, and what it or the tables leave
        # behind, if anything, cannot land in that place); then the arena takes the place.
        try:
            self._measure(source)
        except tmlfile.ModelFileError:
            raise
        except Exception:  # ops that the checks refuse may not plan: the checks say why
            self._check(source)
            raise
        gc.collect()
        try:
            hold = bytearray(self.arena_bytes)
        except MemoryError:  # no room: the checks first (a hostile file is refused as such), then the arena fails
            hold = None
        try:
            self._check(source)
        except MemoryError:
            if hold is None:
                raise
            hold = None  # too tight to check beside it: check without
            gc.collect()
            self._check(source)
        self._plan(source)
        hold = None
        _forget("ops")  # validate.py's import of it
        gc.collect()
        self._arena = bytearray(self.arena_bytes)
        self._window = memoryview(bytearray(self.window_bytes)) if streamed else None
        self.tensors, self.ops, self.input_ids, self.output_ids = self._parse(source, False)
        offsets = self._offsets  # _plan's offsets and op table rows
        kinds = self._kinds
        self._offsets = self._kinds = None
        # bytes of each tensor: arena slices, constants in RAM
        self._data = [tmlfile.const_view(source, t) if t.const and not streamed else None for t in self.tensors]
        arena = memoryview(self._arena)
        for i, off in enumerate(offsets):
            if off >= 0:
                self._data[i] = arena[off:off + self.tensors[i].nbytes]
        if streamed:  # constants other than the weighted ops' stream are small: keep them in RAM
            weighted = set()
            for op in self.ops:
                if kinds[op.opcode] and kinds[op.opcode][1] == "streams":
                    weighted.update(op.inputs[1:])
                elif kinds[op.opcode] and kinds[op.opcode][1] == "whole":  # read per call (tinyml/stateful.py)
                    weighted.update(op.inputs)
            for t in self.tensors:
                if t.const and t.index not in weighted:
                    self._data[t.index] = self._read_const(t)
        self._steps = [self._step(self._bind(op, kinds[op.opcode])) for op in self.ops]
        self._k = None  # only binding needs it (the native backend's holds the backends module: ~3 KB)
        self._prune(source)
        self._reset_state()
        _forget("moves", "stateful")
        self.inputs = [self.tensors[i] for i in self.input_ids]
        self.outputs = [self.tensors[i] for i in self.output_ids]

    def _measure(self, source):
        # checks the file's records (not yet the ops) and sets the two blocks' sizes
        tables = self._parse(source, "records")
        self.arena_bytes = _use("planner").plan(*tables)[1]
        if self._file is not None:
            tensors = tables[0]
            ops = _use("ops")
            for op in tables[1]:
                if ops.streams(op.opcode):
                    need = _chunking([tensors[i] for i in op.inputs[1:5]], self._stream_window)[2]
                    self.window_bytes = max(self.window_bytes, need)
                elif ops.whole(op.opcode):  # all its constants at once
                    need = sum(_align4(tensors[i].nbytes) for i in op.inputs if tensors[i].const)
                    self.window_bytes = max(self.window_bytes, need)
        _forget("planner", "ops")

    def _plan(self, source):
        # beside the arena's placeholder: the tensors' offsets and each opcode's (kernel, flags) or
        # None, all that _bind needs of the planner and the op table, so neither is on the heap
        # beside the arena
        tables = self._parse(source, "records")
        self._offsets = _use("planner").plan(*tables)[0]
        ops = _use("ops")
        kinds = self._kinds = {}
        for op in tables[1]:
            if op.opcode not in kinds:
                row = ops.row(op.opcode)
                kinds[op.opcode] = row and row[2:4]
        _forget("planner", "ops")

    def _check(self, source):
        # the ops against the op table and each other (tinyml/validate.py)
        tmlfile.check_ops(source, self._parse(source, False), self.name)

    def _parse(self, source, check):
        if self._file is not None:
            return tmlfile.parse_file(source, self.name, check)
        return tmlfile.parse(source, self.name, check)

    def _read_const(self, t):
        self._file.seek(t.offset)
        return memoryview(self._file.read(t.nbytes))

    def _bind(self, op, row):
        # Resolve each op once to (function, args) so run() is a flat loop of calls. Ops are told
        # apart by their kernel in the op table (tinyml/ops.py); a kernel's g is the slots filled
        # here, then the op's parameters as the file has them.
        T = self.tensors
        D = self._data
        ins = [T[i] for i in op.inputs]
        x = D[op.inputs[0]]
        out = T[op.outputs[0]]
        y = D[op.outputs[0]]
        k = self._k
        if row is None:
            raise tmlfile.ModelFileError("%s: op %d has opcode %d, which this tinyml cannot run; update the "
                                         "device library (tinyml deploy) to the converter's version"
                                         % (self.name, op.index, op.opcode))
        kernel = row[0]
        p = op.params
        s16 = ins[0].dtype == 4 and kernel != "copy"  # int16 activations: validated to be an op of ops.S16
        if kernel == "fully_connected":
            n_out, n_in = ins[1].shape
            fc = _s16(self.backend, k, kernel) if s16 else k.fully_connected
            if self._file is None:  # weights in RAM: straight to the kernel
                return fc, (x,) + tuple(D[i] for i in op.inputs[1:5]) + (y, n_in, n_out) + p
            return self._streamed(fc, (x, y, n_in, n_out) + p, ins[1:5], 2 if s16 else 1)
        if kernel == "conv2d" or kernel == "depthwise_conv2d" or kernel == "transpose_conv2d":
            g = array("i", bytes(4 * _CONV_PARAMS) + bytes(array("i", p)))
            g[_CONV_H], g[_CONV_W], g[_CONV_C] = _hwc(ins[0])
            g[_CONV_OH], g[_CONV_OW], g[_CONV_OC] = _hwc(out)
            g[_CONV_KH], g[_CONV_KW] = ins[1].shape[1], ins[1].shape[2]
            g[_CONV_OCN] = g[_CONV_OC]  # all output channels; streamed, a run at a time
            fn = _s16(self.backend, k, kernel) if s16 else getattr(k, kernel)
            if self._file is None:
                return fn, (x,) + tuple(D[i] for i in op.inputs[1:5]) + (y, g)
            return self._streamed(fn, (x, y, g), ins[1:5], 1)
        if kernel == "pool2d":
            g = array("i", bytes(4 * _POOL_PARAMS) + bytes(array("i", p)) + bytes(4))
            g[_POOL_H], g[_POOL_W], g[_POOL_C] = _hwc(ins[0])
            g[_POOL_OH], g[_POOL_OW], _ = _hwc(out)
            g[_POOL_IS_MAX] = 1 if row[1] == "max" else 0
            return _s16(self.backend, k, kernel) if s16 else k.pool2d, (x, y, g)
        if kernel.startswith("mean_hw"):  # a mean over H and W of a 4-D input, else over its axes input
            if len(ins) == 1:
                g = array("i", bytes(4 * _MEAN_PARAMS) + bytes(array("i", p)))
                g[_MEAN_H], g[_MEAN_W], g[_MEAN_C] = _hwc(ins[0])
                return k.mean_hw, (x, y, g)
            kernel = "reduce_sum"
        if kernel.startswith("reduce_"):
            return getattr(k, kernel), (x, y, _reduce_g(ins[0].shape, D[op.inputs[1]], p))
        if kernel in ("add", "sub", "mul", "squared_difference", "maximum", "minimum", "prelu", "equal", "not_equal",
                      "less", "less_equal", "greater", "greater_equal"):  # broadcast binary
            return _s16(self.backend, k, kernel) if s16 else getattr(k, kernel), (x, D[op.inputs[1]], y, array("i", p))
        if kernel == "batch_matmul":
            return k.batch_matmul, (x, D[op.inputs[1]], y, array("i", p))
        if kernel == "select":
            return k.select, tuple(D[i] for i in op.inputs) + (y, array("i", p))
        if kernel in ("softmax", "l2_normalization", "log_softmax"):  # rows of the last dimension
            return getattr(k, kernel), (x, y, ins[0].shape[-1]) + p
        if kernel.startswith("lut") and len(ins) == 2:  # a table of 256 entries, input 1 (lut/quantize_f32 too)
            table = ins[1]
            return k.lut, (x, y, D[table.index], table.nbytes // 256)
        if kernel.endswith("quantize_f32"):
            return k.quantize_f32, (x, y, array("i", p))
        if kernel == "copy":
            return getattr(k, "copy", _copy), (x, y)
        if kernel == "pad":
            xs = (1,) * (4 - len(ins[0].shape)) + tuple(ins[0].shape)
            ys = (1,) * (4 - len(out.shape)) + tuple(out.shape)
            before = p[_PAD_BEFORE0:_PAD_BEFORE0 + 4]
            if self.backend != "python" and len(y) == ys[0] * ys[1] * ys[2] * ys[3]:  # int8: one gather
                t = _pad_tables(xs, ys, before)
                if self.backend == "native":
                    return k.remap, (x, y, t, array("i", list(ys) + [1, p[_PAD_VALUE]]))
                return _use("moves_viper").gather, (x, y, t) + tuple(ys) + (p[_PAD_VALUE],)
            return _pad, (x, y, xs, ys, before, p[_PAD_VALUE])
        if kernel == "concat":
            if self.backend == "native":  # the same bytes, without a Python slice per run
                return k.concat, (tuple(D[i] for i in op.inputs), y, p[_CONCAT_OUTER], array("i", p[_CONCAT_INNER0:]))
            if self.backend == "viper" and p[_CONCAT_OUTER] > 1 and max(p[_CONCAT_INNER0:]) < 64:  # short runs
                return _use("moves_viper").concat, ([D[i] for i in op.inputs], y, p[_CONCAT_OUTER], p[_CONCAT_INNER0:])
            return _concat, ([D[i] for i in op.inputs], y, p[_CONCAT_OUTER], p[_CONCAT_INNER0:])
        if kernel == "remap":
            if self.backend == "native":
                return k.remap, (x, y, array("i", bytes(D[op.inputs[1]])), array("i", p))
            fn, args = _use("moves").plan(D[op.inputs[1]], p[_REMAP_D0:_REMAP_D0 + 4], p[_REMAP_ESIZE], p[_REMAP_FILL],
                                   self.backend)
            return fn, (x, y) + args
        if kernel == "resize_bilinear":
            n, h, w, c = ins[0].shape
            g = array("i", bytes(4 * _RESIZE_PARAMS))
            g[_RESIZE_BATCHES], g[_RESIZE_C], g[_RESIZE_IN_BATCH] = n, c, h * w * c
            g[_RESIZE_OH], g[_RESIZE_OW] = out.shape[1], out.shape[2]
            return k.resize_bilinear, (x, y, D[op.inputs[1]], g)
        if kernel == "svdf" or kernel == "lstm":  # stateful ops (tinyml/stateful.py)
            return _use("stateful").bind(self, op, kernel)
        raise tmlfile.ModelFileError("%s: op %d (opcode %d) has the wrong inputs for its kernel %s"
                                     % (self.name, op.index, op.opcode, kernel))

    def _step(self, fa):
        # One op's (function, argument) for invoke's loop: the native module's record of the call (its
        # arguments checked and decoded once, here) and its run(), else fn(*args) through _call.
        # _bind's (None, step) is a step already (_stream's).
        fn, args = fa
        if fn is None:
            return args
        bind = getattr(self._k, "bind", None)
        rec = bind(fn, args) if bind is not None else None
        return (_call, fa) if rec is None else (self._k.run, rec)

    def _streamed(self, fn, args, tensors, es):
        # A weighted op whose constants (weights, bias, multiplier, shift) stream: the window's views of a
        # run of output channels and of the last, shorter run, made once, the kernel's arguments bound to
        # them; _stream reads each run into them. args: the kernel's without its four constants.
        # es: the bytes of an activation (2 for int16).
        parts, chunk, _ = _chunking(tensors, self._stream_window)
        n_out = tensors[0].shape[0]
        last = n_out - (n_out - 1) // chunk * chunk  # channels of the last run
        consts, full, short = [], [], []
        at = 0
        for t, (index, offset, per) in zip(tensors, parts):
            if not per:  # a per-tensor parameter: 4 bytes, kept in RAM
                self._data[index] = self._read_const(t)
                consts.append(self._data[index])
                continue
            view = self._window[at:at + per * chunk]
            consts.append(view)
            full += (offset, per, view)
            if last < chunk:
                short += (offset, per, view[:per * last])
            at += _align4(per * chunk)
        args = args[:1] + tuple(consts) + args[1:]
        bind = getattr(self._k, "bind", None)
        rec = bind(fn, args, chunk) if bind is not None else None
        run = _run_call if rec is None else self._k.run
        full = tuple(full)
        return None, (_stream, (self._file, run, (fn, args, es) if rec is None else rec, n_out, chunk, full,
                                tuple(short) if short else full))

    def _prune(self, source):
        # After binding, the ops' buffers are held by their steps (the native records by address: their
        # owners are held here, the file's bytes or the constants read from it; the arena and the window
        # are the model's). A tensor's view stays only where the API reaches it: inputs, outputs, state.
        D = self._data
        self._held = source if self._file is None else [D[t.index] for t in self.tensors if t.const and D[t.index] is not None]
        keep = self.input_ids + self.output_ids
        for t in self.tensors:
            if not (t.variable or t.index in keep):
                D[t.index] = None

    def _set_input(self, t, x):
        if isinstance(x, _BUFFERS):
            data = x
        else:
            lo, hi, kind = (-32768, 32767, "h") if t.dtype == 4 else (-128, 127, "b")
            if x and (min(x) < lo or max(x) > hi):  # array('b'), array('h') would wrap them silently
                raise ValueError("input '%s' takes %s values, %d..%d: got %d..%d (predict() takes real numbers)"
                                 % (t.name, tmlfile.DTYPE_NAME[t.dtype], lo, hi, min(x), max(x)))
            data = array(kind, x)
            if kind == "h":  # as bytes: MicroPython copies into the arena's bytes only from 1-byte items
                data = bytes(data)
        if len(data) != t.nbytes:
            raise ValueError("input '%s' takes %d bytes (shape %s), got %d"
                             % (t.name, t.nbytes, _shape(t), len(data)))
        self._data[t.index][_ALL] = data

    def output(self, k=0):
        """Output k of the last inference, copied: array('b') of int8, array('h') of int16 (a 16x8 model),
        array('i') of int32 (an argmax's indices), array('B') of a comparison's bools (0 or 1), or
        array('f') of float32."""
        t = self.outputs[k]
        return array({1: "b", 2: "i", 3: "B", 4: "h"}.get(t.dtype, "f"), bytes(self._data[t.index]))

    def _outputs(self):
        outs = tuple(self.output(k) for k in range(len(self.outputs)))
        return outs[0] if len(outs) == 1 else outs

    def run(self, *xs):
        """Runs one inference on raw int8 inputs (bytes, array('b') or a list of ints in -128..127),
        one per model input; a 16x8 model's int16 inputs are bytes, array('h') or ints in -32768..32767.
        Returns the output as output() gives it (array('b') of int8), a tuple when several. Outputs of
        one byte a value are the same arrays at every run(), refilled: copy one (bytes(out), list(out))
        to keep it past the next run(). A model of one input and one output of bytes allocates nothing
        after its first run() (_run1)."""
        n = len(self.input_ids)
        if len(xs) != n:
            raise TypeError("the model has %d input(s), run() got %d" % (n, len(xs)))
        for k in range(n):
            self._set_input(self.inputs[k], xs[k])
        self.invoke()
        outs = self._outs
        if outs is not None:  # refilled
            for k in range(len(outs)):
                outs[k][_ALL] = self._data[self.output_ids[k]]
            return self._ret
        outs = [self.output(k) for k in range(len(self.outputs))]
        ret = outs[0] if len(outs) == 1 else tuple(outs)
        if _REFILL and all(t.dtype == 1 or t.dtype == 3 for t in self.outputs):  # one byte a value: kept, refilled
            self._outs, self._ret = outs, ret
            if n == 1 and len(outs) == 1 and self.inputs[0].dtype in (1, 3):
                self._fast = (self._data[self.input_ids[0]], self._data[self.output_ids[0]], ret)
                self.run = self._run1  # this model's run() from now on
        return ret

    def _run1(self, x):
        # run() of a model of one input and one output of bytes, after its first run(): no allocation, no
        # varargs call (~1,000 instructions less)
        fast = self._fast  # (input's bytes, output's bytes, run()'s output array)
        try:
            fast[0][_ALL] = x  # bytes, bytearray, array('b'), memoryview of the input's length
        except Exception:  # a list, another length or array type: checked, converted or refused
            return Model.run(self, x)
        for fn, a in self._steps:
            fn(a)
        fast[2][_ALL] = fast[1]
        return fast[2]

    def invoke(self):
        """Runs one inference on what the input buffers hold (input_buffer); the results are in
        the output buffers (output_buffer)."""
        for fn, a in self._steps:
            fn(a)

    def input_buffer(self, k=0):
        """The bytes of input k, in the arena: fill it (e.g. with f.readinto) then call invoke()."""
        return self._data[self.input_ids[_which(k, self.input_ids, "input")]]

    def output_buffer(self, k=0):
        """The bytes of output k, in the arena (a memoryview, no copy), valid until the next
        inference; output(k) gives them as int8 values (array('b'))."""
        return self._data[self.output_ids[_which(k, self.output_ids, "output")]]

    def profile(self, *xs):
        """Like run(), measuring each op: returns (outputs, [(op index, µs, heap bytes in use after
        it)], peak heap bytes in use). The heap figures are gc.mem_alloc() after a collection."""
        from tinyml.about import profile  # this, predict() and summary() are loaded only when called
        return profile(self, xs)

    def predict(self, *values):
        """Like run(), on real numbers: quantizes the inputs and dequantizes the outputs (lists of floats)."""
        from tinyml.about import predict
        return predict(self, values)

    def macs(self, op):
        return op_macs(op, self.tensors)

    def __repr__(self):
        from tinyml.about import describe  # its text is loaded only when asked for
        return describe(self)

    def reset(self):
        """Zeroes the activation arena (inputs, outputs, every intermediate) and resets the state of
        stateful ops (their variable tensors) to where TFLM's reset() leaves it, as just after load."""
        from tinyml.about import zero
        zero(self._arena)
        self._reset_state()
        _forget("stateful")

    def _reset_state(self):
        # a stateful op's state (variable tensors) where TFLM's reset() leaves it: int8 at its zero point
        for t in self.tensors:
            if t.variable:
                _use("stateful").reset(self)
                return

    def summary(self):
        from tinyml.about import summary
        summary(self)


def op_macs(op, tensors):
    """Multiply-accumulates of one op (0 for ops without a dot product)."""
    from tinyml.about import op_macs
    return op_macs(op, tensors)
