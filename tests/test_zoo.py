"""The model zoo (models/zoo, made by models/zoo/make_zoo.py with TensorFlow's own converter from Keras
models written with Keras defaults): each converts, and tinyml's bytes equal TFLM's (tflite-micro run
in the same test) on the real MicroPython unix port with the native backend, with viper and Python on
the small ones too, and on the emulated Cortex-M3 for models that fit its heap. Every model of the
zoo runs (a new one fails test_the_zoo_is_all_here until it is checked here)."""
import pathlib

import numpy as np
import pytest

from tinyml_host.board import unix as board_unix
from tinyml_host.cli import main as cli
from tinyml_host.model.convert import convert
from tinyml_host.model.tflite_reader import read_tflite
from tinyml_host.oracle import tflm as oracle

ZOO = pathlib.Path(__file__).resolve().parents[1] / "models" / "zoo"
ALL_BACKENDS = ("native", "viper", "python")
# model: backends checked on the unix port (the big ones natively only: the pure Python backend takes
# minutes on a MobileNet)
CHECKED = {
    "flatten_cnn": ALL_BACKENDS,
    "conv1d_gap": ALL_BACKENDS,
    "dense_autoencoder": ALL_BACKENDS,
    "mobilenet_v2": ("native",),
    "mobilenet_v3_small": ("native",),
    "unet": ALL_BACKENDS,
    "conv_transpose_decoder": ALL_BACKENDS,
    "ds_cnn_kws": ("native", "viper"),
    "two_inputs": ALL_BACKENDS,
    "lstm": ("native", "viper"),
    "gru": ("native", "viper"),
}
ON_QEMU_M3 = {"flatten_cnn": ("native", "viper"), "conv1d_gap": ("native",), "conv_transpose_decoder": ("native", "viper"),
              "two_inputs": ("native",)}


def model_inputs(path, n=3):
    """n random int8 cases of each model input, and the model's two edge cases (all -128, all 127)."""
    m = read_tflite(path.read_bytes())
    rng = np.random.default_rng(len(path.name))
    out = []
    for i in m.inputs:
        shape = tuple(m.tensors[i].shape)
        out.append(np.concatenate([rng.integers(-128, 128, (n,) + shape), np.full((1,) + shape, -128),
                                   np.full((1,) + shape, 127)]).astype(np.int8))
    return out


def test_the_zoo_is_all_here():
    assert sorted(p.stem for p in ZOO.glob("*.tflite")) == sorted(CHECKED)


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_zoo_model_matches_tflm(tmp_path, name):
    path = ZOO / (name + ".tflite")
    inputs = model_inputs(path)
    expected = oracle.tflm_run(str(path), inputs)
    tml = tmp_path / (name + ".tml")
    tml.write_bytes(convert(str(path), name))
    for backend in CHECKED[name]:
        ys, info = board_unix.run_model(tml, inputs, backend)
        assert info["backend"] == backend
        for e, y in zip(expected, ys):
            np.testing.assert_array_equal(y.reshape(e.shape), e, err_msg="%s on %s differs from TFLM" % (name, backend))
    assert any(len(np.unique(e)) > 1 for e in expected)  # not one constant answer


def test_zoo_on_qemu_m3(qemu_m3, tmp_path, capsys):
    """Small zoo models deployed to the emulated Cortex-M3 (its 140 KB heap) and checked against TFLM
    on the host (`tinyml verify`): one board session. The Conv2DTranspose decoder runs
    TRANSPOSE_CONV on the board, the two-input model both inputs."""
    for name in ON_QEMU_M3:
        path = ZOO / (name + ".tflite")
        inputs = model_inputs(path)
        given = []
        for k, x in enumerate(inputs):
            np.save(tmp_path / ("%s.input%d.npy" % (name, k)), x)
            given += ["--input", str(tmp_path / ("%s.input%d.npy" % (name, k)))]
        assert cli.main(["deploy", str(path), "--board", qemu_m3]) == 0
        for backend in ON_QEMU_M3[name]:
            capsys.readouterr()
            assert cli.main(["verify", str(path)] + given + ["--board", qemu_m3, "--backend", backend]) == 0
            out = capsys.readouterr().out
            n = len(inputs[0])
            assert "%d/%d cases match TFLM bit for bit on qemu-m3, backend %s" % (n, n, backend) in out, out[-500:]
