# The converter's lowered ops: TFLite ops the converter writes as ops of the table, with TFLM's bytes.
#
# TRANSPOSE_CONV (a Keras Conv2DTranspose) is TFLM's reference_integer_ops::TransposeConv: every input
# pixel (x - x_zp) scatters its products with the filter into an int32 output at (in * stride - pad +
# filter offset), then bias, the per-channel multiplier and the clamp as conv_2d's. The same int32 sums
# are a stride-1 VALID conv_2d of the filter flipped in H and W over the input spread apart by the
# stride, the gaps and the border filled with x_zp (whose products the folded bias cancels exactly):
# one remap (padv2's kernel, a gather with a fill) and one conv_2d, so every backend runs it with the
# convolution kernels it has, native C included. The spread input costs stride_h * stride_w times the
# input's bytes in the arena, and the convolution's MACs on the fill are wasted: a kernel of its own
# would save both.
#
# BATCH_MATMUL with a constant right-hand matrix (a Dense-like product the converter did not write as
# fully_connected) is TFLM's int8 BatchMatMul: sum_k (lhs - lhs_zp) * rhs, the multiplier of
# lhs_scale * rhs_scale / out_scale, no activation (the int8 range), which is fully_connected's
# arithmetic with the matrix transposed as its weights. A product of two activations (attention) needs
# a kernel of its own, which tinyml does not have yet.
import numpy as np

from tinyml_host.model import op_params
from tinyml_host.model import quantize as q
from tinyml_host.model.convert_layout import separable
from tinyml_host.model.tmlfile import TmlOp, TmlTensor

# TFLite ops the converter writes as other ops of the table: name -> what they become (docs/ops.md)
# (op names in lower case here: the op table is the one place of the upper-case names, test_op_table)
LOWERED = {"TRANSPOSE_CONV": "a remap (padv2's gather with a fill) and a conv_2d",
           "BATCH_MATMUL": "a fully_connected when one operand is a constant matrix"}


def _out_size(padding, size, k, stride):
    return (size + stride - 1) // stride if padding == "SAME" else (size - k + stride) // stride


def transpose_conv_padding(padding, out, k, stride):
    """TFLM's ComputePaddingHeightWidth on the output size (the transposed convolution's input)."""
    n = _out_size(padding, out, k, stride)
    return max((n - 1) * stride + k - out, 0) // 2


def spread_rows(n_in, n_out, k, stride, pad):
    """Input row (or -1, the fill) at each row of the spread input the flipped filter slides over."""
    rows = np.full(n_out + k - 1, -1, np.int64)
    for r in range(len(rows)):
        s = r - (k - 1 - pad)  # = in * stride
        if s >= 0 and s % stride == 0 and s // stride < n_in:
            rows[r] = s // stride
    return rows


