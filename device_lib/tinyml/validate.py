# Validation of a .tml model at load, once, before any kernel sees it (docs/model-format.md,
# "Validation"). tmlfile checks each record's fields by themselves and against the file (header,
# table bounds, dtype, ndim, dims, nbytes, constant data inside the file and aligned); this checks
# the records against the op table (tinyml/ops.py: the counts of each row and its check here) and
# against each other: every index in range, each op's dtypes and shapes as the converter makes them
# (conv output size from input, filter, stride and padding; FC weights against the input; concat,
# pad, reshape, mean element counts; broadcast strides), parameter ranges, and the work a model asks
# for. Every kernel, on every backend, may then trust its arguments: no loop runs past a tensor.
# Anything else raises ModelFileError naming the record and the field.
import struct
from tinyml import ops
from tinyml.ops import const

ModelFileError = ValueError  # tinyml.tmlfile's, given to model(): this module imports no reader

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_FC_Y_ZP = const(0)
_FC_ACT_MIN = const(1)
_SOFTMAX_INPUT_MULTIPLIER = const(0)
_SOFTMAX_INPUT_LEFT_SHIFT = const(1)
_SOFTMAX_DIFF_MIN = const(2)
_CONV_PARAMS = const(10)
_CONV_STRIDE_H = const(10)
_CONV_STRIDE_W = const(11)
_CONV_DILATION_H = const(12)
_CONV_DILATION_W = const(13)
_CONV_PAD_TOP = const(14)
_CONV_PAD_LEFT = const(15)
_CONV_X_ZP = const(16)
_CONV_Y_ZP = const(17)
_CONV_ACT_MIN = const(18)
_CONV_DEPTH_MULTIPLIER = const(20)
_POOL_PARAMS = const(5)
_POOL_STRIDE_H = const(5)
_POOL_STRIDE_W = const(6)
_POOL_FILTER_H = const(7)
_POOL_FILTER_W = const(8)
_POOL_PAD_TOP = const(9)
_POOL_PAD_LEFT = const(10)
_POOL_ACT_MIN = const(11)
_QUANTIZE_Y_ZP = const(0)
_QUANTIZE_Y_SCALE = const(1)
# ---- end of g's slots ----

MAX_WORK = 1 << 31  # multiply-accumulates (or elements moved) of one inference: minutes on any MCU

_INT8 = const(1)
_INT32 = const(2)
_INT16 = const(4)
_INT64 = const(6)
_FLOAT32 = const(5)


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _dims(shape):
    return "x".join(str(d) for d in shape) or "scalar"


def _four(shape):
    return (1,) * (4 - len(shape)) + tuple(shape)


