# The converter's layout and shape ops (issue 12): each is a numpy function of its data input (with
# TFLite's semantics as TFLM's reference kernels have them) that the converter uses twice:
# - on constants (and on SHAPE of a tensor of static shape), to fold the op away at conversion time,
#   so the shape arithmetic of a graph exported with a dynamic batch (shape -> strided slice -> pack
#   -> reshape, of a Keras Flatten) leaves a plain reshape;
# - on the element indices of its input, to find the separable gather the device's remap does
#   (tinyml/moves.py): output (i0..i3) reads input byte T0[i0] + T1[i1] + T2[i2] + T3[i3].
import numpy as np

from tinyml_host.errors import ModelError
from tinyml_host.model import op_params
from tinyml_host.model.tmlfile import TmlOp, TmlTensor

SENTINEL = -(1 << 28)  # a table entry of an output position filled with the fill value


class LayoutError(ModelError, ValueError):
    """A layout op whose parameters TFLM's semantics do not allow (the converter names the op)."""

    def __init__(self, cause, fix="TFLM refuses this op too: change the layer that makes it (its indices, "
                                  "strides or block size) and convert again"):
        super().__init__(cause, fix)


def separable(src):
    """(d[4], tables) of an index array src (at most 4-D; -1 where the output is the fill value):
    src[i] == T0[i0] + T1[i1] + T2[i2] + T3[i3], the tables concatenated, a SENTINEL entry for the
    fill. None when src is no such sum (the caller splits the op)."""
    s = src.reshape((1,) * (4 - src.ndim) + src.shape).astype(np.int64)
    valid = s >= 0
    if not valid.any():
        return list(s.shape), np.full(sum(s.shape), SENTINEL, np.int64)
    masks = [valid.any(axis=tuple(j for j in range(4) if j != k)) for k in range(4)]
    if not np.array_equal(valid, _outer(masks, np.logical_and)):
        return None
    anchor = tuple(int(a) for a in np.argwhere(valid)[0])
    base = s[anchor]
    tables = []
    for k in range(4):
        at = list(anchor)
        at[k] = slice(None)
        t = s[tuple(at)] - (base if k else 0)
        tables.append(np.where(masks[k], t, SENTINEL))
    if not np.array_equal(np.where(valid, _outer(tables, np.add), -1), np.where(valid, s, -1)):
        return None
    for k in (1, 2, 3):  # every entry >= 0 but the fill's: the device tells them apart by the sign
        low = int(tables[k][masks[k]].min())
        tables[k] = np.where(masks[k], tables[k] - low, SENTINEL)
        tables[0] = np.where(masks[0], tables[0] + low, SENTINEL)
    return list(s.shape), np.concatenate(tables)


def _outer(vectors, op):
    a, b, c, d = vectors
    return op(op(a[:, None, None, None], b[None, :, None, None]), op(c[None, None, :, None], d[None, None, None, :]))


def _axis(a, n):
    a = int(a)
    if not -n <= a < n:
        raise LayoutError("axis %d is out of range for %d dimensions" % (a, n))
    return a % n


def strided_slice(x, begin, end, strides, o):
    """TFLM's StridedSlice (StartForAxis/StopForAxis): begin/end masks, shrink_axis_mask, offset."""
    if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0):
        raise LayoutError("ellipsis_mask and new_axis_mask are not supported (TFLM has neither)")
    index, keep = [], []
    for k, dim in enumerate(x.shape):
        if k >= len(begin):
            index.append(range(dim))
            keep.append(k)
            continue
        b, e, s = int(begin[k]), int(end[k]), int(strides[k])
        if s == 0:
            raise LayoutError("a stride of 0")
        if o.get("offset", False):
            e = b + e
        if o.get("shrink_axis_mask", 0) >> k & 1:
            if s < 0:
                raise LayoutError("a shrunk axis with a negative stride (TFLM's kernel writes no output for it)")
            b = 0 if o.get("begin_mask", 0) >> k & 1 else b + dim if b < 0 else b  # TFLM: the mask wins
            if not 0 <= b < dim:
                raise LayoutError("index %d is out of range for a dimension of %d" % (int(begin[k]), dim))
            index.append([b])
            continue
        lo, hi = (0, dim) if s > 0 else (-1, dim - 1)
        start = (lo if s > 0 else hi) if o.get("begin_mask", 0) >> k & 1 else \
            min(max(b + dim if b < 0 else b, lo), hi)
        stop = (hi if s > 0 else lo) if o.get("end_mask", 0) >> k & 1 else \
            min(max(e + dim if e < 0 else e, lo), hi)
        index.append(range(start, stop, s))
        keep.append(k)
    out = x[np.ix_(*[list(r) for r in index])]
    return out.reshape([out.shape[k] for k in keep])


