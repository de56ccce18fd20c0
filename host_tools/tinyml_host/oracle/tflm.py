"""Run models in TFLM's own interpreter (PyPI tflite-micro): the reference tinyml must match (tests, verify, bench)."""

import os
import re
import sys
import tempfile

import numpy as np
from tflite_micro import runtime


def _model_bytes(model):
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as f:
            return f.read()
    return bytes(model)


def interpreter(model, arena_size=None):
    """TFLM's interpreter for a model (path or bytes)."""
    data = _model_bytes(model)
    # The default arena (10x the model) is too small for tiny test models with large activations.
    arena_size = arena_size or max(10 * len(data), 256 * 1024)
    return runtime.Interpreter.from_bytes(data, arena_size=arena_size)


def _n_outputs(data):
    return len(runtime.convert_bytearray_to_object(data).subgraphs[0].outputs)


def tflm_run(model, inputs, arena_size=None):
    """Run each case through TFLM: inputs[k] has shape (N, *input_k_shape); returns the outputs,
    each (N, *output_shape). The cases run in order on one interpreter, reset once before the first:
    a stateful model's state (SVDF, LSTM) carries from case to case, as a board runs them (TFLM keeps
    its variable tensors between invokes until reset())."""
    data = _model_bytes(model)
    interp = interpreter(data, arena_size)
    n_cases = len(inputs[0])
    outputs = [[] for _ in range(_n_outputs(data))]
    interp.reset()
    for case in range(n_cases):
        for k, x in enumerate(inputs):
            interp.set_input(np.ascontiguousarray(x[case]), k)
        interp.invoke()
        for j, out in enumerate(outputs):
            out.append(np.array(interp.get_output(j)))
    return [np.stack(out) for out in outputs]


def tflm_arena_bytes(model, arena_size=None):
    """Bytes of tensor arena TFLM used for the model (its RecordingMicroAllocator's total)."""
    interp = interpreter(_model_bytes(model), arena_size)
    report = _capture_stderr(interp.print_allocations)  # the C++ side prints to fd 2
    m = re.search(r"Arena allocation total (\d+) bytes", report)
    if not m:
        raise RuntimeError("no arena total in TFLM's report: %r" % report[:200])
    return int(m.group(1))


def _capture_stderr(fn):
    sys.stderr.flush()
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        return f.read().decode("utf-8", "replace")
