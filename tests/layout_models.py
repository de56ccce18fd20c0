"""Single-op int8 models of the layout and shape ops (issue 12), with random shapes and parameters:
CASES[name](rng) -> (.tflite bytes, [inputs (N, *shape) per model input]). tests/test_layout_ops.py
runs several of each against TFLM on the unix port; board_model() puts every op in one model, for a
board session."""
import numpy as np

from test_ops_vs_tflm import random_inputs
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor


def q(rng):
    """A random activation quantization, the zero point at the int8 edges at times."""
    return float(10 ** rng.uniform(-2.5, -0.5)), int(rng.choice([-128, 127, rng.integers(-128, 128)]))


def act(shape, qp):
    return T(tuple(int(d) for d in shape), scale=qp[0], zero_point=qp[1])


def i32(values):
    return T(data=np.asarray(values, np.int32), dtype="int32")


def model(name, x_shape, consts, outs, options=None, rng=None, qp=None):
    """x (the model input) then constant inputs; outs: output shapes, all with x's quantization."""
    qp = qp or q(rng)
    ins = [act(x_shape, qp)] + list(consts)
    return tb.build_model([tb.Op(name, list(range(len(ins))), list(range(len(ins), len(ins) + len(outs))),
                                 dict(options or {}))],
                          ins + [act(s, qp) for s in outs], [0], list(range(len(ins), len(ins) + len(outs))))


def shape(rng, rank, lo=1, hi=5):
    return tuple(int(d) for d in rng.integers(lo, hi + 1, rank))


def inputs(rng, s, n=4):
    return [random_inputs(rng, tuple(s), n)]


def transpose(rng):
    rank = int(rng.integers(2, 5))
    s = shape(rng, rank)
    perm = [int(p) for p in rng.permutation(rank)]
    return model("TRANSPOSE", s, [i32(perm)], [tuple(s[p] for p in perm)], rng=rng), inputs(rng, s)


