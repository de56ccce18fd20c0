"""`tinyml quantize MODEL --calibration DATA.npy -o OUT.tflite [--tml OUT.tml] [--per-tensor]
[--validation X.npy [--labels Y.npy]]`: a float model to an int8 TFLite model that TFLM and tinyml run."""

import os
import pathlib

import numpy as np

from tinyml_host.errors import ModelError
from tinyml_host.optimize import keras_tf, report
from tinyml_host.optimize.float_graph import FloatGraph, QuantizeError


class Result:
    """tflite (bytes), io (report.ModelIO, for the ONNX route), graph (FloatGraph), float_fn (Keras route)."""

    def __init__(self, tflite, io=None, graph=None, float_fn=None):
        self.tflite, self.io, self.graph, self.float_fn = tflite, io, graph, float_fn


def quantize(model, calibration, per_channel=True):
    """A float model (ONNX file, or Keras/SavedModel with TensorFlow) -> Result with int8 TFLite bytes."""
    if keras_tf.is_keras(model):
        tflite, float_fn = keras_tf.quantize(model, calibration)
        return Result(tflite, float_fn=float_fn)
    if not os.path.isfile(str(model)):
        raise QuantizeError("%s: no such file" % model)
    from tinyml_host.optimize.lower import lower  # the TFLite writer: loaded only when a command runs
    graph = FloatGraph(model, calibration)
    tflite, low = lower(graph, per_channel)
    return Result(tflite, report.ModelIO(graph, low), graph)


def _load(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise QuantizeError("%s %s: not a readable .npy file (%s)" % (what, path, e)) from None


def _write(path, data):
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def validate(result, xs, labels=None):
    """The report's rows for validation cases xs (float, as the float model takes them)."""
    from tinyml_host.oracle import tflm  # TFLM runs the int8 model: the reference tinyml matches
    if result.io is None:
        return _validate_keras(result, xs, labels)
    outs = tflm.tflm_run(result.tflite, [result.io.to_int8(xs)])
    return report.compare(result.graph, result.io, outs, xs, labels)


def _validate_keras(result, xs, labels):
    from tinyml_host.model.tflite_reader import read_tflite
    from tinyml_host.oracle import tflm
    from tinyml_host.optimize import qparams as qp
    m = read_tflite(result.tflite)
    t_in, t_out = m.tensors[m.inputs[0]], m.tensors[m.outputs[0]]
    q = qp.quantize(np.asarray(xs, np.float32).reshape((len(xs),) + t_in.shape), t_in.scale[0], t_in.zero_point[0])
    y = qp.dequantize(tflm.tflm_run(result.tflite, [q])[0], t_out.scale[0], t_out.zero_point[0])
    f = np.concatenate([result.float_fn(x[None]) for x in np.asarray(xs, np.float32)])
    y, f = y.reshape(len(xs), -1), f.reshape(len(xs), -1)
    row = {"output": t_out.name, "cases": len(xs), "max_abs_error": float(np.abs(y - f).max()),
           "mean_abs_error": float(np.abs(y - f).mean()), "float_range": (float(f.min()), float(f.max()))}
    if f.shape[1] > 1:
        row["top1_agreement"] = float(np.mean(f.argmax(1) == y.argmax(1)))
        if labels is not None:
            row["float_accuracy"] = float(np.mean(f.argmax(1) == np.asarray(labels).reshape(-1)))
            row["int8_accuracy"] = float(np.mean(y.argmax(1) == np.asarray(labels).reshape(-1)))
    return [row]


def _npy(a):
    import io
    f = io.BytesIO()
    np.save(f, a)
    return f.getvalue()


def _size(path):
    p = pathlib.Path(path)
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size


def cmd_quantize(a, out=print):
    if (a.int8_validation or a.labels) and not a.validation:
        raise QuantizeError("--int8-validation and --labels need --validation")
    calibration = _load(a.calibration, "calibration data")
    result = quantize(a.model, calibration, per_channel=not a.per_tensor)
    _write(a.output, result.tflite)
    out("wrote %s: int8 TFLite, %d bytes (float model %d bytes)" % (a.output, len(result.tflite), _size(a.model)))
    if result.graph is not None:
        for name in result.graph.dropped:
            out("left out output '%s': not float (a classifier's label; take the argmax of the scores)" % name)
        for line in result.io.describe():
            out("  " + line)
    from tinyml_host.model.convert import convert
    from tinyml_host.model.inspect import inspect
    from tinyml_host.oracle import tflm
    try:
        tml = convert(result.tflite, name=str(a.output))
    except ModelError as e:
        out("tinyml cannot run it yet (TFLM can): %s" % e)
        tml = None
    if tml is not None:
        if a.tml:
            _write(a.tml, tml)
            out("wrote %s: %d bytes" % (a.tml, len(tml)))
        figures = inspect(tml, a.output, out=lambda *_: None)
        out("%d MACs per inference, %d bytes of weights, tinyml activation arena %d bytes, TFLM arena %d bytes"
            % (figures["macs"], figures["weight_bytes"], figures["arena_bytes"], tflm.tflm_arena_bytes(result.tflite)))
    elif a.tml:
        raise QuantizeError("%s: not written, as tinyml cannot run the model" % a.tml)
    if a.validation:
        xs = _load(a.validation, "validation data")
        labels = _load(a.labels, "labels") if a.labels else None
        for line in report.format_rows(validate(result, xs, labels)):
            out(line)
        if a.int8_validation:
            if result.io is None:
                raise QuantizeError("--int8-validation is for ONNX models")
            _write(a.int8_validation, _npy(result.io.to_int8(xs)))
            out("wrote %s: the validation inputs as the int8 model takes them (for tinyml run and verify)"
                % a.int8_validation)
    return result
