# The converter's methods of TFLM's weighted ops beyond conv and fully_connected.
#
# TRANSPOSE_CONV (a Keras Conv2DTranspose) is TFLM's reference_integer_ops::TransposeConv: every input
# pixel (x - x_zp) scatters its products with the filter into an int32 output at (in * stride - pad +
# filter offset), then bias, the per-channel multiplier and the clamp as conv_2d's. It is an op of its
# own (kernel transpose_conv2d, CONV_2D's record): each output gathers the taps that reach it, which
# are 1 / (stride_h * stride_w) of the filter, with TFLM's padding of the output size.
#
# BATCH_MATMUL is TFLM's int8 BatchMatMul: sum_k (lhs - lhs_zp) * (rhs - rhs_zp), the multiplier of
# lhs_scale * rhs_scale / out_scale, no activation (the int8 range). With a constant right-hand matrix
# (a Dense-like product the converter did not write as fully_connected) that is fully_connected's
# arithmetic with the matrix transposed as its weights, which stream from the file; else (attention,
# a Keras Dot, torch.matmul of two activations) it is the batch_matmul kernel, with the batch
# dimensions broadcast and adj_x / adj_y as element strides.
import numpy as np

from tinyml_host.model import op_params
from tinyml_host.model import quantize as q
from tinyml_host.model.tmlfile import TmlOp

# TFLite ops the converter writes as other ops of the table: name -> what they become (docs/ops.md)
# (op names in lower case here: the op table is the one place of the upper-case names, test_op_table)
LOWERED = {
    # constant indices, axes or shapes: the converter computes the gather (convert_layout.py)
    "BROADCAST_TO": "remap (the constant shape's broadcast)",
    "REVERSE_V2": "remap (constant axes)",
    "GATHER_ND": "remap (constant indices), or reshape and embedding_lookup",
    "FILL": "remap of its value (constant dims), or a constant",
    "ZEROS_LIKE": "remap filling zeros",
}


def _out_size(padding, size, k, stride):
    return (size + stride - 1) // stride if padding == "SAME" else (size - k + stride) // stride


def transpose_conv_padding(padding, out, k, stride):
    """TFLM's ComputePaddingHeightWidth on the output size (the transposed convolution's input)."""
    n = _out_size(padding, out, k, stride)
    return max((n - 1) * stride + k - out, 0) // 2


class NnOps:
    """The converter's methods of the transposed convolution and the batch matmul, mixed into
    convert._Converter."""

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
        if (oh, ow) not in ((h * sh, wd * sw), ((h - 1) * sh + kh, wd * sw), (h * sh, (wd - 1) * sw + kw),
                            ((h - 1) * sh + kh, (wd - 1) * sw + kw)):
            self.fail(op, "output %dx%d is neither the SAME nor the VALID size of input %dx%d" % (oh, ow, h, wd))
        pt = transpose_conv_padding(o["padding"], oh, kh, sh)
        pl = transpose_conv_padding(o["padding"], ow, kw, sw)
        x_zp, mults, shifts = self.requant_params(op, x, w, y, oc, 0)
        bias_in = 3 if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
        b = self.t(op.inputs[bias_in]) if bias_in is not None else None
        bias = np.zeros(oc, np.int32) if b is None or b.data is None else b.data.astype(np.int32).reshape(oc)
        ins = [self.activation(op.inputs[2]), self.const(w.name, np.ascontiguousarray(w.data), False),
               self.const(w.name + "/bias", bias, False), self.const(w.name + "/multiplier", mults, False),
               self.const(w.name + "/shift", shifts, False)]
        lo, hi = q.activation_range(o.get("fused_activation_function", "NONE"), *self.qp(y))
        self.emit(op, ins, [self.activation(op.outputs[0])], stride_h=sh, stride_w=sw, dilation_h=1,
                  dilation_w=1, pad_top=pt, pad_left=pl, x_zp=x_zp, y_zp=self.qp(y)[1], act_min=lo, act_max=hi)

    def batch_matmul(self, op):
        lhs, rhs, y = (self.t(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        o = op.options
        if rhs.data is None or o.get("adj_x") or len(rhs.shape) < 2 or rhs.dtype != np.int8 or \
                int(np.prod(rhs.shape[:-2], dtype=np.int64)) != 1 or len(rhs.scale) != 1 or int(rhs.zero_point[0]):
            return self._matmul_of_activations(op, lhs, rhs, y)  # else one symmetric matrix: fully_connected
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

    def _matmul_of_activations(self, op, lhs, rhs, y):
        """The batch_matmul kernel: batch dimensions broadcast (at most 3), adj_x / adj_y as strides."""
        o = op.options
        if not lhs.dtype == rhs.dtype == y.dtype == np.int8:
            self.fail(op, "tinyml runs it on int8 operands, not %s x %s -> %s" % (lhs.dtype, rhs.dtype, y.dtype))
        if any(len(t.scale) != 1 for t in (lhs, rhs, y)):
            self.fail(op, "operands quantized per channel; TFLM's batch matmul takes one scale per tensor")
        if not 2 <= len(lhs.shape) <= 5 or not 2 <= len(rhs.shape) <= 5:
            self.fail(op, "operands of rank %d and %d; TFLM takes ranks 2 to 5" % (len(lhs.shape), len(rhs.shape)))
        rows, depth = lhs.shape[-2:][::-1] if o.get("adj_x") else lhs.shape[-2:]
        depth2, cols = rhs.shape[-2:][::-1] if o.get("adj_y") else rhs.shape[-2:]
        try:
            batch = tuple(np.broadcast_shapes(tuple(lhs.shape[:-2]), tuple(rhs.shape[:-2])))
        except ValueError:
            batch = None
        if depth != depth2 or batch is None or tuple(y.shape) != batch + (rows, cols):
            self.fail(op, "shapes %s x %s -> %s do not multiply" % (lhs.shape, rhs.shape, y.shape))
        if depth > 33025:
            self.fail(op, "a depth of %d: at most 33025 products fit TFLM's int32 sum" % depth)

        def strides(shape):  # element strides of the batch dims right-aligned to 3, 0 where broadcast
            b = (1,) * (5 - len(shape)) + tuple(shape[:-2])
            s, out = int(shape[-1]) * int(shape[-2]), [0, 0, 0]
            for i in (2, 1, 0):
                out[i] = s if b[i] > 1 else 0
                s *= b[i]
            return out
        a_row, a_k = (1, rows) if o.get("adj_x") else (depth, 1)
        b_k, b_col = (1, depth) if o.get("adj_y") else (cols, 1)
        mult, shift = q.quantize_multiplier(float(lhs.scale[0]) * float(rhs.scale[0]) / float(y.scale[0]))
        self.emit(op, [self.operand(op.inputs[0]), self.operand(op.inputs[1])], [self.activation(op.outputs[0])],
                  d=list(((1,) * 3 + batch)[-3:]), a_stride=strides(lhs.shape), b_stride=strides(rhs.shape),
                  rows=rows, cols=cols, depth=depth, a_row=a_row, a_k=a_k, b_k=b_k, b_col=b_col,
                  a_zp=self.qp(lhs)[1], b_zp=self.qp(rhs)[1], y_multiplier=mult, y_shift=shift, y_zp=self.qp(y)[1])


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