class _Op:
    size = staticmethod(_size)
    dims = staticmethod(_dims)
    four = staticmethod(_four)

    """One op being checked: its tensors, parameters, and the error that names it."""

    def __init__(self, what, op, tensors, read):
        self.what = what
        self.op = op
        self.name = ops.name(op.opcode)
        self.p = op.params
        self.ins = [tensors[i] for i in op.inputs]
        self.out = tensors[op.outputs[0]] if op.outputs else None
        self.read = read
        self.base = 0  # the slot of parameter 0 in the kernel's g (<FAMILY>_PARAMS)
        self.a = _INT8  # the activations' dtype, int16 for an op of ops.S16 whose input is (16x8)
        if self.ins and self.ins[0].dtype == _INT16 and op.opcode in ops.S16:
            self.a = _INT16

    def fail(self, msg):
        raise ModelFileError("%s: op %d (%s): %s; the file is damaged or was not written by 'tinyml convert': "
                             "convert the model again" % (self.what, self.op.index, self.name, msg))

    def range(self, field, v, lo, hi):
        if not lo <= v <= hi:
            self.fail("%s %d out of range %d..%d" % (field, v, lo, hi))
        return v

    def get(self, slot):
        return self.p[slot - self.base]

    def param(self, slot, field, lo, hi):
        return self.range(field, self.p[slot - self.base], lo, hi)

    def zp(self, i, field):
        if self.a == _INT16:  # TFLM's int16 kernels take zero points 0
            return self.param(i, field, 0, 0)
        return self.param(i, field, -128, 127)

    def act(self, i):
        lo, hi = (-32768, 32767) if self.a == _INT16 else (-128, 127)
        lo = self.param(i, "act_min", lo, hi)
        self.param(i + 1, "act_max", lo, hi)

    def tensor(self, k, dtype, ndim=None, const=False, shape=None):
        """Input k (-1: the output) of the given dtype, rank, constness and shape (None: any)."""
        t = self.out if k < 0 else self.ins[k]
        where = "output 0 (tensor %d)" % t.index if k < 0 else "input %d (tensor %d)" % (k, t.index)
        if t.dtype != dtype:
            self.fail("%s has dtype %d, expected %d" % (where, t.dtype, dtype))
        if const and not t.const:
            self.fail("%s must be constant" % where)
        if ndim is not None and len(t.shape) != ndim:
            self.fail("%s has shape %s, expected %d dimensions" % (where, _dims(t.shape), ndim))
        if shape is not None and tuple(t.shape) != tuple(shape):
            self.fail("%s has shape %s, expected %s" % (where, _dims(t.shape), _dims(shape)))
        return t.shape

    def elements(self, k, n):
        t = self.out if k < 0 else self.ins[k]
        if _size(t.shape) != n:
            self.fail("%s %d (tensor %d) has %d elements, expected %d" % (
                "output" if k < 0 else "input", 0 if k < 0 else k, t.index, _size(t.shape), n))

    def requant(self, k, n_out):
        """Inputs k..k+3: bias (n_out int32), multiplier and shift (one, or one per output channel),
        constant; each shift in the range the fixed point arithmetic takes. With int16 activations the
        bias is int64, under 2**40, and the shifts -31..7 (TFLM's 64-bit requantization)."""
        s16 = self.a == _INT16
        self.tensor(k, _INT64 if s16 else _INT32, 1, True, (n_out,))
        if s16:
            t = self.ins[k]
            words = struct.unpack("<%di" % (2 * n_out), self.read(t.offset, t.nbytes))
            for c in range(n_out):
                if not -256 <= words[2 * c + 1] <= 255:
                    self.fail("bias[%d] (tensor %d) beyond 2**40" % (c, t.index))
        m = self.tensor(k + 1, _INT32, 1, True)
        if m[0] not in (1, n_out) or self.tensor(k + 2, _INT32, 1, True) != m:
            self.fail("multiplier and shift (tensors %d, %d) must both have 1 or %d entries" % (
                self.ins[k + 1].index, self.ins[k + 2].index, n_out))
        t = self.ins[k + 2]
        top = 7 if s16 else 31
        for c, s in enumerate(struct.unpack("<%di" % m[0], self.read(t.offset, t.nbytes))):
            if not -31 <= s <= top:
                self.fail("shift[%d] (tensor %d) %d out of range -31..%d" % (c, t.index, s, top))

    def window(self, axis, size, k, stride, dilation, out, pad):
        """The converter's geometry (TFLM's ComputeOutSize and ComputePaddingWithOffset): out is the
        VALID or the SAME output size, and pad the padding before that gives it."""
        eff = (k - 1) * dilation + 1
        same = (size + stride - 1) // stride
        valid = (size - eff + stride) // stride
        if out != same and out != valid:
            self.fail("output %s %d matches neither SAME (%d) nor VALID (%d) padding of %s %d" % (
                axis, out, same, valid, axis, size))
        want = max((out - 1) * stride + eff - size, 0) // 2
        if pad != want:
            self.fail("pad_%s %d, expected %d" % ("top" if axis == "height" else "left", pad, want))


def _conv(c, depthwise=False):
    c.base = _CONV_PARAMS
    _, h, w, ch = c.tensor(0, c.a, 4)
    if c.ins[0].shape[0] != 1:
        c.fail("input 0 has batch %d, expected 1" % c.ins[0].shape[0])
    if depthwise:
        oc, kh, kw = c.tensor(1, _INT8, 3, True)
        dm = c.param(_CONV_DEPTH_MULTIPLIER, "depth_multiplier", 1, oc)
        if oc != ch * dm:
            c.fail("%d output channels, expected %d input channels x depth_multiplier %d" % (oc, ch, dm))
    else:
        oc, kh, kw, _ = c.tensor(1, _INT8, 4, True)
        c.tensor(1, _INT8, 4, True, (oc, kh, kw, ch))
    _, oh, ow, _ = c.tensor(-1, c.a, 4)
    c.tensor(-1, c.a, 4, False, (1, oh, ow, oc))
    c.requant(2, oc)
    if max(h, w, ch, oh, ow, oc) > 32767 or kh * kw * (1 if depthwise else ch) > 65536:
        c.fail("sizes over 32767 or a kernel of over 65536 weights")
    sh = c.param(_CONV_STRIDE_H, "stride_h", 1, 255)
    sw = c.param(_CONV_STRIDE_W, "stride_w", 1, 255)
    dh = c.param(_CONV_DILATION_H, "dilation_h", 1, 255)
    dw = c.param(_CONV_DILATION_W, "dilation_w", 1, 255)
    c.window("height", h, kh, sh, dh, oh, c.get(_CONV_PAD_TOP))
    c.window("width", w, kw, sw, dw, ow, c.get(_CONV_PAD_LEFT))
    c.zp(_CONV_X_ZP, "x_zp")
    c.zp(_CONV_Y_ZP, "y_zp")
    c.act(_CONV_ACT_MIN)
    return oh * ow * oc * kh * kw * (1 if depthwise else ch)


