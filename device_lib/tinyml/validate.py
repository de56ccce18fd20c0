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
_MATMUL_D0 = const(0)
_MATMUL_A_STRIDE0 = const(3)
_MATMUL_B_STRIDE0 = const(6)
_MATMUL_ROWS = const(9)
_MATMUL_COLS = const(10)
_MATMUL_DEPTH = const(11)
_MATMUL_A_ROW = const(12)
_MATMUL_A_K = const(13)
_MATMUL_B_K = const(14)
_MATMUL_B_COL = const(15)
_MATMUL_A_ZP = const(16)
_MATMUL_B_ZP = const(17)
_MATMUL_Y_SHIFT = const(19)
_MATMUL_Y_ZP = const(20)
_POOL_PARAMS = const(5)
_POOL_STRIDE_H = const(5)
_POOL_STRIDE_W = const(6)
_POOL_FILTER_H = const(7)
_POOL_FILTER_W = const(8)
_POOL_PAD_TOP = const(9)
_POOL_PAD_LEFT = const(10)
_POOL_ACT_MIN = const(11)
_MEAN_PARAMS = const(3)
_MEAN_X_ZP = const(3)
_MEAN_Y_ZP = const(4)
_MEAN_SHIFT = const(6)
_ADD_D0 = const(0)
_ADD_A_STRIDE0 = const(4)
_ADD_B_STRIDE0 = const(8)
_ADD_A_ZP = const(12)
_ADD_B_ZP = const(13)
_ADD_LEFT_SHIFT = const(14)
_ADD_A_SHIFT = const(16)
_ADD_B_SHIFT = const(18)
_ADD_Y_SHIFT = const(20)
_ADD_Y_ZP = const(21)
_ADD_ACT_MIN = const(22)
_MUL_A_ZP = const(12)
_MUL_B_ZP = const(13)
_MUL_Y_SHIFT = const(15)
_MUL_Y_ZP = const(16)
_MUL_ACT_MIN = const(17)
_QUANTIZE_Y_ZP = const(0)
_QUANTIZE_Y_SCALE = const(1)
_PAD_BEFORE0 = const(0)
_PAD_VALUE = const(4)
_CONCAT_OUTER = const(0)
_CONCAT_INNER0 = const(1)
_REMAP_D0 = const(0)
_REMAP_ESIZE = const(4)
_REMAP_FILL = const(5)
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


