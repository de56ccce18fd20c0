# The checks of the ops beyond the core CNN ones (conv, depthwise, fully connected, pooling, softmax,
# tables, quantize, reshape stay in tinyml/validate.py): element-wise, comparisons, reductions, the
# moves (pad, concat, remap), resize, transpose conv and batch matmul. tinyml/validate.py imports this
# only for a model that has one of them (and tinyml.tmlfile drops it with validate after the check), so
# a CNN's load puts neither its code nor its names on the heap. Each takes validate's _Op (c.size,
# c.dims, c.four: the shape helpers) and returns the op's work.
import struct
from tinyml.ops import const

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
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
_LOOKUP_DIMS0 = const(0)
_ADDN_X_ZP = const(0)
_ADDN_Y_MULTIPLIER = const(1)
_ADDN_Y_SHIFT = const(2)
_ADDN_Y_ZP = const(3)
_CUMSUM_OUTER = const(0)
_CUMSUM_EXCLUSIVE = const(3)
_CUMSUM_REVERSE = const(4)
_CUMSUM_X_ZP = const(5)
_CUMSUM_Y_MULTIPLIER = const(6)
_CUMSUM_Y_SHIFT = const(7)
_CUMSUM_Y_ZP = const(8)
_PAD_BEFORE0 = const(0)
_PAD_VALUE = const(4)
_CONCAT_OUTER = const(0)
_CONCAT_INNER0 = const(1)
_REMAP_D0 = const(0)
_REMAP_ESIZE = const(4)
_REMAP_FILL = const(5)
# ---- end of g's slots ----

_INT8 = const(1)
_INT32 = const(2)
_INT16 = const(4)
_INT64 = const(6)
_FLOAT32 = const(5)


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
        c.fail("d %s, rows %d, cols %d, but output 0 has shape %s" % (c.dims(d), rows, cols, c.dims(y)))
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
            c.fail("input %d of shape %s is not %s's %d x %d at strides %d, %d" % (k, c.dims(shape), field, m, n,
                                                                                   p[i], p[j]))
        s = m * n
        b = (1,) * (5 - len(shape)) + tuple(shape[:-2])
        for i in (2, 1, 0):
            if b[i] != 1 and b[i] != d[i]:
                c.fail("input %d of shape %s does not broadcast to %s" % (k, c.dims(shape), c.dims(d)))
            c.range("%s_stride[%d]" % (field, i), p[s0 + i], s if b[i] > 1 else 0, s if b[i] > 1 else 0)
            s *= b[i]
    c.zp(_MATMUL_A_ZP, "a_zp")
    c.zp(_MATMUL_B_ZP, "b_zp")
    c.param(_MATMUL_Y_SHIFT, "y_shift", -31, 31)
    c.zp(_MATMUL_Y_ZP, "y_zp")
    return c.size(y) * depth


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
    if c.four(y) != tuple(d):
        c.fail("d %s, but output 0 has shape %s" % (c.dims(d), c.dims(y)))
    for k, at, field in ((0, _ADD_A_STRIDE0, "a_stride"), (1, _ADD_B_STRIDE0, "b_stride")):
        shape = c.tensor(k, c.a)
        if len(shape) > 4:
            c.fail("input %d has %d dimensions" % (k, len(shape)))
        s = 1
        for i in (3, 2, 1, 0):
            n = c.four(shape)[i]
            if n != 1 and n != d[i]:
                c.fail("input %d of shape %s does not broadcast to %s" % (k, c.dims(shape), c.dims(d)))
            c.range("%s[%d]" % (field, i), p[at + i], s if n > 1 else 0, s if n > 1 else 0)
            s *= n
    return c.size(d)


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


def _l2norm(c):
    shape = c.tensor(0, _INT8)
    if not shape or not 1 <= shape[-1] <= 33025:
        c.fail("input 0 of shape %s: the last dimension must be 1..33025 (the sum of squares in int32)" % c.dims(shape))
    c.tensor(-1, _INT8, len(shape), False, shape)
    c.zp(0, "x_zp")
    return 2 * c.size(shape)