def _depthwise(c):
    return _conv(c, True)


def _fc(c):
    n_out, n_in = c.tensor(1, _INT8, 2, True)
    x = _size(c.tensor(0, c.a))
    if x % n_in:
        c.fail("input 0 of %d elements does not split into rows of the weights' %d" % (x, n_in))
    c.tensor(-1, c.a)
    c.elements(-1, x // n_in * n_out)
    c.requant(2, n_out)
    c.zp(_FC_Y_ZP, "y_zp")
    c.act(_FC_ACT_MIN)
    return x * n_out


def _pool(c):
    c.base = _POOL_PARAMS
    _, h, w, ch = c.tensor(0, c.a, 4)
    if c.ins[0].shape[0] != 1:
        c.fail("input 0 has batch %d, expected 1" % c.ins[0].shape[0])
    _, oh, ow, _ = c.tensor(-1, c.a, 4)
    c.tensor(-1, c.a, 4, False, (1, oh, ow, ch))
    if max(h, w, ch, oh, ow) > 32767:
        c.fail("sizes over 32767")
    sh = c.param(_POOL_STRIDE_H, "stride_h", 1, 255)
    sw = c.param(_POOL_STRIDE_W, "stride_w", 1, 255)
    fh = c.param(_POOL_FILTER_H, "filter_h", 1, 255)
    fw = c.param(_POOL_FILTER_W, "filter_w", 1, 255)
    c.window("height", h, fh, sh, 1, oh, c.get(_POOL_PAD_TOP))
    c.window("width", w, fw, sw, 1, ow, c.get(_POOL_PAD_LEFT))
    c.act(_POOL_ACT_MIN)
    return oh * ow * ch * fh * fw


def _softmax(c):
    if c.a == _INT16:
        return _s16(c, "softmax")
    shape = c.tensor(0, _INT8)
    if not shape:
        c.fail("input 0 is a scalar")
    c.tensor(-1, _INT8, len(shape), False, shape)
    c.param(_SOFTMAX_INPUT_MULTIPLIER, "input_multiplier", 0, 0x7FFFFFFF)
    shift = c.param(_SOFTMAX_INPUT_LEFT_SHIFT, "input_left_shift", 0, 31)
    d = c.param(_SOFTMAX_DIFF_MIN, "diff_min", -0x7FFFFFFF, 0)
    if min(-d, 255) << shift > 1 << 31:  # the smallest difference used, shifted, must fit int32
        c.fail("diff_min %d << input_left_shift %d overflows int32" % (d, shift))
    if shape[-1] > 8191:
        c.fail("rows of %d values, at most 8191" % shape[-1])
    return 2 * _size(shape)


def _s16(c, check):
    # an int16 record of SOFTMAX, LOGISTIC, TANH, DEQUANTIZE or QUANTIZE (tinyml/validate_s16.py)
    import tinyml.validate_s16 as v
    return getattr(v, check)(c)


def _lut(c):
    if c.a == _INT16:
        return _s16(c, "lut")
    if len(c.ins) != 2 or c.p:
        c.fail("an int8 input takes input 1, its table, and no parameters")
    n = _size(c.tensor(0, _INT8))
    t = c.ins[1]
    # int8 (the activations), float32 (DEQUANTIZE), int16 or int32 (CAST) entries
    if not t.const or (t.dtype, t.nbytes) not in ((_INT8, 256), (_FLOAT32, 1024), (_INT16, 512), (_INT32, 1024)):
        c.fail("input 1 (tensor %d) must be a constant table of 256 int8, int16, int32 or float32 entries" % t.index)
    c.tensor(-1, t.dtype)
    c.elements(-1, n)
    return n


def _quantize(c):
    if _INT16 in (c.ins[0].dtype, c.out.dtype) and not (len(c.ins) == 2 and c.ins[0].dtype == _INT8):
        return _s16(c, "quantize")  # to or from int16, except int8's table
    if len(c.ins) == 2:
        if c.p:
            c.fail("%d parameters with a table input, expected none" % len(c.p))
        return _lut(c)
    if len(c.p) != 2:
        c.fail("%d parameters, expected 2 (y_zp, y_scale) for a float32 input" % len(c.p))
    n = _size(c.tensor(0, _FLOAT32))
    c.tensor(-1, _INT8)
    c.elements(-1, n)
    c.zp(_QUANTIZE_Y_ZP, "y_zp")
    scale = struct.unpack("<f", struct.pack("<i", c.p[_QUANTIZE_Y_SCALE]))[0]
    if not 1e-30 < scale < 1e30:
        c.fail("y_scale %r out of range 1e-30..1e30" % scale)
    return n


def _same(c):
    x = c.ins[0]
    c.tensor(-1, x.dtype)
    c.elements(-1, _size(x.shape))
    return x.nbytes


# A row's check (the last field of tinyml/ops.py's table) -> its function: (op) -> work
CHECKS = {"pool": _pool, "conv": _conv, "depthwise": _depthwise, "lut": _lut, "fc": _fc, "same": _same, "softmax": _softmax, "quantize": _quantize}


def _more(c):
    # the checks of the ops beyond the core CNN ones (tinyml/validate_more.py): loaded only for a model
    # that has one (tinyml.tmlfile drops it after), so a model's load interns none of their names else
    from tinyml.validate_more import CHECKS as more
    return more[c.check](c)


for _k in ("tconv", "matmul", "mean", "broadcast", "add", "mul", "l2norm", "arg", "compare", "logsoftmax", "select", "pad", "concat", "reduce", "remap", "resize", "lookup", "update", "addn", "cumsum"):
    CHECKS[_k] = _more


def _stateful(c):
    # SVDF, LSTM: their checks load only for a model that has them (tinyml.tmlfile drops them after)
    from tinyml.validate_recurrent import CHECKS as stateful
    return stateful[c.kernel](c)


CHECKS["svdf"] = CHECKS["lstm"] = _stateful


def _counts(c, row):
    for field, n, (lo, hi) in (("n_in", len(c.op.inputs), row[4]), ("n_out", len(c.op.outputs), row[5]),
                               ("n_params", len(c.p), row[6])):
        if not lo <= n <= hi:
            c.fail("%s %d, expected %s" % (field, n, lo if lo == hi else "%d..%d" % (lo, hi)))


def model(tensors, op_list, inputs, outputs, read, what="model", error=ValueError):
    """Checks a parsed model (tmlfile's tables; read(offset, n) gives bytes of the file), raising
    error (tmlfile.ModelFileError) naming the record and field; returns the work one inference asks
    for (multiply-accumulates and elements moved)."""
    global ModelFileError
    ModelFileError = error
    n_t = len(tensors)
    written = bytearray(n_t)  # 1: a model input or an earlier op's output holds it
    use = bytearray(n_t)  # 1: a weight that streams from the file (inputs 1..4 of a "streams" op), 2: else
    for k, i in enumerate(inputs):
        if tensors[i].const or tensors[i].variable:
            raise ModelFileError("%s: input %d (tensor %d) is a constant or a variable" % (what, k, i))
        written[i] = 1
    work = 0
    table = {}  # opcode -> its row, read from the table once
    for op in op_list:
        row = table.get(op.opcode, 0)
        if row == 0:
            row = table[op.opcode] = ops.row(op.opcode)
        if row is None:
            raise ModelFileError("%s: op %d has opcode %d, which this tinyml cannot run; update the device "
                                 "library (tinyml deploy) to the converter's version" % (what, op.index, op.opcode))
        for k, i in enumerate(op.inputs + op.outputs):
            if i >= n_t:
                raise ModelFileError("%s: op %d (%s): %s %d is tensor %d, of %d" % (
                    what, op.index, row[1], "input" if k < len(op.inputs) else "output",
                    k if k < len(op.inputs) else k - len(op.inputs), i, n_t))
        c = _Op(what, op, tensors, read)
        c.kernel = row[2]
        c.check = row[7]
        _counts(c, row)
        for k, i in enumerate(op.inputs):
            if c.ins[k].variable and (row[2] not in ("svdf", "lstm") or use[i]):
                c.fail("input %d (tensor %d) is a variable tensor: the state of one stateful op alone" % (k, i))
            u = 1 if row[3] == "streams" and 1 <= k <= 4 else 2
            if use[i] and use[i] != u or u == 1 and use[i]:
                c.fail("input %d (tensor %d) is also used by another op or as another input: a weight that "
                       "streams from the file belongs to one op" % (k, i))
            use[i] = u
            if not c.ins[k].const and not c.ins[k].variable and not written[i]:
                c.fail("input %d (tensor %d) is neither a constant, a model input nor an earlier op's output"
                       % (k, i))
        for k, i in enumerate(op.outputs):
            t = c.out if k == 0 else tensors[i]
            if t.const or t.variable or written[i] or i in op.inputs:
                c.fail("output %d (tensor %d) is a constant, a variable, a model input or written before" % (k, i))
            written[i] = 1
        check = CHECKS.get(row[7])
        if check is None:  # a row without its check: tests/test_op_table.py fails for it too
            c.fail("this device library cannot check its record (no check %r in tinyml/validate.py)" % row[7])
        work += check(c)
        if work > MAX_WORK:
            c.fail("the model asks for over %d multiply-accumulates per inference" % MAX_WORK)
    for k, i in enumerate(outputs):
        if not written[i]:
            raise ModelFileError("%s: output %d (tensor %d) is written by no op" % (what, k, i))
    return work
