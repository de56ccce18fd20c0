"""The model zoo: small Keras models written as a user writes them (Keras defaults, random weights),
quantized to int8 by TensorFlow's own converter as its guide says, saved as models/zoo/<name>.tflite.
tests/test_zoo.py runs each through tinyml and compares the bytes with TFLM's.

TensorFlow is not a dependency of tinyml or its tests: the .tflite files are committed. To remake
them (TensorFlow 2.21, tensorflow-cpu from PyPI, in a separate virtual environment):

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.*
    /tmp/tf/bin/python models/zoo/make_zoo.py [NAME ...]
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


def flatten_cnn():
    inp = keras.Input((28, 28, 1))
    x = L.Conv2D(8, 3, activation="relu")(inp)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(16, 3, activation="relu")(x)
    x = L.MaxPooling2D()(x)
    x = L.Flatten()(x)
    x = L.Dense(32, activation="relu")(x)
    return keras.Model(inp, L.Dense(10, activation="softmax")(x))


def conv1d_gap():
    inp = keras.Input((128, 3))
    x = L.Conv1D(16, 5, activation="relu")(inp)
    x = L.MaxPooling1D()(x)
    x = L.Conv1D(32, 5, activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inp, L.Dense(6, activation="softmax")(x))


# The recurrent layers are unrolled: TensorFlow 2.21's converter writes a fused LSTM (TFLite's
# UNIDIRECTIONAL_SEQUENCE_LSTM, fixed batch only) but its int8 calibration crashes on it (a segmentation
# fault in calibrator._feed_tensors), and a GRU the same way; unroll=True gives the steps as
# FULLY_CONNECTED, elementwise and activation ops, which quantize.
def lstm():
    inp = keras.Input((20, 8), batch_size=1)
    x = L.LSTM(16, unroll=True)(inp)
    return keras.Model(inp, L.Dense(4, activation="softmax")(x))


def gru():
    inp = keras.Input((20, 8), batch_size=1)
    x = L.GRU(16, unroll=True)(inp)
    return keras.Model(inp, L.Dense(4, activation="softmax")(x))


def dense_autoencoder():
    inp = keras.Input((64,))
    x = L.Dense(32, activation="relu")(inp)
    x = L.Dense(8, activation="relu")(x)
    x = L.Dense(32, activation="relu")(x)
    return keras.Model(inp, L.Dense(64, activation="sigmoid")(x))


def mobilenet_v2():
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=2)


def mobilenet_v3_small():
    """As for transfer learning: the base without its 1024-wide head, average pooled, a new classifier."""
    base = keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), alpha=0.5, weights=None,
                                               include_top=False, pooling="avg", include_preprocessing=False)
    return keras.Model(base.input, L.Dense(2, activation="softmax")(base.output))


def unet():
    """UpSampling2D bilinear: Keras 3's default (nearest) is written as EXPAND_DIMS, TILE and RESHAPE over
    5-D tensors, and TFLM has no TILE kernel, so TFLM itself cannot run that model."""
    inp = keras.Input((32, 32, 1))
    c1 = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    p1 = L.MaxPooling2D()(c1)
    c2 = L.Conv2D(16, 3, padding="same", activation="relu")(p1)
    p2 = L.MaxPooling2D()(c2)
    b = L.Conv2D(32, 3, padding="same", activation="relu")(p2)
    u2 = L.Concatenate()([L.UpSampling2D(interpolation="bilinear")(b), c2])
    c3 = L.Conv2D(16, 3, padding="same", activation="relu")(u2)
    u1 = L.Concatenate()([L.UpSampling2D(interpolation="bilinear")(c3), c1])
    c4 = L.Conv2D(8, 3, padding="same", activation="relu")(u1)
    return keras.Model(inp, L.Conv2D(1, 1, activation="sigmoid")(c4))


def conv_transpose_decoder():
    inp = keras.Input((16,))
    x = L.Dense(4 * 4 * 16, activation="relu")(inp)
    x = L.Reshape((4, 4, 16))(x)
    x = L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
    return keras.Model(inp, L.Conv2D(1, 3, padding="same", activation="sigmoid")(x))


def ds_cnn_kws():
    inp = keras.Input((49, 10, 1))
    x = L.Conv2D(32, (10, 4), strides=(2, 2), padding="same")(inp)
    x = L.ReLU()(L.BatchNormalization()(x))
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same")(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.Conv2D(32, 1)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(12, activation="softmax")(x))


def two_inputs():
    image = keras.Input((16, 16, 1), name="image")
    meta = keras.Input((5,), name="meta")
    x = L.Conv2D(8, 3, activation="relu")(image)
    x = L.MaxPooling2D()(x)
    x = L.Flatten()(x)
    y = L.Dense(8, activation="relu")(meta)
    z = L.Concatenate()([x, y])
    return keras.Model([image, meta], L.Dense(3, activation="softmax")(z))


ZOO = [flatten_cnn, conv1d_gap, lstm, gru, dense_autoencoder, mobilenet_v2, mobilenet_v3_small, unet,
       conv_transpose_decoder, ds_cnn_kws, two_inputs]


def randomize_batchnorm(model, rng):
    """Random weights are Keras's; BatchNormalization's moving statistics get values a trained model has."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])


def to_int8(model, rng):
    """Full-integer quantization as TensorFlow's guide writes it."""
    shapes = {i.name: tuple(i.shape[1:]) for i in model.inputs}

    def representative_dataset():  # by input name: the converter's signature orders inputs its own way
        for _ in range(50):
            yield {k: rng.uniform(-1, 1, (1,) + s).astype(np.float32) for k, s in shapes.items()}

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def main(names):
    if not names:  # each model in a process of its own: TensorFlow's converter can crash on one
        import subprocess
        failed = [b.__name__ for b in ZOO if subprocess.run([sys.executable, __file__, b.__name__]).returncode]
        if failed:
            sys.exit("TensorFlow could not convert: " + ", ".join(failed))
        return
    for build in ZOO:
        if build.__name__ not in names:
            continue
        keras.utils.set_random_seed(ZOO.index(build))
        model = build()
        rng = np.random.default_rng(ZOO.index(build))
        randomize_batchnorm(model, rng)
        data = to_int8(model, rng)
        (HERE / (build.__name__ + ".tflite")).write_bytes(data)
        print("%-24s %8d bytes  %d params" % (build.__name__, len(data), model.count_params()))


if __name__ == "__main__":
    main(sys.argv[1:])