def slice_(x, begin, size):
    idx = []
    for k, dim in enumerate(x.shape):
        b, n = int(begin[k]), int(size[k])
        n = dim - b if n == -1 else n
        if b < 0 or n < 0 or b + n > dim:
            raise LayoutError("slice begin %d size %d is outside a dimension of %d" % (b, n, dim))
        idx.append(slice(b, b + n))
    return x[tuple(idx)]


def gather(x, indices, axis):
    axis = _axis(axis, x.ndim)
    idx = np.asarray(indices, np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= x.shape[axis]):
        raise LayoutError("gather index out of range 0..%d (TFLM fails on it)" % (x.shape[axis] - 1))
    return np.take(x, idx, axis=axis)


def gather_nd(x, indices):
    """TFLM's GatherNd: indices (..., k) pick x's slices x[i0, .., ik-1], as the row i0 * d1 * .. +
    ik-1 of x's first k dimensions flattened: TFLM checks only that row (a component past its
    dimension reads the next slice), and fails on a row outside x."""
    idx = np.asarray(indices, np.int64)
    k = idx.shape[-1] if idx.ndim else 0
    if idx.ndim < 1 or not 1 <= k <= x.ndim:
        raise LayoutError("indices of shape %s for an input of %d dimensions" % (idx.shape, x.ndim))
    n = int(np.prod(x.shape[:k]))
    flat = np.zeros(idx.shape[:-1], np.int64)
    for j in range(k):
        flat = flat * x.shape[j] + idx[..., j]
    if flat.size and (flat.min() < 0 or flat.max() >= n):
        raise LayoutError("gather_nd indices name row %d, outside the %d rows of the input's first %d "
                          "dimensions (TFLM fails on it)" % (flat.min() if flat.min() < 0 else flat.max(), n, k))
    return x.reshape((n,) + x.shape[k:])[flat]


def reverse(x, axes):
    """TFLM's ReverseV2: one axis, or several that are consecutive once sorted (TFLM refuses others)."""
    axes = sorted(_axis(a, x.ndim) for a in axes)
    if any(b != a + 1 for a, b in zip(axes, axes[1:])):
        raise LayoutError("axes %s are not consecutive, which TFLM's REVERSE_V2 refuses" % axes)
    return np.flip(x, tuple(axes)) if axes else x


def broadcast_to(x, shape):
    try:
        return np.broadcast_to(x, tuple(int(d) for d in shape)).copy()
    except ValueError:
        raise LayoutError("shape %s does not broadcast to %s" % (x.shape, tuple(int(d) for d in shape)))


def depth_to_space(x, b):
    n, h, w, c = x.shape
    if c % (b * b):
        raise LayoutError("depth %d is not a multiple of block_size %d squared" % (c, b))
    return x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * b, w * b, -1)


def space_to_depth(x, b):
    n, h, w, c = x.shape
    if h % b or w % b:
        raise LayoutError("height and width %dx%d are not multiples of block_size %d" % (h, w, b))
    return x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h // b, w // b, -1)


def _to4(x):
    return x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]) if x.ndim == 3 else x


