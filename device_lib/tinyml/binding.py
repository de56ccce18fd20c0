# Binding: each op of a parsed model resolved once to a step, (function, argument), so run() is a flat
# loop of calls: its kernel from the op table's row (tinyml/ops.py), its g (the slots filled here, then
# the op's parameters as the file has them), its buffers (arena views, constants in RAM or the weight
# window's views); the native backend's record of the call (its module's bind) where it has one.
# Imported by a load and forgotten after it (tinyml/steps.py's use and forget): its code is not on the
# heap beside a loaded model.
import struct
from array import array
from tinyml import tmlfile

try:
    from micropython import const
except ImportError:  # CPython on the host
    def const(x):
        return x
from tinyml.steps import align4, call, chunking, concat, copy, pad, run_call, stream, use

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_CONV_H = const(0)
_CONV_W = const(1)
_CONV_C = const(2)
_CONV_OH = const(3)
_CONV_OW = const(4)
_CONV_OC = const(5)
_CONV_KH = const(6)
_CONV_KW = const(7)
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


def _s16(backend, k, kernel):
    # The kernel of an op with int16 activations (16x8): the backend's <kernel>_s16, else (the native
    # module has no pool2d_s16) viper's; the Python and viper ones are in modules of their own, imported
    # only by a model that has such ops.
    name = kernel + "_s16"
    if not hasattr(k, name):
        k = use("kernels_py_s16" if backend == "python" else "kernels_viper_s16")
    return getattr(k, name)


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


def bind_all(self, kinds, offsets, arena, kept):
    """The model's steps. An arena tensor's view is made when the first op that uses it binds and let go
    after the last (a native record holds addresses, not views), so a load never holds a view of every
    tensor at once; kept (the inputs, outputs and state) have theirs already, for the model's life."""
    D = self._data
    T = self.tensors
    ops = self.ops
    last = array("H", bytes(2 * len(D)))  # the last op using each tensor
    for n, op in enumerate(ops):
        for i in op.inputs + op.outputs:
            if i >= 0:
                last[i] = n
    steps = []
    for n, op in enumerate(ops):
        for i in op.inputs + op.outputs:
            if i >= 0 and D[i] is None and offsets[i] >= 0:
                D[i] = arena[offsets[i]:offsets[i] + T[i].nbytes]
        steps.append(step(self, bind(self, op, kinds[op.opcode])))
        for i in op.inputs + op.outputs:
            if i >= 0 and last[i] == n and offsets[i] >= 0 and i not in kept:
                D[i] = None
    return steps


def bind(self, op, row):
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
        return streamed(self, fc, (x, y, n_in, n_out) + p, ins[1:5], 2 if s16 else 1, False)
    if kernel == "conv2d" or kernel == "depthwise_conv2d" or kernel == "transpose_conv2d":
        g = array("i", bytes(4 * _CONV_PARAMS) + bytes(array("i", p)))
        g[_CONV_H], g[_CONV_W], g[_CONV_C] = _hwc(ins[0])
        g[_CONV_OH], g[_CONV_OW], g[_CONV_OC] = _hwc(out)
        g[_CONV_KH], g[_CONV_KW] = ins[1].shape[1], ins[1].shape[2]
        g[_CONV_OCN] = g[_CONV_OC]  # all output channels; streamed, a run at a time
        fn = _s16(self.backend, k, kernel) if s16 else getattr(k, kernel)
        if self._file is None:
            return fn, (x,) + tuple(D[i] for i in op.inputs[1:5]) + (y, g)
        return streamed(self, fn, (x, y, g), ins[1:5], 1)
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
    if kernel in ("softmax", "lut", "lut/quantize_f32") and (s16 or out.dtype == 4 and len(ins) == 1):
        # int16 activations (tinyml/ops.py S16): softmax_s16, lut_s16, requantize_s16, quantize_f32_s16
        name = kernel if kernel[0] != "l" or kernel == "lut" else "requantize" if s16 else "quantize_f32"
        fn = getattr(k, name + "_s16", None) or getattr(
            use("kernels_py_s16" if self.backend == "python" else "kernels_viper_act16"), name + "_s16")
        return fn, (x, y, D[op.inputs[1]] if len(ins) > 1 else None, (ins[0].shape or (1,))[-1]) + p
    if kernel in ("softmax", "l2_normalization", "log_softmax"):  # rows of the last dimension
        return getattr(k, kernel), (x, y, ins[0].shape[-1]) + p
    if kernel == "copy":
        return getattr(k, "copy", copy), (x, y)
    return _bind_more(self, op, kernel, ins, x, out, y, k, p, s16)


