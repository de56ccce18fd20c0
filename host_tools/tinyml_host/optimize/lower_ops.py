"""The lowering of ONNX ops without weights: elementwise arithmetic, activations, pooling, shape ops,
concatenation and padding (a mixin of lower.Lowering, which holds the graph and the helpers)."""

import numpy as np

from tinyml_host.optimize import qparams as qp

# ONNX ops that read channels-first images: their inputs are held channels-last
CHANNEL_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize")


class Value:
    """A dynamic tensor of the float graph as held in the TFLite model: its tensor index, and how its
    data is laid out: 'plain' (as in ONNX), 'nhwc' (channels-last of a rank-3/4 ONNX tensor) or
    'flat' (a flattened channels-first tensor in channels-last order: position i holds ONNX index order[i])."""

    def __init__(self, index, layout="plain", order=None):
        self.index, self.layout, self.order = index, layout, order


def held_order(shape, layout, order=None):
    """The ONNX flat index of each value of a tensor as held (channels-last, flattened, or plain)."""
    if layout == "nhwc":
        return qp.flatten_order(shape)
    if layout == "flat":
        return order
    return np.arange(int(np.prod(shape)))


class OtherOps:

    def feeds(self, node, ops):
        return any(n.op in ops for n in self.nodes if node.outputs[0] in n.inputs)

    # ---- elementwise ----

    def binary(self, node, op):
        """Two tensors, or a constant that broadcasts the tensor wider (else elementwise() took it)."""
        a_name, b_name = node.inputs[:2]
        dyn = [n for n in (a_name, b_name) if n not in self.g.const]
        vals = [self.value(node, n) for n in dyn]
        layouts = {v.layout for v in vals}
        if len(layouts) > 1:
            self.fail(node, "operands in different layouts %s" % sorted(layouts))
        layout = vals[0].layout
        if len(dyn) == 2 and vals[0].order is not None and not np.array_equal(vals[0].order, vals[1].order):
            self.fail(node, "operands flattened from different shapes")
        ins = []
        for name in (a_name, b_name):
            if name not in self.g.const:
                ins.append(self.vals[name].index)
                continue
            c = np.asarray(self.g.const[name], np.float64)
            rank = len(self.g.shape[dyn[0]])
            if layout == "nhwc":
                c = qp.broadcast_nhwc(c, rank)
            elif layout == "flat":
                c = np.broadcast_to(c, self.g.shape[dyn[0]]).reshape(1, -1)[:, vals[0].order]
            cq = qp.constant_qp(c)
            ins.append(self.const(name, qp.quantize(c, *cq), scale=cq[0], zero_point=cq[1]))
        act, y_name = self.fuse_activation(node.outputs[0])
        y = self.output(node, y_name, self.tflite_shape(node.outputs[0], layout), layout=layout, order=vals[0].order)
        self.emit(op, ins, [y], {"fused_activation_function": act}, 2)

    def op_Add(self, node):
        self.elementwise(node, "ADD")

    def op_Mul(self, node):
        self.elementwise(node, "MUL")

    def op_Sub(self, node):
        self.elementwise(node, "SUB")

    def op_Div(self, node):
        if self.affine_chain(node) is None:
            self.fail(node, "division by a tensor; only division by a constant is supported")
        self.elementwise(node, None)

    def elementwise(self, node, op):
        chain = self.affine_chain(node)
        if chain is None:
            return self.binary(node, op)
        nodes, ways, a, c = chain
        for n, way in zip(nodes[1:], ways[1:]):  # the later nodes, and the Identity/Cast nodes before them
            self.absorbed.update(id(m) for m in way + [n])
        x_name = [i for i in node.inputs if i not in self.g.const][0]
        self.affine(node, x_name, a, c, nodes[-1].outputs[0])

    def affine_chain(self, node):
        """Add/Sub/Mul of a tensor and a constant, and those that alone follow it (a Keras
        BatchNormalization exports as Sub, Mul, Add): (nodes, a, c) with the result x * a + c, or None."""
        def step(n):
            if n.op not in ("Add", "Sub", "Mul", "Div") or len(n.inputs) != 2:
                return None
            consts = [i for i in n.inputs if i in self.g.const]
            if len(consts) != 1 or (n.op in ("Sub", "Div") and n.inputs[0] in self.g.const):
                return None
            return np.asarray(self.g.const[consts[0]], np.float64)
        x_name = [i for i in node.inputs if i not in self.g.const]
        if step(node) is None or len(x_name) != 1:
            return None
        nodes, ways, a, c, n, way = [], [], np.float64(1), np.float64(0), node, []
        while n is not None and (k := step(n)) is not None:
            if self.g.shape[n.outputs[0]] != self.g.shape[x_name[0]]:
                break  # the constant widens the tensor by broadcasting: not an elementwise affine map
            if n.op in ("Mul", "Div"):
                k = k if n.op == "Mul" else 1.0 / k
                a, c = a * k, c * k
            else:
                c = c + k if n.op == "Add" else c - k
            nodes.append(n)
            ways.append(way)
            n = self.only_consumer(n.outputs[0], ("Add", "Sub", "Mul", "Div"))
            way, self._chain = self._chain, []
        return (nodes, ways, a, c) if nodes else None

    def affine(self, node, x_name, a, c, last):
        """x * a + c (a, c constants broadcast against x) written to ONNX tensor `last`: one MUL, one
        ADD, or a MUL then an ADD (fewer roundings than one op per ONNX node)."""
        x = self.value(node, x_name)
        shape = self.g.shape[x_name]
        a = np.broadcast_to(a, np.broadcast_shapes(np.shape(a), (1,) * len(shape)))
        c = np.broadcast_to(c, np.broadcast_shapes(np.shape(c), (1,) * len(shape)))
        act, y_name = self.fuse_activation(last)
        y_shape = self.tflite_shape(last, x.layout)
        if np.all(a == 1) or np.all(c == 0):
            op, k = ("ADD", c) if np.all(a == 1) else ("MUL", a)
            kt = self.layout_const(node, x, shape, k, last + "/k")
            y = self.output(node, y_name, y_shape, layout=x.layout, order=x.order)
            self.emit(op, [x.index, kt], [y], {"fused_activation_function": act}, 2)
            return
        lo, hi = self.g.lo[x_name] * a, self.g.hi[x_name] * a  # the product's range, from the input's
        q = qp.activation_qp(np.minimum(lo, hi).min(), np.maximum(lo, hi).max())
        t = self.tensor(last + "/scaled", y_shape, q)
        self.emit("MUL", [x.index, self.layout_const(node, x, shape, a, last + "/a")], [t],
                  {"fused_activation_function": "NONE"}, 2)
        y = self.output(node, y_name, y_shape, layout=x.layout, order=x.order)
        self.emit("ADD", [t, self.layout_const(node, x, shape, c, last + "/c")], [y],
                  {"fused_activation_function": act}, 2)

    def layout_const(self, node, x, shape, k, name):
        """A constant operand of x (ONNX layout, broadcastable) as an int8 tensor in x's held layout."""
        k = np.asarray(k, np.float64)
        if x.layout == "nhwc":
            k = qp.broadcast_nhwc(k, len(shape))
        elif x.layout == "flat":
            k = np.broadcast_to(k, shape).reshape(1, -1)[:, x.order]
        kq = qp.constant_qp(k)
        return self.const(name, qp.quantize(k, *kq), scale=kq[0], zero_point=kq[1])

    def op_BatchNormalization(self, node):
        """One that does not follow a Conv or Gemm (which take it into their weights): x * a + c."""
        gamma, beta, mean, var = (self.constant(node, i).astype(np.float64) for i in (1, 2, 3, 4))
        a = gamma / np.sqrt(var + self.attr(node, "epsilon", 1e-5))
        rank = len(self.g.shape[node.inputs[0]])
        per_channel = (-1,) + (1,) * (rank - 2)
        self.affine(node, node.inputs[0], a.reshape(per_channel), (beta - mean * a).reshape(per_channel),
                    node.outputs[0])

    # ---- activations ----

    def op_Relu(self, node):
        self.standalone(node)

    op_Clip = op_Relu

    def standalone(self, node):
        """A Relu/Clip that cannot fuse into the op before it (a pool, a concat, a tensor with other
        readers): an int8 -> int8 QUANTIZE to the clipped range, whose saturation is the clip (the
        output's zero point stands for 0.0 and its lowest value, -128, too, after a Relu)."""
        self.unary(node, "QUANTIZE", None, version=2)

    def unary(self, node, op, q, options=None, version=1):
        x = self.value(node, node.inputs[0])
        if q == "same":
            q = self.qps[x.index]
        y = self.output(node, node.outputs[0], self.tflite_shape(node.outputs[0], x.layout), q, x.layout, x.order)
        self.emit(op, [x.index], [y], options, version)

    def op_Sigmoid(self, node):
        self.unary(node, "LOGISTIC", qp.SOFTMAX_QP, version=2)

    def op_Tanh(self, node):
        self.unary(node, "TANH", qp.TANH_QP, version=2)

    def op_Softmax(self, node):
        x = self.value(node, node.inputs[0])
        shape = self.g.shape[node.inputs[0]]
        rank = len(shape)
        old = self.g.opset < 13  # before opset 13 Softmax ran over all the axes from `axis` on, flattened
        axis = self.attr(node, "axis", 1 if old else -1) % rank
        if old and int(np.prod(shape[axis + 1:])) != 1:
            self.fail(node, "softmax (opset %d) over axes %d.. of %s jointly; TFLite's SOFTMAX runs over one "
                      "axis" % (self.g.opset, axis, shape))
        last = axis == rank - 1 if x.layout == "plain" else axis == 1 and x.layout == "nhwc"
        if not last or x.layout == "flat":
            self.fail(node, "softmax over axis %d; TFLite's SOFTMAX runs over the last (channel) axis" % axis)
        self.unary(node, "SOFTMAX", qp.SOFTMAX_QP, {"beta": 1.0}, 2)

    # ---- pooling ----

    def pool(self, node, op, kernel, global_=False):
        x = self.value(node, node.inputs[0])
        x_shape = self.g.shape[node.inputs[0]]
        if x.layout != "nhwc":
            self.fail(node, "input of shape %s is not a 1-D or 2-D image" % (x_shape,))
        if global_:
            strides, dil, pads = [1, 1], [1, 1], [(0, 0), (0, 0)]
        else:
            if self.attr(node, "ceil_mode", 0):
                self.fail(node, "ceil_mode=1 is not supported; use the default floor mode")
            if node.op == "AveragePool" and self.attr(node, "count_include_pad", 0) and \
                    any(self.attr(node, "pads", [0])):
                self.fail(node, "count_include_pad=1 with padding differs from TFLite's average")
            strides, dil, pads = self.spatial(node, x_shape, kernel)
            if any(d != 1 for d in dil):
                self.fail(node, "dilated pooling is not supported")
        k = [1] * (2 - len(kernel)) + list(kernel)
        x, padding = self.padding(node, x, x_shape, kernel, strides, dil, pads)
        options = {"padding": padding, "stride_h": strides[0], "stride_w": strides[1],
                   "filter_height": k[0], "filter_width": k[1]}
        y = self.output(node, node.outputs[0], qp.nhwc_shape(self.g.shape[node.outputs[0]]), self.qps[x.index], "nhwc")
        self.emit(op, [x.index], [y], dict(options, fused_activation_function="NONE"), 2)

    def op_MaxPool(self, node):
        self.pool(node, "MAX_POOL_2D", list(self.attr(node, "kernel_shape")))

    def op_AveragePool(self, node):
        self.pool(node, "AVERAGE_POOL_2D", list(self.attr(node, "kernel_shape")))

    def op_GlobalMaxPool(self, node):
        self.pool(node, "MAX_POOL_2D", list(self.g.shape[node.inputs[0]][2:]), global_=True)

    def op_GlobalAveragePool(self, node):
        x = self.value(node, node.inputs[0])
        if x.layout != "nhwc":
            self.fail(node, "input of shape %s is not a 1-D or 2-D image" % (self.g.shape[node.inputs[0]],))
        axes = self.const("%s/axes" % node.outputs[0], [1, 2], "int32")
        y = self.output(node, node.outputs[0], qp.nhwc_shape(self.g.shape[node.outputs[0]]), layout="nhwc")
        self.emit("MEAN", [x.index, axes], [y], {"keep_dims": True}, 2)

    def op_ReduceMean(self, node):
        """MEAN over the axes as the data is held: an image's height and width (global average pooling,
        channels-first or, as Keras exports, channels-last); TFLM also takes other axes."""
        x = self.value(node, node.inputs[0])
        rank = len(self.g.shape[node.inputs[0]])
        axes = self.attr(node, "axes")
        if axes is None and len(node.inputs) > 1 and node.inputs[1]:
            axes = self.constant(node, 1).tolist()
        axes = sorted(a % rank for a in (axes if axes is not None else range(rank)))
        if x.layout == "flat":
            self.fail(node, "a mean over a flattened image")
        held = sorted(qp.nhwc_axis(a, rank) for a in axes) if x.layout == "nhwc" else axes
        keep = bool(self.attr(node, "keepdims", 1))
        layout = x.layout if keep else "plain"
        out_shape = self.tflite_shape(node.outputs[0], layout)
        xi, name = x.index, node.outputs[0]
        mean_shape = out_shape
        if rank == 3 and held in ([2], [1]):  # over the length of a 1-D image: its height and width
            if x.layout == "plain":  # (N, L, C) as Keras holds it: seen as (N, 1, L, C)
                shape = (1, 1) + tuple(self.g.shape[node.inputs[0]][1:])
                xi = self.tensor(name + "/image", shape, self.qps[x.index])
                self.emit("RESHAPE", [x.index, self.const(name + "/image_shape", list(shape), "int32")], [xi],
                          {"new_shape": list(shape)})
            held, keep, mean_shape = [1, 2], False, (1, self.tensors[xi].shape[3])
        axes_t = self.const(name + "/axes", held, "int32")
        if tuple(mean_shape) != tuple(out_shape):  # MEAN to (1, C), then the shape the graph has
            t = self.tensor(name + "/mean", mean_shape, self.qp_of(name))
            self.emit("MEAN", [xi, axes_t], [t], {"keep_dims": False}, 2)
            y = self.output(node, name, out_shape, layout=layout)
            self.emit("RESHAPE", [t, self.const(name + "/shape", list(out_shape), "int32")], [y],
                      {"new_shape": [int(d) for d in out_shape]})
            return
        y = self.output(node, name, out_shape, layout=layout)
        self.emit("MEAN", [xi, axes_t], [y], {"keep_dims": keep}, 2)

    # ---- shapes ----

    def op_Flatten(self, node):
        self.reshape(node)

    op_Reshape = op_Squeeze = op_Unsqueeze = op_Flatten

    def reshape(self, node):
        """A reshape of the values in ONNX order, as the data is held: the result takes the layout
        (channels-last, plain, or a flattened image in channels-last order) that keeps the held order,
        so it is a RESHAPE or nothing; a vector made an image for a Conv also needs a TRANSPOSE."""
        x = self.value(node, node.inputs[0])
        src, dst = self.g.shape[node.inputs[0]], tuple(self.g.shape[node.outputs[0]])
        if dst[:1] != (1,):
            self.fail(node, "reshapes the batch dimension (to %s)" % (dst,))
        order = held_order(src, x.layout, x.order)
        candidates = (["nhwc"] if len(dst) in (3, 4) else []) + ["plain"]
        layout = next((c for c in candidates if np.array_equal(held_order(dst, c), order)), None)
        if layout is None and len(dst) == 2:
            layout = "flat"
        if layout is None:
            self.fail(node, "reshapes %s held %s to %s, which would need a transpose" % (src, x.layout, dst))
        if layout == "plain" and len(dst) == 4 and self.feeds_channels(node):
            return self.image_from_vector(node, x, dst)
        shape = qp.nhwc_shape(dst) if layout == "nhwc" else dst
        q = self.qps[x.index]
        if tuple(shape) == tuple(self.tensors[x.index].shape):
            self.vals[node.outputs[0]] = Value(x.index, layout, order if layout == "flat" else None)
            return
        y = self.output(node, node.outputs[0], shape, q, layout, order if layout == "flat" else None)
        new_shape = self.const(node.outputs[0] + "/shape", list(shape), "int32")
        self.emit("RESHAPE", [x.index, new_shape], [y], {"new_shape": [int(d) for d in shape]})

    def image_from_vector(self, node, x, dst):
        """Values in ONNX order made a (1, C, H, W) image for a Conv: RESHAPE, then TRANSPOSE to channels-last."""
        name, q = node.outputs[0], self.qps[x.index]
        t = self.tensor(name + "/nchw", dst, q)
        self.emit("RESHAPE", [x.index, self.const(name + "/shape", list(dst), "int32")], [t],
                  {"new_shape": [int(d) for d in dst]})
        y = self.output(node, name, qp.nhwc_shape(dst), q, "nhwc")
        self.emit("TRANSPOSE", [t, self.const(name + "/perm", [0, 2, 3, 1], "int32")], [y], version=2)

    def feeds_channels(self, node):
        return self.feeds(node, CHANNEL_OPS)

    def op_Concat(self, node):
        dyn = [n for n in node.inputs if n not in self.g.const]
        if len(dyn) != len(node.inputs):
            self.fail(node, "concatenates a constant")
        vals = [self.value(node, n) for n in dyn]
        layout = vals[0].layout
        if any(v.layout != layout for v in vals) or layout == "flat":
            self.fail(node, "concatenates tensors of different or flattened-image layouts")
        rank = len(self.g.shape[node.outputs[0]])
        axis = self.attr(node, "axis") % rank
        axis = qp.nhwc_axis(axis, rank) if layout == "nhwc" else axis
        q = self.qp_of(node.outputs[0])
        ins = []
        for name, v in zip(dyn, vals):
            if self.qps[v.index] != q:  # an input that keeps its own scale (e.g. a pooled tensor): requantize
                t = self.tensor(name + "/requantized", self.tensors[v.index].shape, q)
                self.emit("QUANTIZE", [v.index], [t], version=2)
                ins.append(t)
            else:
                ins.append(v.index)
        y = self.output(node, node.outputs[0], self.tflite_shape(node.outputs[0], layout), q, layout)
        self.emit("CONCATENATION", ins, [y], {"axis": axis, "fused_activation_function": "NONE"}, 2)

    def op_Pad(self, node):
        x = self.value(node, node.inputs[0])
        mode = self.attr(node, "mode", "constant")
        pads = self.attr(node, "pads")
        if pads is None:
            pads = self.constant(node, 1).tolist()
        value = self.constant(node, 2) if len(node.inputs) > 2 else None
        if mode != "constant" or (value is not None and float(np.asarray(value).ravel()[0]) != 0.0):
            self.fail(node, "only zero padding (mode 'constant', value 0) is supported")
        rank = len(pads) // 2
        pairs = [[int(pads[i]), int(pads[i + rank])] for i in range(rank)]
        if len(node.inputs) > 3 and node.inputs[3]:
            self.fail(node, "the axes input of Pad is not supported")
        if x.layout == "nhwc":
            pairs = [pairs[0], pairs[2], pairs[3], pairs[1]] if rank == 4 else [pairs[0], [0, 0], pairs[2], pairs[1]]
        elif x.layout == "flat":
            self.fail(node, "pads a flattened image")
        paddings = self.const(node.outputs[0] + "/paddings", pairs, "int32")
        y = self.output(node, node.outputs[0], self.tflite_shape(node.outputs[0], x.layout), self.qps[x.index],
                        x.layout)
        self.emit("PAD", [x.index, paddings], [y], version=2)