def _arg(c):
    """argmax, argmin: input 1 one constant int32 axis inside the input's rank; the output int32, the
    input's elements without that axis."""
    shape = c.tensor(0, _INT8)
    if c.tensor(1, _INT32, 1, True)[0] != 1:
        c.fail("input 1 (tensor %d) must hold one axis" % c.ins[1].index)
    a = c.range("axis", struct.unpack("<i", c.read(c.ins[1].offset, 4))[0], -len(shape), len(shape) - 1)
    c.tensor(-1, _INT32)
    c.elements(-1, c.size(shape) // shape[a])
    return c.size(shape)


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
        c.fail("input 0 of shape %s: the last dimension must be 1..4096 (the sum of exps in Q12)" % c.dims(shape))
    c.tensor(-1, _INT8, len(shape), False, shape)
    c.param(0, "input_multiplier", 0, 0x7FFFFFFF)
    c.param(1, "input_left_shift", 0, 31)
    c.param(2, "reverse_multiplier", 0, 0x7FFFFFFF)
    c.param(3, "reverse_shift", -31, 0)
    c.param(4, "diff_min", -0x7FFFFFFF, 0)
    return 3 * c.size(shape)


def _select(c):
    """select: the condition (uint8 bools), a and b int8, each read at the converter's strides for the
    output's 4 dimensions d."""
    p = c.p
    d = p[0:4]
    for i in range(4):
        c.param(i, "d[%d]" % i, 1, 65535)
    if c.four(c.tensor(-1, _INT8)) != tuple(d):
        c.fail("d %s, but output 0 has shape %s" % (c.dims(d), c.dims(c.out.shape)))
    for k, dtype in ((0, 3), (1, _INT8), (2, _INT8)):
        shape = c.four(c.tensor(k, dtype))
        s = 1
        for i in (3, 2, 1, 0):
            n = shape[i]
            if n != 1 and n != d[i]:
                c.fail("input %d of shape %s does not broadcast to %s" % (k, c.dims(shape), c.dims(d)))
            c.range("stride", p[4 + 4 * k + i], s if n > 1 else 0, s if n > 1 else 0)
            s *= n
    return c.size(d)


def _pad(c):
    p = c.p
    xs = c.four(c.tensor(0, _INT8))
    ys = c.four(c.tensor(-1, _INT8))
    for i in range(4):
        c.param(_PAD_BEFORE0 + i, "before[%d]" % i, 0, ys[i] - xs[i])
    c.zp(_PAD_VALUE, "value")
    return c.size(ys)


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
    kept = c.size([d for d, r in zip(shape, reduced) if not r])
    n = c.size([d for d, r in zip(shape, reduced) if r])
    if n > 1 << 23:
        c.fail("reduces %d values into one, more than 2**23" % n)
    c.tensor(-1, _INT8)
    c.elements(-1, kept)
    if c.p:
        c.zp(0, "x_zp")
        c.zp(1, "y_zp")
        c.param(3, "shift", -31, 31)
    return c.size(shape)


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
    c.elements(-1, c.size(d))
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
    return c.size(d)


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


def _lookup(c):
    """A lookup of rows (tinyml/moves.py): input 0 int32 ids, input 1 int8 rows (rows, ...), the
    output int8 ids' shape then a row's; with p = dims[4] (k bounds, then 0s), ids of shape (..., k),
    each k a row of dims[0] x .. x dims[k-1] rows. An id outside fails the inference (the kernel)."""
    ids, rows = c.ins[0], c.ins[1]
    c.tensor(0, _INT32)
    shape = c.tensor(1, _INT8)
    if not shape or not shape[0]:
        c.fail("input 1 (tensor %d) has no rows to look up" % rows.index)
    lead = tuple(ids.shape)
    if c.p:
        if len(c.p) != 4:
            c.fail("%d parameters, expected none or dims[4]" % len(c.p))
        k = 0
        while k < 4 and c.p[k]:
            k += 1
        n = 1
        for j in range(4):
            v = c.param(_LOOKUP_DIMS0 + j, "dims[%d]" % j, 1 if j < k else 0, 1 << 24 if j < k else 0)
            n *= v if j < k else 1
        if not k or n != shape[0] or not lead or lead[-1] != k:
            c.fail("dims %s do not index the %d rows of input 1 with ids of shape %s" % (list(c.p), shape[0], lead))
        lead = lead[:-1]
    c.tensor(-1, _INT8, None, False, lead + tuple(shape[1:]))
    return c.out.nbytes


def _update(c):
    """A slice update (tinyml/moves.py): input 0 int8 (at most 4-D), input 1 int8 of its rank, each
    dimension at most input 0's, input 2 int32 start indices, one per dimension (clamped when it runs,
    as TFLM); the output input 0's shape."""
    shape = c.tensor(0, _INT8)
    upd = c.tensor(1, _INT8, len(shape))
    c.tensor(2, _INT32, 1, False, (len(shape),))
    for a, b in zip(upd, shape):
        if a > b:
            c.fail("input 1 (tensor %d) of shape %s does not fit in input 0's %s" % (c.ins[1].index, upd, shape))
    c.tensor(-1, _INT8, None, False, tuple(shape))
    return c.out.nbytes


def _addn(c):
    """add_n: every input int8 of the output's elements (TFLM: one shape, one quantization)."""
    n = c.size(c.tensor(-1, _INT8))
    for k in range(len(c.ins)):
        c.tensor(k, _INT8)
        c.elements(k, n)
    c.zp(_ADDN_X_ZP, "x_zp")
    c.param(_ADDN_Y_MULTIPLIER, "y_multiplier", 0, 0x7FFFFFFF)
    c.param(_ADDN_Y_SHIFT, "y_shift", -31, 0)
    c.zp(_ADDN_Y_ZP, "y_zp")
    return n * len(c.ins)


def _cumsum(c):
    """cumsum: the int8 input as (outer, n, inner), summed along n into the output of its shape."""
    shape = c.tensor(0, _INT8)
    c.tensor(-1, _INT8, len(shape), False, shape)
    d = [c.param(_CUMSUM_OUTER + i, ("outer", "n", "inner")[i], 1, 1 << 24) for i in range(3)]
    if d[0] * d[1] * d[2] != c.size(shape):
        c.fail("outer %d x n %d x inner %d is not the input's %d elements" % (d[0], d[1], d[2], c.size(shape)))
    c.param(_CUMSUM_EXCLUSIVE, "exclusive", 0, 1)
    c.param(_CUMSUM_REVERSE, "reverse", 0, 1)
    c.zp(_CUMSUM_X_ZP, "x_zp")
    c.param(_CUMSUM_Y_MULTIPLIER, "y_multiplier", 0, 0x7FFFFFFF)
    c.param(_CUMSUM_Y_SHIFT, "y_shift", -31, 0)
    c.zp(_CUMSUM_Y_ZP, "y_zp")
    return c.size(shape)


CHECKS = {"addn": _addn, "cumsum": _cumsum, "update": _update, "lookup": _lookup, "add": _add, "concat": _concat, "mul": _mul, "pad": _pad, "mean": _mean, "reduce": _reduce, "remap": _remap, "resize": _resize, "broadcast": _broadcast, "l2norm": _l2norm, "arg": _arg, "compare": _compare, "logsoftmax": _logsoftmax, "select": _select, "tconv": _tconv, "matmul": _matmul}
