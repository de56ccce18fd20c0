# The interpreter's half of the stateful ops (SVDF, UNIDIRECTIONAL_SEQUENCE_LSTM), imported by a load
# only for a model that has them: each op bound to its kernel (the native module's, else viper's or
# Python's, in modules of their own) with its g, and the state's reset. The state is the model's
# variable tensors (docs/model-format.md): planned in the arena for the whole life of the model, so it
# carries over from one run() to the next, as TFLM keeps its variable tensors between invokes.
import sys
from array import array
from tinyml.ops import const

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_SVDF_BATCH = const(0)
_SVDF_N_INPUT = const(1)
_SVDF_N_FILTER = const(2)
_SVDF_MEMORY = const(3)
_SVDF_N_UNIT = const(4)
_SVDF_PARAMS = const(5)
_LSTM_STEPS = const(0)
_LSTM_N_INPUT = const(1)
_LSTM_N_STATE = const(2)
_LSTM_PARAMS = const(3)
# ---- end of g's slots ----


def _kernel(model, kernel):
    fn = getattr(model._k, kernel, None)
    if fn is None:  # viper and Python: in a module of their own, loaded by a model that needs it
        name = "tinyml.kernels_viper_recurrent" if model.backend == "viper" else "tinyml.kernels_py_recurrent"
        __import__(name)
        fn = getattr(sys.modules[name], kernel)
    return fn


def _whole(reads, fn, args):
    # a streamed model: the op's constants read from the file into the weight window, then the kernel
    f = reads[0]
    for offset, view in reads[1:]:
        f.seek(offset)
        f.readinto(view)
    fn(*args)


def bind(model, op, kernel):
    """(kernel function, its arguments) of one stateful op (kernel svdf or lstm). When the model streams,
    its constants are read whole into the weight window before each call (ops.py's "whole")."""
    ins = [model.tensors[i] for i in op.inputs]
    data = [model._data[i] for i in op.inputs]
    reads = None
    if model._file is not None:
        reads = [model._file]
        at = 0
        for k, t in enumerate(ins):
            if t.const:
                data[k] = model._window[at:at + t.nbytes]
                reads.append((t.offset, data[k]))
                at += (t.nbytes + 3) & ~3
    args = tuple(data) + (model._data[op.outputs[0]],)
    fn, args = _bound(model, op, kernel, ins, args)
    return (fn, args) if reads is None else (_whole, (tuple(reads), fn, args))


def _bound(model, op, kernel, ins, args):
    fn = _kernel(model, kernel)
    if kernel == "svdf":
        g = array("i", bytes(4 * _SVDF_PARAMS) + bytes(array("i", op.params)))
        g[_SVDF_BATCH], g[_SVDF_N_INPUT] = ins[0].shape
        g[_SVDF_N_FILTER], g[_SVDF_MEMORY] = ins[2].shape
        g[_SVDF_N_UNIT] = ins[3].shape[0]
        return fn, args + (bytearray(4 * g[_SVDF_BATCH] * g[_SVDF_N_FILTER]), g)  # int32 accumulators
    n_in, n = ins[0].shape[2], ins[5].nbytes
    g = array("i", bytes(4 * _LSTM_PARAMS) + bytes(array("i", op.params)))
    g[_LSTM_STEPS], g[_LSTM_N_INPUT], g[_LSTM_N_STATE] = ins[0].nbytes // n_in, n_in, n
    return fn, args + (bytearray(40 * n), g)  # a step's 8n int32 accumulators, its gates' 4n int16 activations


def reset(model):
    """Each variable tensor to its zero point (int8) or 0, as TFLM's interpreter reset() leaves it."""
    for t in model.tensors:
        if t.variable:
            model._data[t.index][:] = bytes([t.zero_point & 0xFF if t.dtype == 1 else 0]) * t.nbytes