def _bind_more(self, op, kernel, ins, x, out, y, k, p, s16):
    # bind's other kernels (beyond the CNN core): a function of its own, so that neither's code is
    # one large block on the heap while a load binds
    D = self._data
    if kernel in ("add", "sub", "mul", "squared_difference", "maximum", "minimum", "prelu", "equal", "not_equal",
                  "less", "less_equal", "greater", "greater_equal"):  # broadcast binary
        return _s16(self.backend, k, kernel) if s16 else getattr(k, kernel), (x, D[op.inputs[1]], y, array("i", p))
    if kernel == "batch_matmul":
        return k.batch_matmul, (x, D[op.inputs[1]], y, array("i", p))
    if kernel == "select":
        return k.select, tuple(D[i] for i in op.inputs) + (y, array("i", p))
    if kernel.startswith("lut") and len(ins) == 2:  # a table of 256 entries, input 1 (lut/quantize_f32 too)
        table = ins[1]
        return k.lut, (x, y, D[table.index], table.nbytes // 256)
    if kernel.endswith("quantize_f32"):
        return k.quantize_f32, (x, y, array("i", p))
    if kernel == "pad":
        xs = (1,) * (4 - len(ins[0].shape)) + tuple(ins[0].shape)
        ys = (1,) * (4 - len(out.shape)) + tuple(out.shape)
        before = p[_PAD_BEFORE0:_PAD_BEFORE0 + 4]
        if self.backend != "python" and len(y) == ys[0] * ys[1] * ys[2] * ys[3]:  # int8: one gather
            t = _pad_tables(xs, ys, before)
            if self.backend == "native":
                return k.remap, (x, y, t, array("i", list(ys) + [1, p[_PAD_VALUE]]))
            return use("moves_viper").gather, (x, y, t) + tuple(ys) + (p[_PAD_VALUE],)
        return pad, (x, y, xs, ys, before, p[_PAD_VALUE])
    if kernel == "concat":
        if self.backend == "native":  # the same bytes, without a Python slice per run
            return k.concat, (tuple(D[i] for i in op.inputs), y, p[_CONCAT_OUTER], array("i", p[_CONCAT_INNER0:]))
        if self.backend == "viper" and p[_CONCAT_OUTER] > 1 and max(p[_CONCAT_INNER0:]) < 64:  # short runs
            return use("moves_viper").concat, ([D[i] for i in op.inputs], y, p[_CONCAT_OUTER], p[_CONCAT_INNER0:])
        return concat, ([D[i] for i in op.inputs], y, p[_CONCAT_OUTER], p[_CONCAT_INNER0:])
    if kernel == "remap":
        if self.backend == "native":
            return k.remap, (x, y, array("i", bytes(D[op.inputs[1]])), array("i", p))
        fn, args = use("moves").plan(D[op.inputs[1]], p[_REMAP_D0:_REMAP_D0 + 4], p[_REMAP_ESIZE], p[_REMAP_FILL],
                               self.backend)
        return fn, (x, y) + args
    if kernel == "lookup":  # rows of input 1 picked by input 0's int32 ids (tinyml/moves.py)
        dims = (tuple(v for v in p if v),) if p else ()
        return use("moves").lookup, (x, D[op.inputs[1]], y, ins[1].shape[0], ins[1].nbytes // ins[1].shape[0]) + dims
    if kernel == "add_n":
        return k.add_n, (tuple(D[i] for i in op.inputs), y, array("i", p))
    if kernel == "cumsum":
        return k.cumsum, (x, y, array("i", p))
    if kernel == "update_slice":  # input 1 written into input 0 at input 2's indices (tinyml/moves.py)
        xd, ud = ((1,) * (4 - len(t.shape)) + tuple(t.shape) for t in ins[:2])
        return use("moves").update_slice, (x, D[op.inputs[1]], D[op.inputs[2]], y, xd, ud)
    if kernel == "resize_bilinear":
        n, h, w, c = ins[0].shape
        g = array("i", bytes(4 * _RESIZE_PARAMS))
        g[_RESIZE_BATCHES], g[_RESIZE_C], g[_RESIZE_IN_BATCH] = n, c, h * w * c
        g[_RESIZE_OH], g[_RESIZE_OW] = out.shape[1], out.shape[2]
        return k.resize_bilinear, (x, y, D[op.inputs[1]], g)
    if kernel == "svdf" or kernel == "lstm":  # stateful ops (tinyml/stateful.py)
        return use("stateful").bind(self, op, kernel)
    raise tmlfile.ModelFileError("%s: op %d (opcode %d) has the wrong inputs for its kernel %s"
                                 % (self.name, op.index, op.opcode, kernel))


def step(self, fa):
    # One op's (function, argument) for invoke's loop: the native module's record of the call (its
    # arguments checked and decoded once, here) and its run(), else fn(*args) through _call.
    # _bind's (None, step) is a step already (_stream's).
    fn, args = fa
    if fn is None:
        return args
    bind = getattr(self._k, "bind", None)
    rec = bind(fn, args) if bind is not None else None
    return (call, fa) if rec is None else (self._k.run, rec)

def streamed(self, fn, args, tensors, es, by4=True):
    # A weighted op whose constants (weights, bias, multiplier, shift) stream: the window's views of a
    # run of output channels, made once, the kernel's arguments bound to them; stream reads each run
    # into them (the last, shorter run into their start). args: the kernel's without its four
    # constants. es: the bytes of an activation (2 for int16). by4: steps.chunking's.
    parts, chunk, _ = chunking(tensors, self._stream_window, by4)
    n_out = tensors[0].shape[0]
    consts, reads = [], []
    at = 0
    for t, (index, offset, per) in zip(tensors, parts):
        if not per:  # a per-tensor parameter: 4 bytes, kept in RAM
            self._data[index] = self._read_const(t)
            consts.append(self._data[index])
            continue
        view = self._window[at:at + per * chunk]
        consts.append(view)
        reads += (offset, per, view)
        at += align4(per * chunk)
    args = args[:1] + tuple(consts) + args[1:]
    consts = None
    bind = getattr(self._k, "bind", None)
    rec = bind(fn, args, chunk) if bind is not None else None
    run = run_call if rec is None else self._k.run
    return None, (stream, (self._file, run, (fn, args, es) if rec is None else rec, n_out, chunk, tuple(reads)))
