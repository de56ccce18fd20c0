"""The Keras route: a .keras/.h5/SavedModel through TensorFlow's own TFLiteConverter (full-integer int8,
the calibration data as representative dataset, batch fixed to 1), when TensorFlow is installed."""

import os

import numpy as np

from tinyml_host.optimize.float_graph import QuantizeError

ONNX_ROUTE = ("TensorFlow is not installed, and tinyml quantizes Keras models through it. Without "
              "TensorFlow, export the model to ONNX and quantize that: in Keras 3, "
              "model.export('model.onnx', format='onnx'); for tf.keras, python -m tf2onnx.convert "
              "--saved-model DIR --output model.onnx; then tinyml quantize model.onnx --calibration ...")


def is_keras(path):
    path = str(path)
    if os.path.isdir(path):
        return os.path.exists(os.path.join(path, "saved_model.pb"))
    return path.endswith((".keras", ".h5", ".hdf5"))


def _tf():
    try:
        import tensorflow as tf
    except ImportError:
        raise QuantizeError(ONNX_ROUTE) from None
    return tf


def load(path):
    tf = _tf()
    if os.path.isdir(str(path)):
        return tf, tf.saved_model.load(str(path))
    return tf, tf.keras.models.load_model(str(path), compile=False)


def quantize(path, calibration):
    """(int8 .tflite bytes, a function running the float model on a batch)."""
    tf, model = load(path)
    xs = np.asarray(calibration, np.float32)
    if hasattr(model, "inputs") and model.inputs:
        # the same layers on an input of batch 1: no dynamic batch left for the converter to carry
        # into the graph as SHAPE/STRIDED_SLICE/PACK (what a Flatten gives otherwise)
        keras = tf.keras
        inp = keras.Input(tuple(xs.shape[1:]), batch_size=1, dtype=model.inputs[0].dtype)
        conv = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, model(inp)))
        float_fn = lambda batch: np.asarray(model(batch, training=False))  # noqa: E731
    else:
        conv = tf.lite.TFLiteConverter.from_saved_model(str(path))
        sig = model.signatures["serving_default"]
        float_fn = lambda batch: np.asarray(list(sig(tf.constant(batch)).values())[0])  # noqa: E731

    def representative():
        for x in xs:
            yield [x[None]]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    try:
        return conv.convert(), float_fn
    except Exception as e:
        raise QuantizeError("%s: TensorFlow's converter failed: %s" % (path, e)) from None