def _tconv(c):
    """transpose_conv2d: conv2d's record (dilations 1) with TFLM's geometry of a transposed convolution:
    the output is the SAME (input * stride) or VALID ((input - 1) * stride + filter) size, and the
    padding TFLM's ComputePaddingHeightWidth of the output size; the bias is the model's."""
    c.base = _CONV_PARAMS
    _, h, w, ch = c.tensor(0, _INT8, 4)
    if c.ins[0].shape[0] != 1:
        c.fail("input 0 has batch %d, expected 1" % c.ins[0].shape[0])
    oc, kh, kw, _ = c.tensor(1, _INT8, 4, True)
    c.tensor(1, _INT8, 4, True, (oc, kh, kw, ch))
    _, oh, ow, _ = c.tensor(-1, _INT8, 4)
    c.tensor(-1, _INT8, 4, False, (1, oh, ow, oc))
    c.requant(2, oc)
    if max(h, w, ch, oh, ow, oc) > 32767 or kh * kw * ch > 65536:
        c.fail("sizes over 32767 or a kernel of over 65536 weights")
    for field, size, k, stride, out, pad in (
            ("height", h, kh, c.param(_CONV_STRIDE_H, "stride_h", 1, 255), oh, c.get(_CONV_PAD_TOP)),
            ("width", w, kw, c.param(_CONV_STRIDE_W, "stride_w", 1, 255), ow, c.get(_CONV_PAD_LEFT))):
        if out != size * stride and out != (size - 1) * stride + k:
            c.fail("output %s %d is neither SAME (%d) nor VALID (%d) of input %d" % (
                field, out, size * stride, (size - 1) * stride + k, size))
        n = (out + stride - 1) // stride if out == size * stride else (out - k + stride) // stride
        if pad != max((n - 1) * stride + k - out, 0) // 2:
            c.fail("pad of the %s %d, expected %d" % (field, pad, max((n - 1) * stride + k - out, 0) // 2))
    c.param(_CONV_DILATION_H, "dilation_h", 1, 1)
    c.param(_CONV_DILATION_W, "dilation_w", 1, 1)
    c.zp(_CONV_X_ZP, "x_zp")
    c.zp(_CONV_Y_ZP, "y_zp")
    c.act(_CONV_ACT_MIN)
    return h * w * ch * kh * kw * oc


def _matmul(c):
    """batch_matmul: y's batches d (right-aligned to 3) of rows x cols, a read as rows x depth (or
    depth x rows: adj_x) and b as depth x cols (or cols x depth: adj_y), each batch at the strides of
    its shape, 0 where it broadcasts; depth at most 33025, so a sum fits int32."""
    p = c.p
    rows, cols, depth = p[_MATMUL_ROWS], p[_MATMUL_COLS], p[_MATMUL_DEPTH]
    for i, field in ((_MATMUL_ROWS, "rows"), (_MATMUL_COLS, "cols")):
        c.param(i, field, 1, 65535)
    c.param(_MATMUL_DEPTH, "depth", 1, 33025)
    d = p[_MATMUL_D0:_MATMUL_D0 + 3]
    for i in range(3):
        c.param(_MATMUL_D0 + i, "d[%d]" % i, 1, 65535)
    y = c.tensor(-1, _INT8)
    if len(y) < 2 or len(y) > 5 or ((1,) * 5 + tuple(y))[-5:] != tuple(d) + (rows, cols):
        c.fail("d %s, rows %d, cols %d, but output 0 has shape %s" % (_dims(d), rows, cols, _dims(y)))
    for k, s0, (i, j), field in ((0, _MATMUL_A_STRIDE0, (_MATMUL_A_ROW, _MATMUL_A_K), "a"),
                                 (1, _MATMUL_B_STRIDE0, (_MATMUL_B_K, _MATMUL_B_COL), "b")):
        shape = c.tensor(k, _INT8)
        if len(shape) < 2 or len(shape) > 5:
            c.fail("input %d has %d dimensions, expected 2 to 5" % (k, len(shape)))
        m, n = (rows, depth) if k == 0 else (depth, cols)
        if tuple(shape[-2:]) == (m, n) and (p[i], p[j]) == (n, 1):
            pass
        elif tuple(shape[-2:]) == (n, m) and (p[i], p[j]) == (1, m):
            pass
        else:
            c.fail("input %d of shape %s is not %s's %d x %d at strides %d, %d" % (k, _dims(shape), field, m, n,
                                                                                   p[i], p[j]))
        s = m * n
        b = (1,) * (5 - len(shape)) + tuple(shape[:-2])
        for i in (2, 1, 0):
            if b[i] != 1 and b[i] != d[i]:
                c.fail("input %d of shape %s does not broadcast to %s" % (k, _dims(shape), _dims(d)))
            c.range("%s_stride[%d]" % (field, i), p[s0 + i], s if b[i] > 1 else 0, s if b[i] > 1 else 0)
            s *= b[i]
    c.zp(_MATMUL_A_ZP, "a_zp")
    c.zp(_MATMUL_B_ZP, "b_zp")
    c.param(_MATMUL_Y_SHIFT, "y_shift", -31, 31)
    c.zp(_MATMUL_Y_ZP, "y_zp")
    return _size(y) * depth


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


def _mean(c):
    c.base = _MEAN_PARAMS
    _, h, w, ch = c.tensor(0, _INT8, 4)
    if c.ins[0].shape[0] != 1:
        c.fail("input 0 has batch %d, expected 1" % c.ins[0].shape[0])
    c.tensor(-1, _INT8)
    c.elements(-1, ch)
    c.zp(_MEAN_X_ZP, "x_zp")
    c.zp(_MEAN_Y_ZP, "y_zp")
    c.param(_MEAN_SHIFT, "shift", -31, 31)
    if h * w > 1 << 23:
        c.fail("a mean over %d values, at most 2**23" % (h * w))
    return h * w * ch


def _broadcast(c, out=None):
    """The two inputs' element strides are the converter's for the output's 4 dimensions d; the
    output of dtype out (a comparison's bools are uint8), else of the activations' (c.a)."""
    p = c.p
    d = p[_ADD_D0:_ADD_D0 + 4]
    for i in range(4):
        c.param(_ADD_D0 + i, "d[%d]" % i, 1, 65535)
    y = c.tensor(-1, c.a if out is None else out)
    if _four(y) != tuple(d):
        c.fail("d %s, but output 0 has shape %s" % (_dims(d), _dims(y)))
    for k, at, field in ((0, _ADD_A_STRIDE0, "a_stride"), (1, _ADD_B_STRIDE0, "b_stride")):
        shape = c.tensor(k, c.a)
        if len(shape) > 4:
            c.fail("input %d has %d dimensions" % (k, len(shape)))
        s = 1
        for i in (3, 2, 1, 0):
            n = _four(shape)[i]
            if n != 1 and n != d[i]:
                c.fail("input %d of shape %s does not broadcast to %s" % (k, _dims(shape), _dims(d)))
            c.range("%s[%d]" % (field, i), p[at + i], s if n > 1 else 0, s if n > 1 else 0)
            s *= n
    return _size(d)


def _add(c):
    work = _broadcast(c)
    c.zp(_ADD_A_ZP, "a_zp")
    c.zp(_ADD_B_ZP, "b_zp")
    top = 0 if c.kernel in ("add", "sub") else 31  # ADD's and SUB's limits in the native module (TFLM's)
    c.param(_ADD_LEFT_SHIFT, "left_shift", 0, 20)
    c.param(_ADD_A_SHIFT, "a_shift", -31, top)
    c.param(_ADD_B_SHIFT, "b_shift", -31, top)
    c.param(_ADD_Y_SHIFT, "y_shift", -31, 31)
    c.zp(_ADD_Y_ZP, "y_zp")
    c.act(_ADD_ACT_MIN)
    return work


def _mul(c):
    work = _broadcast(c)
    c.zp(_MUL_A_ZP, "a_zp")
    c.zp(_MUL_B_ZP, "b_zp")
    c.param(_MUL_Y_SHIFT, "y_shift", -31, 31)
    c.zp(_MUL_Y_ZP, "y_zp")
    c.act(_MUL_ACT_MIN)
    return work


def _softmax(c):
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


def _l2norm(c):
    shape = c.tensor(0, _INT8)
    if not shape or not 1 <= shape[-1] <= 33025:
        c.fail("input 0 of shape %s: the last dimension must be 1..33025 (the sum of squares in int32)" % _dims(shape))
    c.tensor(-1, _INT8, len(shape), False, shape)
    c.zp(0, "x_zp")
    return 2 * _size(shape)


def _arg(c):
    """argmax, argmin: input 1 one constant int32 axis inside the input's rank; the output int32, the
    input's elements without that axis."""
    shape = c.tensor(0, _INT8)
    if c.tensor(1, _INT32, 1, True)[0] != 1:
        c.fail("input 1 (tensor %d) must hold one axis" % c.ins[1].index)
    a = c.range("axis", struct.unpack("<i", c.read(c.ins[1].offset, 4))[0], -len(shape), len(shape) - 1)
    c.tensor(-1, _INT32)
    c.elements(-1, _size(shape) // shape[a])
    return _size(shape)


def _compare(c):
    """The comparisons: add's record (left_shift 8, each input's own scale as its multiplier), the
    output bools as uint8."""
    work = _broadcast(c, 3)
    c.zp(_ADD_A_ZP, "a_zp")
    c.zp(_ADD_B_ZP, "b_zp")
    c.param(_ADD_LEFT_SHIFT, "left_shift", 0, 8)
    c.param(_ADD_A_SHIFT, "a_shift", -31, 0)
    c.param(_ADD_B_SHIFT, "b_shift", -31, 0)
    return work


def _logsoftmax(c):
    shape = c.tensor(0, _INT8)
    if not shape or not 1 <= shape[-1] <= 4096:
        c.fail("input 0 of shape %s: the last dimension must be 1..4096 (the sum of exps in Q12)" % _dims(shape))
    c.tensor(-1, _INT8, len(shape), False, shape)
    c.param(0, "input_multiplier", 0, 0x7FFFFFFF)
    c.param(1, "input_left_shift", 0, 31)
    c.param(2, "reverse_multiplier", 0, 0x7FFFFFFF)
    c.param(3, "reverse_shift", -31, 0)
    c.param(4, "diff_min", -0x7FFFFFFF, 0)
    return 3 * _size(shape)


def _select(c):
    """select: the condition (uint8 bools), a and b int8, each read at the converter's strides for the
    output's 4 dimensions d."""
    p = c.p
    d = p[0:4]
    for i in range(4):
        c.param(i, "d[%d]" % i, 1, 65535)
    if _four(c.tensor(-1, _INT8)) != tuple(d):
        c.fail("d %s, but output 0 has shape %s" % (_dims(d), _dims(c.out.shape)))
    for k, dtype in ((0, 3), (1, _INT8), (2, _INT8)):
        shape = _four(c.tensor(k, dtype))
        s = 1
        for i in (3, 2, 1, 0):
            n = shape[i]
            if n != 1 and n != d[i]:
                c.fail("input %d of shape %s does not broadcast to %s" % (k, _dims(shape), _dims(d)))
            c.range("stride", p[4 + 4 * k + i], s if n > 1 else 0, s if n > 1 else 0)
            s *= n
    return _size(d)


def _lut(c):
    n = _size(c.tensor(0, _INT8))
    t = c.ins[1]
    if not t.const or t.nbytes not in (256, 1024) or t.dtype != (_INT8 if t.nbytes == 256 else _FLOAT32):
        c.fail("input 1 (tensor %d) must be a constant table of 256 int8 or float32 entries" % t.index)
    c.tensor(-1, t.dtype)
    c.elements(-1, n)
    return n


def _quantize(c):
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


def _pad(c):
    p = c.p
    xs = _four(c.tensor(0, _INT8))
    ys = _four(c.tensor(-1, _INT8))
    for i in range(4):
        c.param(_PAD_BEFORE0 + i, "before[%d]" % i, 0, ys[i] - xs[i])
    c.zp(_PAD_VALUE, "value")
    return _size(ys)


def _concat(c):
    p = c.p
    if len(p) != 1 + len(c.ins):
        c.fail("%d parameters for %d inputs, expected %d (outer, one inner per input)"
               % (len(p), len(c.ins), 1 + len(c.ins)))
    outer = c.param(_CONCAT_OUTER, "outer", 1, 1 << 24)
    total = 0
    for k in range(len(c.ins)):
        inner = c.param(_CONCAT_INNER0 + k, "inner[%d]" % k, 1, 1 << 24)
        c.tensor(k, _INT8)
        c.elements(k, outer * inner)
        total += inner
    c.tensor(-1, _INT8)
    c.elements(-1, outer * total)
    return outer * total


def _reduce(c):
    """The reductions (mean, sum, maximum, minimum): input 1 the constant int32 axes, each inside the input's
    rank (a mean without it is over height and width: _mean); the output holds the elements of the
    axes kept; at most 2**23 values reduced into one (the int32 sum)."""
    if len(c.ins) == 1:
        return _mean(c)
    shape = c.tensor(0, _INT8)
    n_axes = c.tensor(1, _INT32, 1, True)[0]
    t = c.ins[1]
    reduced = [False] * len(shape)
    for a in struct.unpack("<%di" % n_axes, c.read(t.offset, t.nbytes)):
        reduced[c.range("axis", a, -len(shape), len(shape) - 1)] = True
    kept = _size([d for d, r in zip(shape, reduced) if not r])
    n = _size([d for d, r in zip(shape, reduced) if r])
    if n > 1 << 23:
        c.fail("reduces %d values into one, more than 2**23" % n)
    c.tensor(-1, _INT8)
    c.elements(-1, kept)
    if c.p:
        c.zp(0, "x_zp")
        c.zp(1, "y_zp")
        c.param(3, "shift", -31, 31)
    return _size(shape)


_DTYPE_SIZE = {1: 1, 2: 4, 3: 1, 4: 2, 5: 4}


def _int32s(c, k):
    t = c.ins[k]
    return struct.unpack("<%di" % (t.nbytes // 4), c.read(t.offset, t.nbytes))


def _remap(c):
    """The layout ops' gather (tinyml/moves.py): output dims d[4] (the output's elements), the element
    size of input and output, input 1 the constant int32 tables T0..T3 (d0 + d1 + d2 + d3 entries),
    each entry the fill (-2**28) or a byte offset, the largest sum of offsets inside the input."""
    d = [c.param(_REMAP_D0 + i, "d[%d]" % i, 1, 1 << 24) for i in range(4)]
    x, y = c.ins[0], c.out
    esize = c.param(_REMAP_ESIZE, "esize", 1, 4)
    if _DTYPE_SIZE.get(x.dtype) != esize or y.dtype != x.dtype:
        c.fail("esize %d does not match the dtypes of input 0 and output 0" % esize)
    c.param(_REMAP_FILL, "fill", -128, 255)
    c.elements(-1, _size(d))
    c.tensor(1, _INT32, 1, True, (sum(d),))
    if x.nbytes >= 1 << 27:
        c.fail("input 0 of %d bytes, more than 2**27" % x.nbytes)
    t = _int32s(c, 1)
    top, at = 0, 0
    for k in range(4):
        most = -1
        for v in t[at:at + d[k]]:
            if v != -(1 << 28):
                c.range("table entry", v, 0, x.nbytes - esize)
                most = v if v > most else most
        top += most if most > 0 else 0
        at += d[k]
    if top + esize > x.nbytes:
        c.fail("the tables reach byte %d of an input of %d" % (top + esize, x.nbytes))
    return _size(d)


def _resize(c):
    """Bilinear resizing: int8 (N, H, W, C) to (N, OH, OW, C); input 1 the constant int32 table of
    3 * (OH + OW) entries: rows (y0 * W * C, y1 * W * C, wy), columns (x0 * C, x1 * C, wx)."""
    n, h, w, ch = c.tensor(0, _INT8, 4)
    _, oh, ow, _ = c.tensor(-1, _INT8, 4)
    c.tensor(-1, _INT8, 4, False, (n, oh, ow, ch))
    c.tensor(1, _INT32, 1, True, (3 * (oh + ow),))
    t = _int32s(c, 1)
    for i in range(oh + ow):
        step, size = (w * ch, h) if i < oh else (ch, w)
        for v in t[3 * i:3 * i + 2]:
            if v % step or not 0 <= v // step < size:
                c.fail("table entry %d is no offset of a %s" % (v, "row" if i < oh else "column"))
        c.range("weight", t[3 * i + 2], -1024, 1024)
    return 4 * n * oh * ow * ch


# A row's check (the last field of tinyml/ops.py's table) -> its function: (op) -> work
CHECKS = {"add": _add, "pool": _pool, "concat": _concat, "conv": _conv, "depthwise": _depthwise, "lut": _lut,
          "fc": _fc, "mul": _mul, "same": _same, "softmax": _softmax, "pad": _pad, "mean": _mean,
          "quantize": _quantize, "reduce": _reduce, "remap": _remap, "resize": _resize,
          "broadcast": _broadcast, "l2norm": _l2norm, "arg": _arg,
          "compare": _compare, "logsoftmax": _logsoftmax, "select": _select, "tconv": _tconv, "matmul": _matmul}


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
