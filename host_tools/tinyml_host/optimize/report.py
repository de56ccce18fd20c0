"""What quantizing cost: the int8 model (run in TFLM) beside the float model (run in onnxruntime) on
validation data, per output; sizes before and after; MACs and activation RAM."""

import numpy as np

from tinyml_host.optimize import qparams as qp
from tinyml_host.optimize.float_graph import QuantizeError


class ModelIO:
    """How the float model's input and outputs map to the int8 model's: layout and quantization."""

    def __init__(self, graph, low):
        self.input_shape = graph.input_shape
        self.input_layout = low.input_layout
        self.input_qp = low.input_qp
        self.outputs = [(name, graph.shape[name], v.layout, q)
                        for name, v, q in zip(graph.outputs, low.output_values, low.output_qps)]

    def to_int8(self, xs):
        """Float cases (N, *input shape without batch), as the float model takes them -> int8 model inputs."""
        xs = np.asarray(xs, np.float32).reshape((len(xs),) + tuple(self.input_shape))
        if self.input_layout == "nhwc":
            xs = np.stack([qp.to_nhwc(x) for x in xs])
        return qp.quantize(xs, *self.input_qp)

    def from_int8(self, k, ys):
        """int8 outputs k (N, *tflite shape) -> float, in the float model's layout (N, *shape without batch)."""
        name, shape, layout, (scale, zp) = self.outputs[k]
        y = qp.dequantize(ys, scale, zp)
        if layout == "nhwc":
            y = np.stack([qp.from_nhwc(c, shape) for c in y])
        return y.reshape((len(ys),) + tuple(shape[1:]))

    def describe(self):
        lines = []
        lay = " channels-last (NHWC: transpose your NCHW data)" if self.input_layout == "nhwc" else ""
        lines.append("input: int8, scale %.6g, zero point %d%s: q = round(x / scale) + zero_point"
                     % (self.input_qp + (lay,)))
        for name, shape, layout, (scale, zp) in self.outputs:
            lay = " channels-last" if layout == "nhwc" else ""
            lines.append("output '%s': int8, scale %.6g, zero point %d%s: y = (q - zero_point) * scale"
                         % (name, scale, zp, lay))
        return lines


def compare(graph, io, int8_outputs, xs, labels=None):
    """Per-output figures of int8 against float over validation cases xs: a list of dicts."""
    xs = np.asarray(xs, np.float32)
    if tuple(xs.shape[1:]) != tuple(graph.input_shape[1:]):
        raise QuantizeError("validation data of shape %s; expected (N, %s)"
                            % (xs.shape, ", ".join(map(str, graph.input_shape[1:]))))
    floats = graph.predict(xs)
    rows = []
    for k, (f, q) in enumerate(zip(floats, int8_outputs)):
        name = io.outputs[k][0]
        deq = io.from_int8(k, q)
        f = f.reshape(deq.shape)
        err = np.abs(deq - f)
        row = {"output": name, "cases": len(xs), "max_abs_error": float(err.max()),
               "mean_abs_error": float(err.mean()), "float_range": (float(f.min()), float(f.max()))}
        flat_f, flat_q = f.reshape(len(f), -1), deq.reshape(len(deq), -1)
        if flat_f.shape[1] > 1:  # a classifier's scores: does the int8 model pick the same class?
            row["top1_agreement"] = float(np.mean(flat_f.argmax(1) == flat_q.argmax(1)))
            if labels is not None:
                labels = np.asarray(labels).reshape(-1)
                if len(labels) != len(xs):
                    raise QuantizeError("%d labels for %d validation cases" % (len(labels), len(xs)))
                row["float_accuracy"] = float(np.mean(flat_f.argmax(1) == labels))
                row["int8_accuracy"] = float(np.mean(flat_q.argmax(1) == labels))
        rows.append(row)
    return rows


def format_rows(rows):
    lines = []
    for r in rows:
        s = "output '%s' over %d cases: " % (r["output"], r["cases"])
        if "top1_agreement" in r:
            s += "top-1 agreement with float %.2f %%, " % (100 * r["top1_agreement"])
        s += "abs error max %.4g mean %.4g (float range %.4g..%.4g)" % (
            (r["max_abs_error"], r["mean_abs_error"]) + r["float_range"])
        if "int8_accuracy" in r:
            s += "; accuracy on the labels: float %.2f %%, int8 %.2f %%" % (
                100 * r["float_accuracy"], 100 * r["int8_accuracy"])
        lines.append(s)
    return lines