def batch_to_space_nd(x, block, crops):
    three = x.ndim == 3
    x = _to4(x)
    bh, bw = (int(block[0]), int(block[1]) if len(block) > 1 else 1)
    crops = np.asarray(crops, np.int64).reshape(-1, 2)
    (ct, cb), (cl, cr) = crops[0], crops[1] if len(crops) > 1 else (0, 0)
    n, h, w, c = x.shape
    if n % (bh * bw):
        raise LayoutError("batch %d is not a multiple of the block %dx%d" % (n, bh, bw))
    y = x.reshape(bh, bw, n // (bh * bw), h, w, c).transpose(2, 3, 0, 4, 1, 5).reshape(n // (bh * bw), h * bh, w * bw, c)
    y = y[:, ct:h * bh - cb, cl:w * bw - cr, :]
    return y.reshape(y.shape[0], y.shape[1], y.shape[3]) if three else y


def space_to_batch_nd(x, block, paddings, fill):
    three = x.ndim == 3
    x = _to4(x)
    bh, bw = (int(block[0]), int(block[1]) if len(block) > 1 else 1)
    p = np.asarray(paddings, np.int64).reshape(-1, 2)
    pads = [(0, 0), tuple(p[0]), tuple(p[1]) if len(p) > 1 else (0, 0), (0, 0)]
    x = np.pad(x, pads, constant_values=fill)
    n, h, w, c = x.shape
    if h % bh or w % bw:
        raise LayoutError("padded size %dx%d is not a multiple of the block %dx%d" % (h, w, bh, bw))
    y = x.reshape(n, h // bh, bh, w // bw, bw, c).transpose(2, 4, 0, 1, 3, 5).reshape(bh * bw * n, h // bh, w // bw, c)
    return y.reshape(y.shape[0], y.shape[1], y.shape[3]) if three else y


def pad(x, paddings, mode, fill):
    p = [tuple(int(v) for v in r) for r in np.asarray(paddings, np.int64).reshape(-1, 2)]
    if min(min(r) for r in p) < 0:
        raise LayoutError("negative padding")
    if mode == "constant":
        return np.pad(x, p, constant_values=fill)
    limit = 0 if mode == "reflect" else 1
    for k, (a, b) in enumerate(p):
        if max(a, b) > x.shape[k] - 1 + limit:
            raise LayoutError("%s padding of %d on a dimension of %d" % (mode, max(a, b), x.shape[k]))
    return np.pad(x, p, mode=mode)


def nearest_index(size_in, size_out, align_corners, half_pixel):
    """TFLM's GetNearestNeighbor for every output index, in float32 as TFLM computes it."""
    f = np.float32
    if align_corners and size_out > 1:
        scale = f(size_in - 1) / f(size_out - 1)
    else:
        scale = f(size_in) / f(size_out)
    v = (np.arange(size_out, dtype=f) + f(0.5 if half_pixel else 0.0)) * scale
    # TfLiteRound is round half away from zero; the values are >= 0
    idx = np.floor(v + f(0.5)) if align_corners else np.floor(v)
    idx = np.minimum(idx.astype(np.int64), size_in - 1)
    return np.maximum(idx, 0) if half_pixel else idx


def resize_nearest(x, size, align_corners, half_pixel):
    x4 = _to4(x) if x.ndim == 3 else x
    oh, ow = int(size[0]), int(size[1])
    rows = nearest_index(x4.shape[1], oh, align_corners, half_pixel)
    cols = nearest_index(x4.shape[2], ow, align_corners, half_pixel)
    return x4[:, rows][:, :, cols]


def bilinear_tables(h, w, c, oh, ow, align_corners, half_pixel):
    """TFLM's ResizeBilinearInteger, its per-row and per-column part: for each output row
    (y0 * W * C, y1 * W * C, wy), then for each output column (x0 * C, x1 * C, wx), wy and wx the
    fractions in 1/1024 (TFLM's ComputeInterpolationValuesInteger, C's division toward zero)."""
    def cdiv(a, b):
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b > 0) else -q

    def axis(size_in, size_out, stride):
        scale = cdiv((1 << 10) * size_in + size_out // 2, size_out)
        if align_corners and size_out > 1:
            scale = cdiv((1 << 10) * (size_in - 1) + (size_out - 1) // 2, size_out - 1)
        out = []
        for v in range(size_out):
            s = v * scale + scale // 2 - (1 << 9) if half_pixel else v * scale
            lo = max(cdiv(s, 1 << 10), 0)
            hi = min(cdiv(s + (1 << 10) - 1, 1 << 10), size_in - 1)
            if not (0 <= lo < size_in and 0 <= hi < size_in):
                raise LayoutError("resize from %d to %d reads outside the input" % (size_in, size_out))
            out += [lo * stride, hi * stride, s - (1 << 10) * lo]
        return out

    return np.array(axis(h, oh, w * c) + axis(w, ow, c), np.int32)


def _split_sizes(sizes, total):
    sizes = [int(s) for s in sizes]
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = total - (sum(sizes) + 1)
    if sum(sizes) != total or min(sizes) < 0:
        raise LayoutError("split sizes %s do not add up to %d" % (sizes, total))
    return list(np.cumsum(sizes)[:-1])


# Arithmetic on the int32 tensors of shape computations, folded when its inputs are constants.
_INT_FOLDS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "floor_div": np.floor_divide,
              "maximum": np.maximum, "minimum": np.minimum}


class LayoutOps:
    """The converter's methods for the layout and shape ops, mixed into convert._Converter."""

    def _const_input(self, op, k, what="input %d"):
        t = self.t(op.inputs[k]) if k < len(op.inputs) and op.inputs[k] >= 0 else None
        if t is None or t.data is None:
            self.fail(op, (what % k) + " must be a constant (or computed from constants and static "
                      "shapes), so the converter can work out the data movement")
        return t.data

    def layout_fn(self, op):
        """(data input, fn(x, fill) -> outputs, fill for padding ops) of a layout op, or None."""
        n, o, c = op.name.lower(), op.options, lambda k: self._const_input(op, k)
        y = self.t(op.outputs[0])
        out_zp = int(y.zero_point[0]) if y.is_quantized else 0
        if n == "transpose":
            return 0, lambda x, f: [np.transpose(x, [_axis(a, x.ndim) for a in c(1).ravel()])], None
        if n == "strided_slice":
            return 0, lambda x, f: [strided_slice(x, c(1).ravel(), c(2).ravel(), c(3).ravel(), o)], None
        if n == "slice":
            return 0, lambda x, f: [slice_(x, c(1).ravel(), c(2).ravel())], None
        if n == "gather":
            if o.get("batch_dims", 0):
                self.fail(op, "batch_dims %d is not supported" % o["batch_dims"])
            if self.t(op.inputs[1]).data is None:
                self.fail(op, "its indices are computed when the model runs (a Keras Embedding layer or "
                          "tf.gather on an input), which tinyml does not support: look the vectors up on "
                          "the host and give the model the looked-up vectors as its input")
            return 0, lambda x, f: [gather(x, self._const_input(op, 1, "the indices (input %d)"), o.get("axis", 0))], None
        if n == "split":
            return 1, lambda x, f: np.split(x, o.get("num_splits", len(op.outputs)),
                                            _axis(c(0).ravel()[0], x.ndim)), None
        if n == "split_v":
            return 0, lambda x, f: np.split(x, _split_sizes(c(1).ravel(), x.shape[_axis(c(2).ravel()[0], x.ndim)]),
                                            _axis(c(2).ravel()[0], x.ndim)), None
        if n == "unpack":
            return 0, lambda x, f: [np.take(x, i, _axis(o.get("axis", 0), x.ndim)) for i in range(len(op.outputs))], None
        if n == "depth_to_space":
            return 0, lambda x, f: [depth_to_space(x, o["block_size"])], None
        if n == "space_to_depth":
            return 0, lambda x, f: [space_to_depth(x, o["block_size"])], None
        if n == "batch_to_space_nd":
            return 0, lambda x, f: [batch_to_space_nd(x, c(1).ravel(), c(2))], None
        if n == "space_to_batch_nd":
            return 0, lambda x, f: [space_to_batch_nd(x, c(1).ravel(), c(2), f)], out_zp
        if n == "mirror_pad":
            mode = "reflect" if o.get("mode", "REFLECT") == "REFLECT" else "symmetric"
            return 0, lambda x, f: [pad(x, c(1), mode, f)], None
        if n == "padv2":
            fill = int(c(2).ravel()[0]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else out_zp
            return 0, lambda x, f: [pad(x, c(1), "constant", f)], fill
        if n == "gather_nd":
            return 0, lambda x, f: [gather_nd(x, self._const_input(op, 1, "the indices (input %d)"))], None
        if n == "reverse_v2":
            return 0, lambda x, f: [reverse(x, c(1).ravel())], None
        if n == "broadcast_to":
            return 0, lambda x, f: [broadcast_to(x, c(1).ravel())], None
        if n == "fill":  # a scalar value (input 1) broadcast to the constant dims
            return 1, lambda x, f: [broadcast_to(x.reshape(()), c(0).ravel())], None
        if n == "zeros_like":  # every output byte the fill value 0 (TFLM writes 0, not the zero point)
            return 0, lambda x, f: [np.full(x.shape, f, x.dtype)], 0
        if n == "resize_nearest_neighbor":
            return 0, lambda x, f: [resize_nearest(x, c(1).ravel(), o.get("align_corners", False),
                                                   o.get("half_pixel_centers", False))], None
        return None

    def _remap(self, op):
        """A layout op at run time: one remap per output, its tables a constant int32 input."""
        data_in, fn, fill = self.layout_fn(op)
        x = self.t(op.inputs[data_in])
        try:
            outs = fn(np.arange(int(np.prod(x.shape)), dtype=np.int64).reshape(x.shape), -1)
        except LayoutError as e:
            self.fail(op, str(e))
        esize = np.dtype(x.dtype).itemsize
        for i, arr in zip(op.outputs, outs):
            y = self.t(i)
            if arr.size != int(np.prod(y.shape)):
                self.fail(op, "output %d has shape %s; TFLite's semantics give %s" % (i, y.shape, arr.shape))
            sep = separable(arr.reshape(y.shape) if len(y.shape) <= 4 else arr)
            if sep is None:
                self.fail(op, "this data movement is not a gather tinyml's remap can do")
            d, tables = sep
            tables = np.where(tables == SENTINEL, SENTINEL, tables * esize).astype(np.int32)
            table = self.const(y.name + "/remap", tables)
            # an op the converter lowers (convert_nn.LOWERED: BROADCAST_TO ...) is written as a gather
            self.emit_as(op.name if op.name in op_params.OPCODES else "gather",
                         [self.activation(op.inputs[data_in]), table], [self.activation(i)],
                         d=d, esize=esize, fill=fill or 0)

    transpose = strided_slice = slice = split = split_v = unpack = _remap
    depth_to_space = space_to_depth = batch_to_space_nd = mirror_pad = padv2 = _remap
    resize_nearest_neighbor = _remap
    reverse_v2 = broadcast_to = fill = zeros_like = _remap

    def gather_nd(self, op):
        """A remap when the gather of its constant indices is one, else rows looked up (convert_tail.py)."""
        x, idx = self.t(op.inputs[0]), self.t(op.inputs[1])
        if idx.data is not None:
            try:
                picked = gather_nd(np.arange(int(np.prod(x.shape)), dtype=np.int64).reshape(x.shape), idx.data)
            except LayoutError as e:
                self.fail(op, str(e))
            if picked.ndim <= 4 and separable(picked) is not None:
                return self._remap(op)
        return self.gather_nd_rows(op)

    def gather(self, op):
        if self.t(op.inputs[1]).data is None:  # indices computed when the model runs: a lookup (convert_tail.py)
            return self.lookup_rows(op, op.inputs[1], op.inputs[0])
        return self._remap(op)

    def space_to_batch_nd(self, op):
        """Its padding (the output zero point: TFLM's int8 kernel pads with an uninitialized value)
        is part of the remap when it falls on whole blocks; else a pad op pads first."""
        _, fn, fill = self.layout_fn(op)
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        src = np.arange(int(np.prod(x.shape)), dtype=np.int64).reshape(x.shape)
        try:
            if separable(fn(src, -1)[0]) is not None:
                return self._remap(op)
            block = self._const_input(op, 1).ravel()
            pads = np.asarray(self._const_input(op, 2), np.int64).reshape(-1, 2)
        except LayoutError as e:
            self.fail(op, str(e))
        full = [(0, 0)] + [tuple(int(v) for v in r) for r in pads] + [(0, 0)] * (len(x.shape) - 1 - len(pads))
        padded = tuple(d + a + b for d, (a, b) in zip(x.shape, full))
        mid = self._new(TmlTensor(x.name + "/padded", np.int8, padded, None, x.scale[0], x.zero_point[0]))
        pad_op = getattr(self, "pad").__name__.upper()  # the pad op's name in the op table
        before = [0] * (4 - len(padded)) + [a for a, _ in full]
        self.ops.append(TmlOp(op_params.OPCODES[pad_op], [self.activation(op.inputs[0])], [mid],
                              op_params.encode(pad_op, dict(before=before, value=fill))))
        src = np.arange(int(np.prod(padded)), dtype=np.int64).reshape(padded)
        d, tables = separable(space_to_batch_nd(src, block, np.zeros_like(pads), -1).reshape(y.shape))
        self.emit(op, [mid, self.const(y.name + "/remap", tables.astype(np.int32))], [self.activation(op.outputs[0])],
                  d=d, esize=1, fill=0)

    def expand_dims(self, op):
        self._same_bytes(op)

    def pack(self, op):
        y = self.t(op.outputs[0])
        axis = _axis(op.options.get("axis", 0), len(y.shape))
        xs = [self.t(i) for i in op.inputs]
        if any(self.qp(x) != self.qp(y) for x in xs if x.is_quantized):
            self.fail(op, "inputs and output must share one quantization (TFLM's requirement for int8)")
        outer = int(np.prod(y.shape[:axis], dtype=np.int64))
        self.emit(op, [self.operand(i) for i in op.inputs], [self.activation(op.outputs[0])], outer=outer,
                  inner=[int(np.prod(x.shape[axis:], dtype=np.int64)) for x in xs])

    def resize_bilinear(self, op):
        x, y = self.t(op.inputs[0]), self.t(op.outputs[0])
        o = op.options
        if len(x.shape) != 4:
            self.fail(op, "input must be 4-D (N, H, W, C), got %s" % (x.shape,))
        if o.get("align_corners") and o.get("half_pixel_centers"):
            self.fail(op, "align_corners and half_pixel_centers together (TFLM refuses them)")
        size = self._const_input(op, 1, "the output size (input %d)").ravel()
        _, h, w, ch = x.shape
        try:
            table = bilinear_tables(h, w, ch, int(size[0]), int(size[1]), o.get("align_corners", False),
                                    o.get("half_pixel_centers", False))
        except LayoutError as e:
            self.fail(op, str(e))
        self.emit(op, [self.activation(op.inputs[0]), self.const(y.name + "/bilinear", table)],
                  [self.activation(op.outputs[0])])


def fold_constants(model, fail):
    """Runs at conversion time every op whose inputs are constants (SHAPE: whose input has a static
    shape), storing its outputs as constants, and returns the ops left for the device. fail(op, why)."""
    remaining = []
    probe = LayoutOps()
    probe.t, probe.fail = (lambda i: model.tensors[i]), fail
    probe._const_input = lambda op, k, what="": model.tensors[op.inputs[k]].data
    for op in model.operators:
        outs = _fold(model, op, probe)
        if outs is None:
            remaining.append(op)
            continue
        for i, v in zip(op.outputs, outs):
            t = model.tensors[i]
            if i in model.outputs:
                fail(op, "model output '%s' is a constant: nothing to compute" % t.name)
            v = np.asarray(v).astype(t.dtype)
            t.data = v.reshape(t.shape) if v.size == int(np.prod(t.shape)) else v
    return remaining


def _fold(model, op, probe):
    n = op.name.lower()
    ins = [model.tensors[i] if i >= 0 else None for i in op.inputs]
    if n == "shape":
        if ins[0] is None:
            return None
        return [np.array(ins[0].shape, np.int64)]
    if any(t is not None and t.data is None for t in ins) or not op.outputs:
        return None
    data = [t.data if t is not None else None for t in ins]
    y = model.tensors[op.outputs[0]]
    if n in ("reshape", "expand_dims", "squeeze"):
        return [data[0].reshape(y.shape)]
    if n == "concatenation":
        return [np.concatenate(data, _axis(op.options.get("axis", 0), data[0].ndim))]
    if n == "pack":
        return [np.stack(data, _axis(op.options.get("axis", 0), data[0].ndim + 1))]
    if n == "cast":
        return [data[0]]
    if n in _INT_FOLDS and not y.is_quantized and np.issubdtype(y.dtype, np.integer):
        return [_INT_FOLDS[n](data[0].astype(np.int64), data[1].astype(np.int64))]
    spec = probe.layout_fn(op) if hasattr(LayoutOps, n) else None
    if spec is None:
        return None
    data_in, fn, fill = spec
    try:
        return fn(data[data_in], fill if fill is not None else 0)
    except LayoutError as e:
        probe.fail(op, str(e))