def strided_slice(rng):
    rank = int(rng.integers(1, 5))
    s = shape(rng, rank, 2, 6)
    begin, end, strides, masks = [], [], [], {"begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0}
    for k, d in enumerate(s):
        st = int(rng.choice([1, 1, 2, -1, -2]))
        begin.append(int(rng.integers(-d, d)))
        end.append(int(rng.integers(-d - 1, d + 2)))
        strides.append(st)
        for m in ("begin_mask", "end_mask"):
            if rng.random() < 0.25:
                masks[m] |= 1 << k
    if rng.random() < 0.5:  # with a positive stride: TFLM writes nothing for a negative one
        k = int(rng.integers(rank))
        masks["shrink_axis_mask"] = 1 << k
        strides[k] = abs(strides[k])
    x = np.arange(int(np.prod(s))).reshape(s)
    # the output's shape, as TF computes it (numpy's slicing is the same once the ends are clamped)
    from tinyml_host.model.convert_layout import strided_slice as ss
    out = ss(x, begin, end, strides, masks).shape
    if 0 in out:
        return strided_slice(rng)
    return (model("STRIDED_SLICE", s, [i32(begin), i32(end), i32(strides)], [out], masks, rng=rng),
            inputs(rng, s))


def slice_(rng):
    rank = int(rng.integers(1, 5))
    s = shape(rng, rank, 1, 6)
    begin = [int(rng.integers(0, d)) for d in s]
    size = [int(rng.choice([-1, rng.integers(1, d - b + 1)])) for d, b in zip(s, begin)]
    out = tuple(d - b if n == -1 else n for d, b, n in zip(s, begin, size))
    return model("SLICE", s, [i32(begin), i32(size)], [out], rng=rng), inputs(rng, s)


def gather(rng):
    rank = int(rng.integers(1, 4))
    s = shape(rng, rank, 1, 6)
    axis = int(rng.integers(-rank, rank))
    idx = rng.integers(0, s[axis], int(rng.integers(1, 4)))
    out = s[:axis % rank] + (len(idx),) + s[axis % rank + 1:]
    return model("GATHER", s, [i32(idx)], [out], {"axis": axis}, rng=rng), inputs(rng, s)


def split(rng):
    rank = int(rng.integers(1, 5))
    s = list(shape(rng, rank, 1, 4))
    axis = int(rng.integers(rank))
    n = int(rng.integers(1, 4))
    s[axis] *= n
    outs = [tuple(s[:axis] + [s[axis] // n] + s[axis + 1:])] * n
    qp = q(rng)
    ins = [i32([axis - rank if rng.random() < 0.5 else axis]), act(s, qp)]
    m = tb.build_model([tb.Op("SPLIT", [0, 1], list(range(2, 2 + n)), {"num_splits": n})],
                       ins + [act(o, qp) for o in outs], [1], list(range(2, 2 + n)))
    return m, inputs(rng, s)


def split_v(rng):
    rank = int(rng.integers(1, 5))
    s = list(shape(rng, rank, 1, 4))
    axis = int(rng.integers(rank))
    sizes = [int(v) for v in rng.integers(1, 4, int(rng.integers(1, 4)))]
    s[axis] = sum(sizes)
    outs = [tuple(s[:axis] + [n] + s[axis + 1:]) for n in sizes]
    spec = list(sizes)
    if rng.random() < 0.5:
        spec[int(rng.integers(len(spec)))] = -1
    return (model("SPLIT_V", s, [i32(spec), i32([axis])], outs, {"num_splits": len(sizes)}, rng=rng),
            inputs(rng, s))


def unpack(rng):
    rank = int(rng.integers(1, 5))
    s = shape(rng, rank, 1, 4)
    axis = int(rng.integers(rank))
    outs = [s[:axis] + s[axis + 1:]] * s[axis]
    return model("UNPACK", s, [], outs, {"num": s[axis], "axis": axis}, rng=rng), inputs(rng, s)


def pack(rng):
    rank = int(rng.integers(1, 4))
    s = shape(rng, rank, 1, 4)
    n = int(rng.integers(1, 4))
    axis = int(rng.integers(rank + 1))
    qp = q(rng)
    out = s[:axis] + (n,) + s[axis:]
    m = tb.build_model([tb.Op("PACK", list(range(n)), [n], {"values_count": n, "axis": axis})],
                       [act(s, qp)] * n + [act(out, qp)], list(range(n)), [n])
    return m, [random_inputs(rng, s, 4) for _ in range(n)]


def concatenation(rng):
    """CONCATENATION over any axis (negative too), 1 to 4 inputs of rank 1 to 4; an input may be a constant."""
    rank = int(rng.integers(1, 5))
    axis = int(rng.integers(-rank, rank))
    base = list(shape(rng, rank, 1, 4))
    qp = q(rng)
    shapes = []
    for _ in range(int(rng.integers(1, 5))):
        s = list(base)
        s[axis] = int(rng.integers(1, 4))
        shapes.append(tuple(s))
    out = list(base)
    out[axis] = sum(s[axis] for s in shapes)
    n = len(shapes)
    const = n > 1 and rng.random() < 0.5  # the last input a constant, as a learned token or bias map
    ins = [act(s, qp) for s in shapes]
    if const:
        ins[-1] = T(data=rng.integers(-128, 128, shapes[-1]).astype(np.int8), scale=qp[0], zero_point=qp[1])
    m = tb.build_model([tb.Op("CONCATENATION", list(range(n)), [n], {"axis": axis})],
                       ins + [act(out, qp)], list(range(n - 1 if const else n)), [n])
    return m, [random_inputs(rng, s, 4) for s in shapes[:n - 1 if const else n]]


def expand_dims(rng):
    rank = int(rng.integers(1, 4))
    s = shape(rng, rank)
    axis = int(rng.integers(-rank - 1, rank + 1))
    out = list(s)
    out.insert(axis % (rank + 1), 1)
    return model("EXPAND_DIMS", s, [i32([axis])], [tuple(out)], rng=rng), inputs(rng, s)


def depth_to_space(rng):
    b = int(rng.integers(2, 4))
    s = (1,) + shape(rng, 2, 1, 4) + (b * b * int(rng.integers(1, 4)),)
    out = (1, s[1] * b, s[2] * b, s[3] // (b * b))
    return model("DEPTH_TO_SPACE", s, [], [out], {"block_size": b}, rng=rng), inputs(rng, s)


def space_to_depth(rng):
    b = int(rng.integers(2, 4))
    s = (1, b * int(rng.integers(1, 4)), b * int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    out = (1, s[1] // b, s[2] // b, s[3] * b * b)
    return model("SPACE_TO_DEPTH", s, [], [out], {"block_size": b}, rng=rng), inputs(rng, s)


def batch_to_space_nd(rng):
    bh, bw = (int(v) for v in rng.integers(1, 4, 2))
    n, h, w, c = 1, int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    crops = [[int(rng.integers(0, bh)), int(rng.integers(0, bh))], [int(rng.integers(0, bw)), int(rng.integers(0, bw))]]
    oh, ow = h * bh - sum(crops[0]), w * bw - sum(crops[1])
    if oh < 1 or ow < 1:
        return batch_to_space_nd(rng)
    s = (n * bh * bw, h, w, c)
    return model("BATCH_TO_SPACE_ND", s, [i32([bh, bw]), i32(crops)], [(n, oh, ow, c)], rng=rng), inputs(rng, s)


def space_to_batch_nd(rng):
    bh, bw = (int(v) for v in rng.integers(1, 4, 2))
    h, w, c = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 3))
    pads = []
    for size, b in ((h, bh), (w, bw)):
        before = int(rng.integers(0, b)) * b if rng.random() < 0.5 else 0
        after = (-(size + before)) % b + b * int(rng.integers(0, 2))
        pads.append([before, after])
    oh, ow = (h + sum(pads[0])) // bh, (w + sum(pads[1])) // bw
    s = (1, h, w, c)
    return (model("SPACE_TO_BATCH_ND", s, [i32([bh, bw]), i32(pads)], [(bh * bw, oh, ow, c)], rng=rng),
            inputs(rng, s))


def _pads(rng, s, most):
    return [[int(rng.integers(0, most(d) + 1)), int(rng.integers(0, most(d) + 1))] for d in s]


def mirror_pad(rng):
    rank = int(rng.integers(1, 5))
    s = shape(rng, rank, 1, 4)
    mode = str(rng.choice(["REFLECT", "SYMMETRIC"]))
    pads = _pads(rng, s, (lambda d: d - 1) if mode == "REFLECT" else (lambda d: d))
    out = tuple(d + a + b for d, (a, b) in zip(s, pads))
    return model("MIRROR_PAD", s, [i32(pads)], [out], {"mode": mode}, rng=rng), inputs(rng, s)


def padv2(rng):
    rank = int(rng.integers(1, 5))
    s = shape(rng, rank, 1, 4)
    pads = _pads(rng, s, lambda d: 2)
    out = tuple(d + a + b for d, (a, b) in zip(s, pads))
    qp = q(rng)
    value = T(data=np.array([rng.integers(-128, 128)], np.int8), scale=qp[0], zero_point=qp[1])
    return model("PADV2", s, [i32(pads), value], [out], qp=qp), inputs(rng, s)


def resize_nearest_neighbor(rng):
    s = (int(rng.integers(1, 3)),) + shape(rng, 2, 1, 6) + (int(rng.integers(1, 4)),)
    size = [int(v) for v in rng.integers(1, 13, 2)]
    corners = bool(rng.random() < 0.3)
    half = bool(rng.random() < 0.5)
    out = (s[0], size[0], size[1], s[3])
    return (model("RESIZE_NEAREST_NEIGHBOR", s, [i32(size)], [out],
                  {"align_corners": corners, "half_pixel_centers": half}, rng=rng), inputs(rng, s))


def resize_bilinear(rng):
    s = (int(rng.integers(1, 3)),) + shape(rng, 2, 1, 6) + (int(rng.integers(1, 4)),)
    size = [int(v) for v in rng.integers(1, 13, 2)]
    corners = bool(rng.random() < 0.3)
    half = not corners and bool(rng.random() < 0.6)
    out = (s[0], size[0], size[1], s[3])
    return (model("RESIZE_BILINEAR", s, [i32(size)], [out],
                  {"align_corners": corners, "half_pixel_centers": half}, rng=rng), inputs(rng, s))


CASES = {
    "TRANSPOSE": transpose, "STRIDED_SLICE": strided_slice, "SLICE": slice_, "GATHER": gather,
    "SPLIT": split, "SPLIT_V": split_v, "UNPACK": unpack, "PACK": pack, "EXPAND_DIMS": expand_dims,
    "CONCATENATION": concatenation,
    "DEPTH_TO_SPACE": depth_to_space, "SPACE_TO_DEPTH": space_to_depth,
    "BATCH_TO_SPACE_ND": batch_to_space_nd, "SPACE_TO_BATCH_ND": space_to_batch_nd,
    "MIRROR_PAD": mirror_pad, "PADV2": padv2, "RESIZE_NEAREST_NEIGHBOR": resize_nearest_neighbor,
    "RESIZE_BILINEAR": resize_bilinear,
}


def board_model(rng):
    """One model of every layout op, each applied to the one input (1, 4, 6, 4) (BATCH_TO_SPACE_ND to
    SPACE_TO_BATCH_ND's output), one output each: (.tflite bytes, inputs). A board runs them all in
    one verify."""
    qp = (0.05, -3)
    s = (1, 4, 6, 4)
    tensors = [act(s, qp)]
    ops = []

    def add(name, consts, outs, options=None, src=0):
        at = len(tensors)
        tensors.extend(consts)
        ins = [src] + list(range(at, at + len(consts)))
        if name == "SPLIT":  # its axis comes first
            ins = [ins[1], ins[0]]
        out = len(tensors)
        tensors.extend(act(o, qp) for o in outs)
        ops.append(tb.Op(name, ins, list(range(out, out + len(outs))), dict(options or {})))
        return out

    add("TRANSPOSE", [i32([0, 2, 3, 1])], [(1, 6, 4, 4)])
    add("STRIDED_SLICE", [i32([0, 3, 0, 1]), i32([1, 0, 6, 4]), i32([1, -2, 2, 1])], [(1, 2, 3, 3)])
    add("SLICE", [i32([0, 1, 2, 0]), i32([1, 2, -1, 3])], [(1, 2, 4, 3)])
    add("GATHER", [i32([5, 0, 3])], [(1, 4, 3, 4)], {"axis": 2})
    add("SPLIT", [i32([2])], [(1, 4, 3, 4)] * 2, {"num_splits": 2})
    add("SPLIT_V", [i32([1, -1]), i32([3])], [(1, 4, 6, 1), (1, 4, 6, 3)], {"num_splits": 2})
    add("UNPACK", [], [(1, 6, 4)] * 4, {"num": 4, "axis": 1})
    add("DEPTH_TO_SPACE", [], [(1, 8, 12, 1)], {"block_size": 2})
    add("SPACE_TO_DEPTH", [], [(1, 2, 3, 16)], {"block_size": 2})
    s2b = add("SPACE_TO_BATCH_ND", [i32([2, 2]), i32([[0, 0], [0, 2]])], [(4, 2, 4, 4)])
    add("BATCH_TO_SPACE_ND", [i32([2, 2]), i32([[1, 0], [0, 3]])], [(1, 3, 5, 4)], src=s2b)
    add("MIRROR_PAD", [i32([[0, 0], [1, 2], [2, 1], [0, 0]])], [(1, 7, 9, 4)], {"mode": "REFLECT"})
    value = T(data=np.array([77], np.int8), scale=qp[0], zero_point=qp[1])
    add("PADV2", [i32([[0, 0], [1, 1], [0, 2], [1, 0]]), value], [(1, 6, 8, 5)])
    add("RESIZE_NEAREST_NEIGHBOR", [i32([7, 9])], [(1, 7, 9, 4)], {"half_pixel_centers": True})
    add("RESIZE_BILINEAR", [i32([7, 5])], [(1, 7, 5, 4)], {"half_pixel_centers": True})
    add("RESIZE_BILINEAR", [i32([3, 11])], [(1, 3, 11, 4)], {"align_corners": True})
    produced = {o for op in ops for o in op.outputs}
    consumed = {i for op in ops for i in op.inputs}
    outputs = sorted(produced - consumed)
    return tb.build_model(ops, tensors, [0], outputs), inputs(rng, s, 3)


class Graph:
    """A small int8 graph built op by op (tflite_build), for models shaped as Keras exports them."""

    def __init__(self, rng):
        self.rng, self.tensors, self.ops = rng, [], []

    def tensor(self, spec):
        self.tensors.append(spec)
        return len(self.tensors) - 1

    def act(self, s, scale=None, zp=None):
        return self.tensor(act(s, (scale or float(10 ** self.rng.uniform(-2, -1)),
                                   int(self.rng.integers(-20, 20)) if zp is None else zp)))

    def op(self, name, ins, out_shape, options=None, same_q=False, n_out=1):
        x = self.tensors[ins[0]]
        outs = [self.act(out_shape, x.scale, x.zero_point) if same_q else self.act(out_shape) for _ in range(n_out)]
        self.ops.append(tb.Op(name, list(ins), outs, dict(options or {})))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, oc, k=3, activation="RELU"):
        s = self.tensors[x].shape
        w = self.rng.integers(-127, 128, (oc, k, k, s[3])).astype(np.int8)
        ws = 10 ** self.rng.uniform(-2.5, -1.5, oc)
        wt = self.tensor(T(data=w, scale=ws, zero_point=[0] * oc))
        b = self.tensor(T(data=self.rng.integers(-500, 500, oc).astype(np.int32), dtype="int32",
                          scale=ws * self.tensors[x].scale, zero_point=[0] * oc))
        return self.op("CONV_2D", [x, wt, b], (s[0], s[1], s[2], oc),
                       {"padding": "SAME", "stride_h": 1, "stride_w": 1, "fused_activation_function": activation})

    def const(self, values):
        return self.tensor(i32(values))

    def build(self, inputs, outputs):
        return tb.build_model(self.ops, self.tensors, inputs, outputs)


def unet_model(rng):
    """Conv, MaxPool, Conv, UpSampling2D (nearest, and bilinear), Concatenate with the skip, Conv: a
    U-Net's step, as Keras writes it (RESIZE_NEAREST_NEIGHBOR with half_pixel_centers, as TF 2 does)."""
    g = Graph(rng)
    x = g.act((1, 8, 8, 3))
    c1 = g.conv(x, 4)
    p = g.op("MAX_POOL_2D", [c1], (1, 4, 4, 4), {"padding": "VALID", "stride_h": 2, "stride_w": 2,
                                                 "filter_height": 2, "filter_width": 2}, same_q=True)
    c2 = g.conv(p, 6)
    up = g.op("RESIZE_NEAREST_NEIGHBOR", [c2, g.const([8, 8])], (1, 8, 8, 6), {"half_pixel_centers": True}, same_q=True)
    ub = g.op("RESIZE_BILINEAR", [c2, g.const([8, 8])], (1, 8, 8, 6), {"half_pixel_centers": True}, same_q=True)
    cat = g.act((1, 8, 8, 16), g.tensors[c1].scale, g.tensors[c1].zero_point)
    for t in (up, ub):  # Concatenate needs one quantization: TFLite's converter makes it so
        g.tensors[t] = act(g.tensors[t].shape, (g.tensors[c1].scale, g.tensors[c1].zero_point))
    g.ops.append(tb.Op("CONCATENATION", [c1, up, ub], [cat], {"axis": -1}))
    y = g.conv(cat, 2, 1, "NONE")
    return g.build([x], [y]), inputs(rng, (1, 8, 8, 3), 3)


def conv1d_model(rng):
    """Conv1D + GlobalAveragePooling1D as Keras exports it: EXPAND_DIMS to (1, 1, T, C), CONV_2D,
    RESHAPE back to (1, T, C'), MEAN over time, then a Dense as FULLY_CONNECTED."""
    g = Graph(rng)
    x = g.act((1, 16, 3))
    e = g.op("EXPAND_DIMS", [x, g.const([1])], (1, 1, 16, 3), same_q=True)
    c = g.conv(e, 8, 1)
    r = g.op("RESHAPE", [c, g.const([1, 16, 8])], (1, 16, 8), {"new_shape": [1, 16, 8]}, same_q=True)
    m = g.op("MEAN", [r, g.const([1])], (1, 8), {"keep_dims": False})
    return g.build([x], [m]), inputs(rng, (1, 16, 3), 3)