class NnOps:
    """The converter's methods for the lowered ops, mixed into convert._Converter."""

    def emit_as(self, name, ins, outs, **params):
        """A .tml op of the table's op `name`, in lower case (a step of a lowered op)."""
        name = name.upper()
        self.ops.append(TmlOp(op_params.OPCODES[name], ins, outs, op_params.encode(name, params)))

    def transpose_conv(self, op):
        shape_t, w, x = (self.t(op.inputs[k]) for k in (0, 1, 2))
        y = self.t(op.outputs[0])
        if shape_t.data is None:
            self.fail(op, "the output shape (input 0) must be a constant")
        if w.data is None or len(w.shape) != 4:
            self.fail(op, "weights must be a constant (OC, KH, KW, IC) tensor")
        if len(x.shape) != 4 or x.shape[0] != 1:
            self.fail(op, "input must be (1, H, W, C), got %s" % (x.shape,))
        oc, kh, kw, ic = w.shape
        if ic != x.shape[3]:
            self.fail(op, "weights for %d input channels, input has %d" % (ic, x.shape[3]))
        if tuple(int(v) for v in shape_t.data.ravel()) != tuple(y.shape) or y.shape[3] != oc:
            self.fail(op, "output shape %s does not match the output tensor %s" % (shape_t.data.ravel(), y.shape))
        o = op.options
        sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
        _, h, wd, _ = x.shape
        _, oh, ow, _ = y.shape
        pt = transpose_conv_padding(o["padding"], oh, kh, sh)
        pl = transpose_conv_padding(o["padding"], ow, kw, sw)
        rows, cols = spread_rows(h, oh, kh, sh, pt), spread_rows(wd, ow, kw, sw, pl)
        x_scale, x_zp = self.qp(x)
        # the spread input: element index of x, or -1 for the fill
        src = np.where((rows[:, None, None] >= 0) & (cols[None, :, None] >= 0),
                       (rows[:, None, None] * wd + cols[None, :, None]) * ic + np.arange(ic)[None, None, :], -1)
        spread_shape = (1, len(rows), len(cols), ic)
        d, tables = separable(src.reshape(spread_shape))
        tables = tables.astype(np.int32)  # one byte per element: the tables are byte offsets already
        mid = self._new(TmlTensor(x.name + "/spread", np.int8, spread_shape, None, x_scale, x_zp))
        self.emit_as("padv2", [self.activation(op.inputs[2]), self.const(y.name + "/spread", tables)], [mid],
                     d=d, esize=1, fill=x_zp)
        w_flipped = np.ascontiguousarray(w.data[:, ::-1, ::-1, :])
        _, mults, shifts = self.requant_params(op, x, w, y, oc, 0)
        bias_in = 3 if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
        b = self.t(op.inputs[bias_in]) if bias_in is not None else None
        bias = np.zeros(oc, np.int64) if b is None or b.data is None else b.data.astype(np.int64).reshape(oc)
        folded = bias - x_zp * w_flipped.reshape(oc, -1).astype(np.int64).sum(axis=1)
        if folded.min() < -2 ** 31 or folded.max() >= 2 ** 31:
            self.fail(op, "bias with the input zero point folded in overflows int32")
        ins = [mid] + self.weighted(op, w.name, w_flipped, folded.astype(np.int32), mults, shifts)
        lo, hi = q.activation_range(o.get("fused_activation_function", "NONE"), *self.qp(y))
        self.emit_as("conv_2d", ins, [self.activation(op.outputs[0])], stride_h=1, stride_w=1, dilation_h=1,
                     dilation_w=1, pad_top=0, pad_left=0, x_zp=x_zp, y_zp=self.qp(y)[1], act_min=lo, act_max=hi)

    def batch_matmul(self, op):
        lhs, rhs, y = (self.t(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        o = op.options
        if rhs.data is None:
            self.fail(op, "both operands are computed when the model runs (a Keras Dot or attention layer, "
                      "torch.matmul of two activations), which tinyml does not run yet; a product with a "
                      "constant matrix (a Dense layer) runs")
        if o.get("adj_x"):
            self.fail(op, "adj_x (the left operand transposed) is not supported")
        if len(rhs.shape) < 2 or int(np.prod(rhs.shape[:-2], dtype=np.int64)) != 1:
            self.fail(op, "the constant operand has batches %s; tinyml takes one matrix" % (tuple(rhs.shape[:-2]),))
        if rhs.dtype != np.int8 or len(rhs.scale) != 1 or int(rhs.zero_point[0]) != 0:
            self.fail(op, "the constant operand must be int8 with one scale and zero point 0 (symmetric)")
        w = rhs.data.reshape(rhs.shape[-2:])
        w = np.ascontiguousarray(w if o.get("adj_y") else w.T)  # (N, K): fully_connected's weights
        n_out, n_in = w.shape
        if lhs.shape[-1] != n_in or tuple(y.shape[:-1]) != tuple(lhs.shape[:-1]) or y.shape[-1] != n_out:
            self.fail(op, "shapes %s x %s -> %s do not multiply" % (lhs.shape, rhs.shape, y.shape))
        x_zp = self.qp(lhs)[1]
        pairs = [q.quantize_multiplier(float(lhs.scale[0]) * float(rhs.scale[0]) / float(y.scale[0]))]
        mults, shifts = np.array([pairs[0][0]], np.int32), np.array([pairs[0][1]], np.int32)
        folded = -x_zp * w.astype(np.int64).sum(axis=1)
        if folded.min() < -2 ** 31 or folded.max() >= 2 ** 31:
            self.fail(op, "the input zero point folded in overflows int32")
        ins = [self.activation(op.inputs[0])] + self.weighted(op, rhs.name, w, folded.astype(np.int32), mults, shifts)
        self.emit_as("fully_connected", ins, [self.activation(op.outputs[0])], y_zp=self.qp(y)[1],
                     act_min=-128, act_max=127)


# Data moves a float island may hold: int8 moves of the same bytes (no arithmetic on the values).
_MOVES = {"split", "split_v", "reshape", "squeeze", "expand_dims", "strided_slice", "slice", "transpose",
          "concatenation", "pack", "unpack", "gather"}


def fold_float_islands(model):
    """TensorFlow's quantizer sometimes leaves a float island in an int8 model: an int8 tensor
    dequantized, moved in float (the unrolled GRU's split of its recurrent product), each piece
    quantized back to the same scale and zero point. int8 -> float -> int8 at one (scale, zero point)
    gives every code back exactly (|x - zp| < 256, float32's error far below half a step), so the
    island is the same moves on the int8 bytes: the dequantize goes, the float tensors become int8 of
    the dequantize's input quantization, and the quantize ops are identity requantizations. An island
    with any other shape (arithmetic in float, another scale) is left for the converter to refuse."""
    consumers = {}
    for op in model.operators:
        for i in op.inputs:
            consumers.setdefault(i, []).append(op)
    io = set(model.inputs) | set(model.outputs)
    dropped = set()
    for deq in model.operators:
        if deq.name.lower() != "dequantize":
            continue
        src, out = model.tensors[deq.inputs[0]], deq.outputs[0]
        if src.dtype != np.int8 or src.data is not None or out in io or len(src.scale) != 1:
            continue
        qp = (float(src.scale[0]), int(src.zero_point[0]))
        island, floats, frontier, ok = [], {out}, [out], True
        while frontier and ok:
            for op in consumers.get(frontier.pop(), []):
                name = op.name.lower()
                if name == "quantize":
                    y = model.tensors[op.outputs[0]]
                    ok = ok and y.dtype == np.int8 and len(y.scale) == 1 and \
                        (float(y.scale[0]), int(y.zero_point[0])) == qp
                elif name in _MOVES and op not in island:
                    island.append(op)
                    new = [i for i in op.outputs if i not in floats]
                    ok = ok and not any(i in io for i in new)
                    floats.update(new)
                    frontier.extend(new)
                elif name not in _MOVES:
                    ok = False
        if not ok or not island:
            continue
        for i in floats:
            t = model.tensors[i]
            t.dtype, t.scale, t.zero_point = np.dtype(np.int8), src.scale.copy(), src.zero_point.copy()
        for op in consumers.get(out, []):
            op.inputs = [deq.inputs[0] if i == out else i for i in op.inputs]
        dropped.add(deq.index)
    return [op for op in model.operators if op.index not in dropped]
