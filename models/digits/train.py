"""The worked example of `tinyml quantize`: scikit-learn's bundled 8x8 handwritten digits (no download),
a float classifier trained here, exported to ONNX, then quantized to int8 by tinyml (README, "Quantize").

    python models/digits/train.py [OUT_DIR]         # digits_mlp.onnx (scikit-learn MLPClassifier)
    python models/digits/train.py --torch [OUT_DIR]  # digits_cnn.onnx (a small PyTorch CNN) as well
    python models/digits/train.py --keras [OUT_DIR]  # digits_keras.onnx and digits_keras_1d.onnx (Conv1D),
                                                     # Keras 3 on its torch backend

Also writes the data as the float models take them: calibration.npy (300 training images as rows
of 64), validation.npy and labels.npy (the 397 held-out images and their digits), and the same images
shaped (N, 1, 8, 8) for the PyTorch CNN: calibration_images.npy, validation_images.npy, and
(N, 8, 8, 1) for the Keras one: calibration_nhwc.npy, validation_nhwc.npy (the Conv1D model takes
the rows as 8 steps of 8 channels: calibration.npy reshaped to (N, 8, 8)). Needs scikit-learn and
skl2onnx (pip install 'tinyml[quantize]'); --torch needs torch, --keras keras and torch (no TensorFlow).
The .onnx files are committed beside this script, so the tests need neither.
"""
import os
import sys

import numpy as np

SPLIT = 1400  # the first 1400 images train, the other 397 are held out


def data():
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def train_mlp(out_dir):
    from sklearn.neural_network import MLPClassifier
    from skl2onnx import to_onnx
    x, y = data()
    clf = MLPClassifier((32,), max_iter=1000, random_state=0).fit(x[:SPLIT], y[:SPLIT])
    print("scikit-learn MLP: held-out accuracy %.4f" % clf.score(x[SPLIT:], y[SPLIT:]))
    onnx_model = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset=17)
    with open(os.path.join(out_dir, "digits_mlp.onnx"), "wb") as f:
        f.write(onnx_model.SerializeToString())


def train_cnn(out_dir):
    import torch
    from torch import nn
    torch.manual_seed(0)
    x, y = data()
    x = x.reshape(-1, 1, 8, 8)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6(),    # depthwise
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * 2 * 2, 10), nn.Softmax(dim=1))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    xt, yt = torch.from_numpy(x[:SPLIT]), torch.from_numpy(y[:SPLIT])
    for epoch in range(40):
        for i in range(0, SPLIT, 64):
            opt.zero_grad()
            p = model(xt[i:i + 64])
            loss = nn.functional.nll_loss(torch.log(p + 1e-9), yt[i:i + 64])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(x[SPLIT:])).argmax(1).numpy() == y[SPLIT:]).mean()
    print("PyTorch CNN: held-out accuracy %.4f" % acc)
    torch.onnx.export(model, (torch.from_numpy(x[:1]),), os.path.join(out_dir, "digits_cnn.onnx"),
                      input_names=["image"], output_names=["probabilities"],
                      dynamic_axes={"image": {0: "batch"}}, opset_version=17, dynamo=False)


def train_keras(out_dir):
    """Keras 3 as users write it: channels-last images, Conv2D with activations, BatchNormalization,
    GlobalAveragePooling2D; exported with model.export(format="onnx")."""
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    from keras import layers
    keras.utils.set_random_seed(0)
    x, y = data()
    x = x.reshape(-1, 8, 8, 1)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"), layers.BatchNormalization(),
        layers.MaxPooling2D(), layers.DepthwiseConv2D(3, padding="same", activation="relu6"),
        layers.Conv2D(32, 1, activation="relu"), layers.GlobalAveragePooling2D(),
        layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:SPLIT], y[:SPLIT], epochs=60, batch_size=32, verbose=0)
    print("Keras CNN: held-out accuracy %.4f" % model.evaluate(x[SPLIT:], y[SPLIT:], verbose=0)[1])
    model.export(os.path.join(out_dir, "digits_keras.onnx"), format="onnx")
    # the same digits as sequences, as an accelerometer model sees its window: 8 steps of 8 channels
    seq = keras.Sequential([
        keras.Input((8, 8)),
        layers.Conv1D(16, 3, padding="same", activation="relu"), layers.MaxPooling1D(2),
        layers.Conv1D(32, 3, padding="same", activation="relu"), layers.GlobalAveragePooling1D(),
        layers.Dense(10, activation="softmax")])
    seq.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    xs = x.reshape(-1, 8, 8)
    seq.fit(xs[:SPLIT], y[:SPLIT], epochs=60, batch_size=32, verbose=0)
    print("Keras Conv1D: held-out accuracy %.4f" % seq.evaluate(xs[SPLIT:], y[SPLIT:], verbose=0)[1])
    seq.export(os.path.join(out_dir, "digits_keras_1d.onnx"), format="onnx")


def main(argv):
    torch_too, keras_too = "--torch" in argv, "--keras" in argv
    args = [a for a in argv if a not in ("--torch", "--keras")]
    out_dir = args[0] if args else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out_dir, exist_ok=True)
    x, y = data()
    np.save(os.path.join(out_dir, "calibration.npy"), x[:300])
    np.save(os.path.join(out_dir, "validation.npy"), x[SPLIT:])
    np.save(os.path.join(out_dir, "labels.npy"), y[SPLIT:])
    images = x.reshape(-1, 1, 8, 8)  # as the CNN takes them: (N, channels, height, width)
    np.save(os.path.join(out_dir, "calibration_images.npy"), images[:300])
    np.save(os.path.join(out_dir, "validation_images.npy"), images[SPLIT:])
    np.save(os.path.join(out_dir, "calibration_nhwc.npy"), x.reshape(-1, 8, 8, 1)[:300])  # as Keras takes them
    np.save(os.path.join(out_dir, "validation_nhwc.npy"), x.reshape(-1, 8, 8, 1)[SPLIT:])
    train_mlp(out_dir)
    if torch_too:
        train_cnn(out_dir)
    if keras_too:
        train_keras(out_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
