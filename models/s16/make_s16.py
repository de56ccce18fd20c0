"""Small Keras models quantized by TensorFlow's converter to 16x8 (int16 activations, int8 weights),
as its guide says, saved as models/s16/<name>.tflite; tests/test_s16_models.py runs each through
tinyml and compares the bytes with TFLM's. Their ops are those tinyml has int16 kernels for
(tinyml.ops.S16): residual16 has ADD and SUB; classifier16 ends in a softmax with tanh and sigmoid
layers; float_io16 keeps float32 input and output (QUANTIZE and DEQUANTIZE at its ends).

TensorFlow is not a dependency of tinyml or its tests: the .tflite files are committed. To remake
them (TensorFlow 2.21, tensorflow-cpu from PyPI, in a separate virtual environment):

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.*
    /tmp/tf/bin/python models/s16/make_s16.py [NAME ...]
"""
import os
import pathlib
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

keras = tf.keras
L = keras.layers
HERE = pathlib.Path(__file__).resolve().parent


def dense16():
    inp = keras.Input((40,))
    x = L.Dense(32, activation="relu")(inp)
    x = L.Dense(16, activation="relu")(x)
    return keras.Model(inp, L.Dense(10)(x))


def conv16():
    inp = keras.Input((16, 16, 1))
    x = L.Conv2D(8, 3, activation="relu")(inp)
    x = L.MaxPooling2D()(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Conv2D(12, 1, activation="relu")(x)
    x = L.AveragePooling2D(2)(x)
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(5)(x))


def residual16():
    inp = keras.Input((12, 12, 4))
    x = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = L.Add()([inp, x])
    x = L.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = L.Subtract()([x, L.Conv2D(8, 1)(L.MaxPooling2D(3, strides=2)(inp))])
    x = L.Flatten()(x)
    return keras.Model(inp, L.Dense(3)(x))


def classifier16():
    # softmax at the end, tanh and sigmoid between: TFLM's int16 SOFTMAX, TANH and LOGISTIC
    inp = keras.Input((20,))
    x = L.Dense(24, activation="tanh")(inp)
    x = L.Dense(16, activation="sigmoid")(x)
    return keras.Model(inp, L.Dense(6, activation="softmax")(x))


def float_io16():
    # float32 input and output (the converter's default): QUANTIZE float32 -> int16 in, DEQUANTIZE out
    inp = keras.Input((12,))
    x = L.Dense(16, activation="relu")(inp)
    return keras.Model(inp, L.Dense(4, activation="softmax")(x))


MODELS = {"dense16": dense16, "conv16": conv16, "residual16": residual16, "classifier16": classifier16,
          "float_io16": float_io16}
FLOAT_IO = ("float_io16",)


def to_16x8(model, rng, name):
    shape = model.inputs[0].shape[1:]

    def representative_dataset():
        for _ in range(32):
            yield [rng.normal(0, 1, (1,) + tuple(shape)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if name not in FLOAT_IO:
        converter.inference_input_type = tf.int16
        converter.inference_output_type = tf.int16
    return converter.convert()


def main(names):
    for name in names or MODELS:
        rng = np.random.default_rng(sorted(MODELS).index(name))
        keras.utils.set_random_seed(int(rng.integers(1 << 30)))
        data = to_16x8(MODELS[name](), rng, name)
        (HERE / (name + ".tflite")).write_bytes(data)
        print("%s: %d bytes" % (name, len(data)))


if __name__ == "__main__":
    main(sys.argv[1:])
