"""Lower a calibrated float ONNX graph to an int8 TFLite model that TFLM (and tinyml) run.

One method per ONNX op, named after it. On the way: channels-first tensors become channels-last,
BatchNormalization folds into the Conv or Gemm before it, Relu/Clip fuse into the op before them as its
activation, MatMul + Add become one FULLY_CONNECTED, and shape arithmetic is already constant
(float_graph). Anything else is refused with the node's name and type.

The flatbuffer is written by oracle/tflite_build (TFLite's own schema object API, shipped in
tflite-micro): tflite-micro is a base dependency already (verify and bench run it), so a second writer
with a schema subset of our own would only duplicate that one, and TFLM reading the file is the check.
"""

import os

import numpy as np

from tinyml_host.oracle.tflite_build import Op, Tensor, build_model
from tinyml_host.optimize import qparams as qp
from tinyml_host.optimize.float_graph import QuantizeError
from tinyml_host.optimize.lower_ops import CHANNEL_OPS, OtherOps, Value
from tinyml_host.optimize.lower_tflm import TflmOps
from tinyml_host.optimize.tidy import tidy

PASS_THROUGH = ("Identity", "Dropout", "Cast")
REFUSED = {  # ONNX op -> what to use instead
    "HardSigmoid": "use Sigmoid, or HardSwish", "Upsample": "export with opset 11 or later (Resize)",
    "LSTM": "use Conv1D layers (a TCN); recurrent layers are not lowered yet",
    "GRU": "use Conv1D layers (a TCN); recurrent layers are not lowered yet",
    "RNN": "use Conv1D layers (a TCN); recurrent layers are not lowered yet",
}
QUANTIZED_ALREADY = "the model is quantized already; give tinyml quantize the float model (it calibrates it)"
REFUSED.update({op: QUANTIZED_ALREADY for op in ("QuantizeLinear", "DequantizeLinear", "QLinearConv",
                                                  "QLinearMatMul", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear")})


class Lowering(OtherOps, TflmOps):
    def __init__(self, graph, per_channel=True):
        self.g = graph
        self.per_channel = per_channel
        self.tensors, self.ops, self.vals = [], [], {}
        self.nodes = graph.needed()
        self.absorbed = set()
        self._chain = []
        self.qps = {}  # tensor index -> (scale, zp)
        self._share_concat_ranges()

    # ---- helpers ----

    def fail(self, node, what):
        raise QuantizeError("%s: %s: %s" % (self.g.path, node.where(), what))

    def qp_of(self, name):
        return qp.activation_qp(self.g.lo[name], self.g.hi[name])

    def tensor(self, name, shape, q):
        self.tensors.append(Tensor(tuple(int(d) for d in shape), scale=q[0], zero_point=q[1], name=name))
        self.qps[len(self.tensors) - 1] = q
        return len(self.tensors) - 1

    def const(self, name, data, dtype="int8", scale=None, zero_point=0, axis=0):
        self.tensors.append(Tensor(data=np.asarray(data, dtype), dtype=dtype, scale=scale,
                                   zero_point=zero_point, quantized_dimension=axis, name=name))
        return len(self.tensors) - 1

    def emit(self, name, ins, outs, options=None, version=1):
        self.ops.append(Op(name, list(ins), list(outs), dict(options or {}), version))

    def value(self, node, name):
        if name not in self.vals:
            self.fail(node, "input '%s' is not computed by an op tinyml quantizes" % name)
        return self.vals[name]

    def constant(self, node, i):
        name = node.inputs[i] if i < len(node.inputs) else ""
        if name == "":
            return None
        if name not in self.g.const:
            self.fail(node, "input %d ('%s') must be a constant (weights), not computed from the input" % (i, name))
        return np.asarray(self.g.const[name])

    def attr(self, node, key, default=None):
        v = node.attrs.get(key, default)
        return v.decode() if isinstance(v, bytes) else v

    def users(self, name):
        return [n for n in self.nodes if name in n.inputs and id(n) not in self.absorbed]

    def only_consumer(self, name, ops):
        """The node that alone reads `name` (through Identity/Cast nodes, as Keras exports have), when
        it is one of ops and nothing on the way is a model output; absorb() takes it and the way."""
        chain = []
        while name not in self.g.outputs:
            users = self.users(name)
            if len(users) != 1:
                return None
            if users[0].op in ops:
                self._chain = chain
                return users[0]
            if users[0].op not in PASS_THROUGH or (users[0].op == "Cast" and self.attr(users[0], "to") != 1):
                return None
            chain.append(users[0])
            name = users[0].outputs[0]
        return None

    def readers(self, name):
        """The nodes reading name, looking through Identity/Cast nodes."""
        out = []
        for n in self.users(name):
            out += self.readers(n.outputs[0]) if n.op in PASS_THROUGH else [n]
        return out

    def absorb(self, node):
        """Skip node (found by only_consumer) and the pass-through nodes before it: its op took it in."""
        for n in self._chain + [node]:
            self.absorbed.add(id(n))
        self._chain = []

    def _share_concat_ranges(self):
        """Concat's inputs and output share one quantization in TFLM: give them the union of their
        ranges, back through the ops whose output keeps their input's quantization (pools, resizes,
        reshapes, pads) to the op that sets it, so no requantize is needed before the concat."""
        keeps = ("MaxPool", "AveragePool", "GlobalMaxPool", "Resize", "Reshape", "Flatten", "Squeeze",
                 "Unsqueeze", "Pad", "Transpose") + PASS_THROUGH
        producer = {o: n for n in self.nodes for o in n.outputs}
        for n in self.nodes:
            if n.op != "Concat":
                continue
            names = [i for i in n.inputs if i not in self.g.const] + [n.outputs[0]]
            for k in list(names):
                while k in producer and producer[k].op in keeps and producer[k].inputs[0] not in self.g.inputs:
                    k = producer[k].inputs[0]
                    names.append(k)
            lo = min(self.g.lo[k] for k in names)
            hi = max(self.g.hi[k] for k in names)
            for k in names:
                self.g.lo[k], self.g.hi[k] = lo, hi

    # ---- the graph ----

    def run(self):
        g = self.g
        name = g.inputs[0]
        shape = g.input_shape
        users = [n.op for n in self.readers(name)]
        # an image input is held channels-last, unless the model itself transposes it first (Keras
        # exports: channels-last data, a Transpose to channels-first, which then costs nothing)
        channels = (len(shape) == 4 and not all(u == "Transpose" for u in users)) or \
            (len(shape) == 3 and any(u in CHANNEL_OPS for u in users))
        t = self.tensor(name, qp.nhwc_shape(shape) if channels else shape, self.qp_of(name))
        self.vals[name] = Value(t, "nhwc" if channels else "plain")
        self.input_layout = self.vals[name].layout
        for node in self.nodes:
            if id(node) in self.absorbed:
                continue
            if node.op in PASS_THROUGH:
                self.pass_through(node)
            elif node.op in REFUSED:
                self.fail(node, "%s is not supported: %s" % (node.op, REFUSED[node.op]))
            else:
                method = getattr(self, "op_" + node.op, None)
                if method is None:
                    self.fail(node, "tinyml quantize does not lower ONNX %s" % node.op)
                method(node)
        outs = []
        for name in g.outputs:
            v = self.value(g.nodes[0], name) if name in self.vals else None
            if v is None:
                raise QuantizeError("%s: output '%s' is a constant; nothing to quantize" % (g.path, name))
            if v.layout == "flat":
                raise QuantizeError("%s: output '%s' is a flattened channels-first tensor; end the model "
                                    "with a Gemm/Linear layer" % (g.path, name))
            outs.append(v)
        self.output_values = outs
        self.input_qp = self.qps[self.vals[g.inputs[0]].index]
        self.output_qps = [self.qps[v.index] for v in outs]
        ops, tensors, ins, outs = tidy(self.ops, self.tensors, [self.vals[g.inputs[0]].index],
                                       [v.index for v in outs])
        return build_model(ops, tensors, ins, outs, description="tinyml quantize: %s" % os.path.basename(g.path))

    def pass_through(self, node):
        if node.op == "Cast" and self.attr(node, "to") != 1:  # 1: FLOAT
            self.fail(node, "casts to a type other than float32")
        self.vals[node.outputs[0]] = self.value(node, node.inputs[0])

    def output(self, node, name, value_shape, q=None, layout="plain", order=None):
        """A new TFLite tensor for ONNX tensor `name`, with its calibrated quantization unless q."""
        t = self.tensor(name, value_shape, q or self.qp_of(name))
        self.vals[name] = Value(t, layout, order)
        return t

    def tflite_shape(self, name, layout):
        shape = self.g.shape[name]
        return qp.nhwc_shape(shape) if layout == "nhwc" else shape

    def fuse_activation(self, out):
        """Relu/Clip after the op writing `out`: (fused activation name, the ONNX name of the result)."""
        node = self.only_consumer(out, ("Relu", "Clip"))
        if node is None:
            return "NONE", out
        self.absorb(node)
        if node.op == "Relu":
            return "RELU", node.outputs[0]
        lo, hi = self.clip_bounds(node)
        act = {(0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}.get((lo, hi))
        if act is None:  # the calibrated range of the clipped tensor already lies in [lo, hi]
            act = "RELU" if lo == 0.0 else "NONE"
        return act, node.outputs[0]

    def clip_bounds(self, node):
        lo, hi = self.attr(node, "min", -np.inf), self.attr(node, "max", np.inf)
        if len(node.inputs) > 1 and node.inputs[1]:
            lo = float(self.constant(node, 1))
        if len(node.inputs) > 2 and node.inputs[2]:
            hi = float(self.constant(node, 2))
        return float(lo), float(hi)

    def fold_batchnorm(self, out, w, b, axis):
        """BatchNormalization reading `out` alone, folded into weights w (out channels on axis) and b."""
        bn = self.only_consumer(out, ("BatchNormalization",))
        if bn is None:
            return w, b, out
        gamma, beta, mean, var = (self.constant(bn, i).astype(np.float64) for i in (1, 2, 3, 4))
        k = gamma / np.sqrt(var + self.attr(bn, "epsilon", 1e-5))
        shape = [1] * w.ndim
        shape[axis] = -1
        self.absorb(bn)
        return w * k.reshape(shape), (b - mean) * k + beta, bn.outputs[0]

    def weighted(self, node, op, x, w, b, w_axis, y_name, y_shape, layout, options, version):
        """CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED with bias and fused activation."""
        act, y_name = self.fuse_activation(y_name)
        wq, ws = qp.weights(w, w_axis, self.per_channel)
        x_scale = self.qps[x.index][0]
        bq, bs = qp.bias(b, x_scale, ws)
        wt = self.const(node.inputs[1], wq, scale=ws, axis=w_axis)
        bt = self.const(node.inputs[1] + "/bias", bq, "int32", scale=bs, axis=0)
        options = dict(options, fused_activation_function=act)
        if len(y_shape) == 3 and op != "FULLY_CONNECTED":  # a 1-D image plain, (1, L, C): the op writes 4-D
            q = self.qp_of(y_name)
            t = self.tensor(y_name + "/image", (1, 1) + tuple(y_shape[1:]), q)
            self.emit(op, [x.index, wt, bt], [t], options, version)
            y = self.output(node, y_name, y_shape, q, layout)
            self.emit("RESHAPE", [t, self.const(y_name + "/shape", list(y_shape), "int32")], [y],
                      {"new_shape": [int(d) for d in y_shape]})
            return
        y = self.output(node, y_name, y_shape, layout=layout)
        self.emit(op, [x.index, wt, bt], [y], options, version)

    # ---- convolutions and matrix products ----

    def spatial(self, node, x_shape, kernel):
        """(strides, dilations, pads as ((top, bottom), (left, right))) of a Conv or pool on 1 or 2 dims."""
        nd = len(kernel)
        strides = list(self.attr(node, "strides", [1] * nd))
        dil = list(self.attr(node, "dilations", [1] * nd))
        auto = self.attr(node, "auto_pad", "NOTSET")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for i in range(nd):
                size = x_shape[2 + i]
                out = -(-size // strides[i])
                total = max((out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - size, 0)
                before = total // 2 if auto == "SAME_UPPER" else total - total // 2
                pads.append((before, total - before))
        else:
            p = list(self.attr(node, "pads", [0] * 2 * nd))
            pads = [(p[i], p[i + nd]) for i in range(nd)]
        if nd == 1:
            strides, dil, pads = [1] + strides, [1] + dil, [(0, 0)] + pads
        return strides, dil, pads

    def padding(self, node, x, x_shape, kernel, strides, dil, pads, pad_q=None):
        """'VALID' or 'SAME' as TFLite pads, with an explicit PAD op first when the pads are other."""
        h_w = list(qp.nhwc_shape(x_shape)[1:3])
        k = [1] * (2 - len(kernel)) + list(kernel)
        if all(p == (0, 0) for p in pads):
            return x, "VALID"
        same = []
        for i in range(2):
            out = -(-h_w[i] // strides[i])
            total = max((out - 1) * strides[i] + (k[i] - 1) * dil[i] + 1 - h_w[i], 0)
            same.append((total // 2, total - total // 2))
        if same == [tuple(p) for p in pads]:
            return x, "SAME"
        if node.op == "AveragePool":
            self.fail(node, "padding %s is not TFLite's SAME; pad the input explicitly" % (pads,))
        shape = qp.nhwc_shape(x_shape)
        padded = (shape[0], shape[1] + sum(pads[0]), shape[2] + sum(pads[1]), shape[3])
        q = self.qps[x.index]
        t = self.tensor(node.inputs[0] + "/padded", padded, q)
        paddings = self.const(node.inputs[0] + "/paddings", [[0, 0], list(pads[0]), list(pads[1]), [0, 0]], "int32")
        self.emit("PAD", [x.index, paddings], [t], version=2)
        # MAX_POOL pads with the zero point, not -inf: harmless, since every window holds a real value
        return Value(t, "nhwc"), "VALID"

    def op_Conv(self, node):
        x = self.value(node, node.inputs[0])
        x_shape = self.g.shape[node.inputs[0]]
        if x.layout != "nhwc":
            self.fail(node, "input of shape %s is not a 1-D or 2-D image" % (x_shape,))
        w = self.constant(node, 1).astype(np.float64)
        b = self.constant(node, 2)
        oc, ic_g = w.shape[:2]
        b = np.zeros(oc) if b is None else b.astype(np.float64)
        if w.ndim == 3:
            w = w[:, :, None, :]
        w, b, y_name = self.fold_batchnorm(node.outputs[0], w, b, 0)
        strides, dil, pads = self.spatial(node, x_shape, w.shape[2:] if len(x_shape) == 4 else w.shape[3:])
        x, padding = self.padding(node, x, x_shape, w.shape[2:] if len(x_shape) == 4 else w.shape[3:],
                                  strides, dil, pads)
        group, c = self.attr(node, "group", 1), x_shape[1]
        options = {"padding": padding, "stride_h": strides[0], "stride_w": strides[1],
                   "dilation_h_factor": dil[0], "dilation_w_factor": dil[1]}
        y_shape = qp.nhwc_shape(self.g.shape[node.outputs[0]])
        b, y_name, layout = self.channels_last_bias(y_name, b, len(x_shape))
        if layout == "plain":  # Keras's channels-last result: (1, H, W, C) or (1, L, C)
            y_shape = self.g.shape[y_name]
        if group == 1:
            self.weighted(node, "CONV_2D", x, w.transpose(0, 2, 3, 1), b, 0, y_name, y_shape, layout, options, 3)
        elif group == c and ic_g == 1:
            w_dw = w[:, 0].transpose(1, 2, 0)[None]  # (1, KH, KW, C * multiplier)
            options["depth_multiplier"] = oc // c
            self.weighted(node, "DEPTHWISE_CONV_2D", x, w_dw, b, 3, y_name, y_shape, layout, options, 3)
        else:
            self.fail(node, "grouped convolution (group %d of %d channels); TFLite has plain and depthwise "
                      "convolutions only" % (group, c))

    def channels_last_bias(self, out, b, rank):
        """Keras exports a Conv without bias, a Transpose back to channels-last and an Add of the bias:
        the Transpose costs nothing (the data is channels-last already) and the Add folds into the bias.
        (bias, the ONNX name of the result, its layout)."""
        t = self.only_consumer(out, ("Transpose",))
        if t is None or list(self.attr(t, "perm", [])) != {4: [0, 2, 3, 1], 3: [0, 2, 1]}[rank]:
            return b, out, "nhwc"
        chain = self._chain
        add = self.only_consumer(t.outputs[0], ("Add",))
        if add is None:
            return b, out, "nhwc"
        consts = [i for i in add.inputs if i in self.g.const]
        c = np.asarray(self.g.const[consts[0]]) if len(consts) == 1 else np.zeros(0)
        if c.size != b.size or (c.ndim and c.shape[-1] != b.size):
            return b, out, "nhwc"
        self._chain = chain + [t] + self._chain
        self.absorb(add)
        return b + c.reshape(-1).astype(np.float64), add.outputs[0], "plain"

    def fully_connected(self, node, x, w, b):
        """x (1, n_in) @ w.T + b, w of shape (n_out, n_in)."""
        x_shape = self.g.shape[node.inputs[0]]
        if len(x_shape) != 2 or x.layout == "nhwc":
            self.fail(node, "input of shape %s; a matrix product needs a (1, features) input "
                      "(add a Flatten before it)" % (x_shape,))
        if x.layout == "flat":
            w = w[:, x.order]  # the input arrives channels-last: permute the weights' columns to match
        out = node.outputs[0]
        add = self.only_consumer(out, ("Add",))
        if node.op == "MatMul" and add is not None:
            consts = [i for i in add.inputs if i in self.g.const]
            if len(consts) == 1 and np.asarray(self.g.const[consts[0]]).size == w.shape[0]:
                b = b + np.asarray(self.g.const[consts[0]], np.float64).reshape(-1)
                self.absorb(add)
                out = add.outputs[0]
        w, b, out = self.fold_batchnorm(out, w, b, 0)
        self.weighted(node, "FULLY_CONNECTED", x, w, b, 0, out, self.g.shape[out], "plain", {},
                      12 if self.per_channel else 4)

    def op_Gemm(self, node):
        if self.attr(node, "transA", 0):
            self.fail(node, "transA=1 is not supported")
        w = self.constant(node, 1).astype(np.float64) * self.attr(node, "alpha", 1.0)
        w = w if self.attr(node, "transB", 0) else w.T
        c = self.constant(node, 2)
        b = np.zeros(w.shape[0]) if c is None else np.broadcast_to(
            np.asarray(c, np.float64).reshape(-1) * self.attr(node, "beta", 1.0), (w.shape[0],)).copy()
        self.fully_connected(node, self.value(node, node.inputs[0]), w, b)

    def op_MatMul(self, node):
        w = self.constant(node, 1)
        if w.ndim != 2:
            self.fail(node, "weights of shape %s; expected a matrix" % (w.shape,))
        self.fully_connected(node, self.value(node, node.inputs[0]), w.astype(np.float64).T, np.zeros(w.shape[1]))


def lower(graph, per_channel=True):
    """(TFLite bytes, the Lowering with input/output values for the report)."""
    low = Lowering(graph, per_channel)
    return low.run(), low
