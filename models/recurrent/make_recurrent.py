"""TFLM's own stateful models, the test models of tinyml's SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM
(tests/test_stateful_ops.py compares tinyml's bytes with TFLM's over runs, the state carried):

- keyword_svdf.tflite: TFLM's keyword benchmark model (tensorflow/lite/micro/models/
  keyword_scrambled.tflite: 7 SVDF of rank 1 and memory 8, int16 time weights and state, 5
  FULLY_CONNECTED) cut to its int8 core, ops 1 to 12: the original's first QUANTIZE (int16 to int8)
  and last SOFTMAX (int8 to int16) and QUANTIZE (int16 to int32) are int16 ops tinyml lacks.
  Its weights are scrambled (it is a benchmark), its quantization TFLite's converter's; its final
  scores are constant for any input, so every op's output is a model output here (12 outputs), and
  the test compares them all.
- mnist_lstm_int8.tflite: TFLM's mnist_lstm example (tensorflow/lite/micro/examples/mnist_lstm/
  trained_lstm_int8.tflite), copied as it is: a Keras LSTM(20) over 28 steps of 28 pixels, quantized
  to int8 by TensorFlow's converter. TensorFlow 2.21's converter cannot make such a model (its int8
  calibration of a fused LSTM crashes: models/zoo/make_zoo.py), so this is the converter-made one.

Both are TFLM's, Apache-2.0 (see NOTICE here). To remake them from a tflite-micro checkout:
    .venv/bin/python models/recurrent/make_recurrent.py PATH/TO/tflite-micro
"""
import pathlib
import sys

from tinyml_host.model.tflite_reader import read_tflite
from tinyml_host.oracle import tflite_build as tb

HERE = pathlib.Path(__file__).resolve().parent


def cut(model, first, last):
    """A model of ops first..last of a one-subgraph model: the tensors they use, renumbered; its
    input the first op's activation input, its outputs every op's output."""
    ops = model.operators[first:last + 1]
    used = sorted({i for op in ops for i in op.inputs + op.outputs if i >= 0})
    index = {t: k for k, t in enumerate(used)}
    tensors = []
    for t in (model.tensors[i] for i in used):
        tensors.append(tb.Tensor(tuple(t.shape), t.dtype.name, [float(s) for s in t.scale] or None,
                                 [int(z) for z in t.zero_point] or 0, t.data, 0, t.name, None, t.is_variable))
    new_ops = [tb.Op(op.name, [index[i] if i >= 0 else -1 for i in op.inputs], [index[i] for i in op.outputs],
                     dict(op.options), op.version) for op in ops]
    return tb.build_model(new_ops, tensors, [index[ops[0].inputs[0]]], [index[op.outputs[0]] for op in ops],
                          description="TFLM keyword_scrambled.tflite, ops %d..%d" % (first, last))


def main(tflm):
    src = pathlib.Path(tflm) / "tensorflow" / "lite" / "micro"
    keyword = read_tflite((src / "models" / "keyword_scrambled.tflite").read_bytes())
    (HERE / "keyword_svdf.tflite").write_bytes(cut(keyword, 1, 12))
    lstm = (src / "examples" / "mnist_lstm" / "trained_lstm_int8.tflite").read_bytes()
    (HERE / "mnist_lstm_int8.tflite").write_bytes(lstm)


if __name__ == "__main__":
    main(sys.argv[1])
