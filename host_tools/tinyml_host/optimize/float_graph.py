"""A float ONNX model as the quantizer sees it: loaded and checked, batch fixed to 1, run by
onnxruntime over the calibration data to record every tensor's shape and range, with the tensors that
do not depend on the input (weights, shape arithmetic) folded to constants."""

import numpy as np

from tinyml_host.errors import ModelError


class QuantizeError(ModelError, ValueError):
    """A float model tinyml cannot quantize: the message names the node or input and what to change."""


INSTALL = "tinyml quantize needs onnx and onnxruntime: pip install 'tinyml[quantize]'"


def _import_onnx():
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise QuantizeError("%s (%s)" % (INSTALL, e)) from None
    return onnx, onnxruntime


class Node:
    """One ONNX node: op type, name, input and output names ('' for an absent optional input), attributes."""

    def __init__(self, op, name, inputs, outputs, attrs):
        self.op, self.name, self.inputs, self.outputs, self.attrs = op, name, inputs, outputs, attrs

    def where(self):
        return "node '%s' (%s)" % (self.name or self.outputs[0], self.op)


class FloatGraph:
    """nodes (topological order), inputs/outputs (names), const (name -> array), shape (name -> tuple),
    lo/hi (name -> float range over the calibration data), dropped (outputs that are not float)."""

    def __init__(self, path, calibration):
        onnx, ort = _import_onnx()
        try:
            model = onnx.load(str(path))
        except Exception as e:  # protobuf's DecodeError and friends: the file is not an ONNX model
            raise QuantizeError("%s: not a readable ONNX model (%s)" % (path, e)) from None
        self.path = str(path)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 21)
        g = model.graph
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer}
        self.inputs = [i.name for i in g.input if i.name not in inits]
        if len(self.inputs) != 1:
            raise QuantizeError("%s: %d graph inputs (%s); tinyml quantize takes models of one input"
                                % (path, len(self.inputs), ", ".join(self.inputs)))
        self._fix_batch(model, onnx)
        self.nodes = []
        for n in g.node:
            if n.domain not in ("", "ai.onnx", "ai.onnx.ml"):
                raise QuantizeError("%s: node '%s' is %s from the '%s' domain, which tinyml cannot quantize"
                                    % (path, n.name, n.op_type, n.domain))
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            self.nodes.append(Node(n.op_type, n.name, list(n.input), list(n.output), attrs))
        elem = {o.name: o.type.tensor_type.elem_type for o in g.output}
        self.outputs = [o for o in elem if elem[o] == onnx.TensorProto.FLOAT]
        self.dropped = [o for o in elem if elem[o] != onnx.TensorProto.FLOAT]
        if not self.outputs:
            raise QuantizeError("%s: no float32 output to quantize" % path)
        self.input_shape = self._input_shape(model)
        # every node output becomes a graph output, so one run shows every intermediate tensor
        known = {o.name for o in g.output}
        for n in g.node:
            for name in n.output:
                if name and name not in known:
                    g.output.append(onnx.ValueInfoProto(name=name))
                    known.add(name)
        try:
            self.session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception as e:
            raise QuantizeError("%s: onnxruntime cannot load it (%s)" % (path, e)) from None
        self.names = [o.name for o in self.session.get_outputs()]
        self.const = dict(inits)
        self._calibrate(np.asarray(calibration, np.float32))

    def _fix_batch(self, model, onnx):
        for i in model.graph.input:
            if i.name in self.inputs:
                dims = i.type.tensor_type.shape.dim
                if dims and not dims[0].dim_value:
                    dims[0].Clear()
                    dims[0].dim_value = 1
        del model.graph.value_info[:]  # shapes inferred for a dynamic batch no longer hold

    def _input_shape(self, model):
        for i in model.graph.input:
            if i.name == self.inputs[0]:
                dims = [d.dim_value for d in i.type.tensor_type.shape.dim]
                if any(d <= 0 for d in dims[1:]):
                    raise QuantizeError("%s: input '%s' has a dynamic dimension besides the batch (%s); "
                                        "export the model with a fixed input shape"
                                        % (self.path, i.name, [d or "?" for d in dims]))
                if dims[0] != 1:
                    raise QuantizeError("%s: input '%s' has batch %d; export it with batch 1 or a dynamic batch"
                                        % (self.path, i.name, dims[0]))
                return tuple(dims)

    def run(self, x):
        """All tensors of one case x (of the input's shape without batch): name -> array."""
        values = self.session.run(None, {self.inputs[0]: x.reshape(self.input_shape).astype(np.float32)})
        return dict(zip(self.names, values))

    def predict(self, xs):
        """The float model's outputs over cases xs: one array (N, *shape) per kept output."""
        cols = [[] for _ in self.outputs]
        for x in xs:
            values = self.session.run(self.outputs, {self.inputs[0]: x.reshape(self.input_shape)})
            for col, v in zip(cols, values):
                col.append(v.reshape(v.shape[1:]) if v.shape[:1] == (1,) else v)
        return [np.stack(c) for c in cols]

    def _calibrate(self, xs):
        want = self.input_shape[1:]
        if xs.ndim < 1 or tuple(xs.shape[1:]) != want:
            raise QuantizeError("calibration data of shape %s; expected (N, %s) for input '%s'"
                                % (xs.shape, ", ".join(map(str, want)), self.inputs[0]))
        if len(xs) == 0 or not np.all(np.isfinite(xs)):
            raise QuantizeError("calibration data must be non-empty and finite")
        self.lo, self.hi, self.shape = {}, {}, {}
        name = self.inputs[0]
        self.lo[name], self.hi[name], self.shape[name] = float(xs.min()), float(xs.max()), self.input_shape
        first = None
        for x in xs:
            values = self.run(x)
            if first is None:
                first = values
            for k, v in values.items():
                if v.dtype.kind != "f":
                    continue
                if not np.all(np.isfinite(v)):
                    raise QuantizeError("tensor '%s' is not finite on a calibration case" % k)
                self.lo[k] = min(self.lo.get(k, np.inf), float(v.min()) if v.size else 0.0)
                self.hi[k] = max(self.hi.get(k, -np.inf), float(v.max()) if v.size else 0.0)
        for k, v in first.items():
            self.shape[k] = tuple(v.shape)
        self._fold_constants(first)

    def _fold_constants(self, values):
        """A node whose inputs are all constants (or shapes, fixed now the batch is 1) is a constant."""
        for n in self.nodes:
            if n.op in ("Constant", "Shape") or all(i == "" or i in self.const for i in n.inputs):
                for o in n.outputs:
                    if o in values:
                        self.const[o] = values[o]

    def consumers(self, name):
        return [n for n in self.nodes if name in n.inputs]

    def needed(self):
        """Nodes the kept outputs depend on, in order (the label branch of a classifier is left out)."""
        want, keep = set(self.outputs), []
        for n in reversed(self.nodes):
            if any(o in want for o in n.outputs):
                keep.append(n)
                want.update(i for i in n.inputs if i)
        return [n for n in reversed(keep) if not all(o in self.const for o in n.outputs if o)]
