"""ONNX ops lowered to TFLite ops beyond the classic CNN set: LeakyRelu (LEAKY_RELU), HardSwish
(HARD_SWISH), PRelu (PRELU), Transpose (TRANSPOSE, or nothing when the data is held in that order
already), Resize (RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR) and ConvTranspose (TRANSPOSE_CONV). TFLM runs
each in int8, and so does tinyml (issue 12): `tinyml convert` takes the .tflite and gives TFLM's bytes
(tests/test_quantize.py). A mixin of lower.Lowering."""

import numpy as np

from tinyml_host.optimize import qparams as qp
from tinyml_host.optimize.lower_ops import CHANNEL_OPS, Value


class TflmOps:

    def op_LeakyRelu(self, node):
        self.unary(node, "LEAKY_RELU", None, {"alpha": float(self.attr(node, "alpha", 0.01))})

    def op_HardSwish(self, node):
        self.unary(node, "HARD_SWISH", None)

    def op_PRelu(self, node):
        x = self.value(node, node.inputs[0])
        slope = np.asarray(self.constant(node, 1), np.float64)
        rank = len(self.g.shape[node.inputs[0]])
        if x.layout == "nhwc":
            slope = qp.broadcast_nhwc(slope, rank)
        elif x.layout == "flat":
            slope = np.broadcast_to(slope, self.g.shape[node.inputs[0]]).reshape(1, -1)[:, x.order]
        q = qp.constant_qp(slope)
        alpha = self.const(node.inputs[1], qp.quantize(slope, *q), scale=q[0], zero_point=q[1])
        y = self.output(node, node.outputs[0], self.tflite_shape(node.outputs[0], x.layout), None, x.layout, x.order)
        self.emit("PRELU", [x.index, alpha], [y])

    def op_Transpose(self, node):
        """TRANSPOSE of the data as held; nothing (or a RESHAPE) when the held order already is the
        result's: PyTorch's permute(0, 2, 3, 1) before a Linear, Keras's transposes around each Conv."""
        x = self.value(node, node.inputs[0])
        rank = len(self.g.shape[node.inputs[0]])
        perm = list(self.attr(node, "perm", list(range(rank))[::-1]))
        if x.layout == "flat":
            self.fail(node, "transposes a flattened image")
        # the ONNX axis at each axis of the data as held (a rank-3 image is held (N, 1, L, C): its 1 left out)
        channels_last = {4: [0, 2, 3, 1], 3: [0, 2, 1]}.get(rank)
        src_axes = channels_last if x.layout == "nhwc" else list(range(rank))
        channels = rank in (3, 4) and self.feeds(node, CHANNEL_OPS)
        dst_axes = channels_last if channels else list(range(rank))
        tperm = [src_axes.index(perm[d]) for d in dst_axes]
        layout = "nhwc" if channels else "plain"
        shape = self.tflite_shape(node.outputs[0], layout)
        q = self.qps[x.index]
        if tperm == list(range(rank)):  # the same order of values
            if tuple(shape) == tuple(self.tensors[x.index].shape):
                self.vals[node.outputs[0]] = Value(x.index, layout)
                return
            y = self.output(node, node.outputs[0], shape, q, layout)
            new_shape = self.const(node.outputs[0] + "/shape", list(shape), "int32")
            self.emit("RESHAPE", [x.index, new_shape], [y], {"new_shape": [int(d) for d in shape]})
            return
        if rank == 3 and "nhwc" in (x.layout, layout):
            self.fail(node, "transposes a 1-D image other than between channels-first and channels-last")
        y = self.output(node, node.outputs[0], shape, q, layout)
        perm_t = self.const(node.outputs[0] + "/perm", tperm, "int32")
        self.emit("TRANSPOSE", [x.index, perm_t], [y], version=2)

    def op_Resize(self, node):
        x = self.value(node, node.inputs[0])
        src, dst = self.g.shape[node.inputs[0]], self.g.shape[node.outputs[0]]
        if x.layout != "nhwc" or len(src) != 4 or tuple(src[:2]) != tuple(dst[:2]):
            self.fail(node, "resizes other than the height and width of an image")
        mode = self.attr(node, "mode", "nearest")
        ct = self.attr(node, "coordinate_transformation_mode", "half_pixel")
        options = {"align_corners": ct == "align_corners",
                   "half_pixel_centers": ct in ("half_pixel", "pytorch_half_pixel")}
        if mode == "nearest":
            nearest = self.attr(node, "nearest_mode", "round_prefer_floor")
            ok = (ct == "asymmetric" and nearest == "floor") or \
                 (ct in ("half_pixel", "pytorch_half_pixel") and nearest == "round_prefer_ceil") or \
                 (ct == "align_corners" and nearest == "round_prefer_ceil")
            op = "RESIZE_NEAREST_NEIGHBOR"
        elif mode == "linear":
            ok = ct in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric")
            op = "RESIZE_BILINEAR"
        else:
            ok = False
        if not ok:
            self.fail(node, "mode %s with coordinate_transformation_mode %s has no TFLite equivalent "
                      "(use nearest with asymmetric/floor, e.g. nn.Upsample(mode='nearest'), or bilinear)" % (mode, ct))
        size = self.const(node.outputs[0] + "/size", [int(dst[2]), int(dst[3])], "int32")
        y = self.output(node, node.outputs[0], qp.nhwc_shape(dst), self.qps[x.index], "nhwc")
        self.emit(op, [x.index, size], [y], options, 3 if op == "RESIZE_BILINEAR" else 3)

    def op_ConvTranspose(self, node):
        x = self.value(node, node.inputs[0])
        src, dst = self.g.shape[node.inputs[0]], self.g.shape[node.outputs[0]]
        if x.layout != "nhwc" or len(src) != 4:
            self.fail(node, "only 2-D transposed convolutions are supported")
        w = self.constant(node, 1).astype(np.float64)  # (C_in, C_out, KH, KW)
        b = self.constant(node, 2)
        if self.attr(node, "group", 1) != 1 or any(d != 1 for d in self.attr(node, "dilations", [1, 1])):
            self.fail(node, "grouped or dilated transposed convolution")
        k, s = list(w.shape[2:]), list(self.attr(node, "strides", [1, 1]))
        pads = list(self.attr(node, "pads", [0, 0, 0, 0]))
        if self.attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            self.fail(node, "auto_pad other than VALID")
        if all(p == 0 for p in pads) and all(dst[2 + i] == (src[2 + i] - 1) * s[i] + k[i] for i in range(2)):
            padding = "VALID"
        elif all(dst[2 + i] == src[2 + i] * s[i] and pads[i] == (k[i] - s[i]) // 2 for i in range(2)):
            padding = "SAME"
        else:
            self.fail(node, "pads %s / output %s are neither TFLite's SAME (output = input * stride) nor VALID"
                      % (pads, dst))
        c_out = w.shape[1]
        b = np.zeros(c_out) if b is None else b.astype(np.float64)
        act, y_name = self.fuse_activation(node.outputs[0])
        wq, ws = qp.weights(w.transpose(1, 2, 3, 0), 0, self.per_channel)  # (C_out, KH, KW, C_in)
        bq, bs = qp.bias(b, self.qps[x.index][0], ws)
        shape = qp.nhwc_shape(dst)
        out_shape = self.const(node.outputs[0] + "/output_shape", list(shape), "int32")
        wt = self.const(node.inputs[1], wq, scale=ws, axis=0)
        bt = self.const(node.inputs[1] + "/bias", bq, "int32", scale=bs, axis=0)
        y = self.output(node, y_name, shape, layout="nhwc")
        self.emit("TRANSPOSE_CONV", [out_shape, wt, x.index, bt], [y],
                  {"padding": padding, "stride_h": s[0], "stride_w": s[1], "fused_activation_function": act}, 4)
