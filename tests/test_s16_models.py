"""Whole 16x8 models (int16 activations, int8 weights) made by TensorFlow's own converter from Keras
models (models/s16/make_s16.py): each converts, and tinyml's bytes equal TFLM's (tflite-micro run in the
same test) on the real MicroPython unix port with every backend, and on the emulated Cortex-M3 through
`tinyml deploy` and `tinyml verify` with int16 .npy inputs."""
import pathlib

import numpy as np
import pytest

from conftest import BACKENDS
from tinyml_host.board import unix as board_unix
from tinyml_host.cli import main as cli
from tinyml_host.model.convert import convert
from tinyml_host.model.tflite_reader import read_tflite
from tinyml_host.oracle import tflm as oracle

S16 = pathlib.Path(__file__).resolve().parents[1] / "models" / "s16"
MODELS = ("conv16", "dense16")


def model_inputs(path, n=4):
    """n random int16 cases of the model's input (a typical spread and the full range), and its edges."""
    m = read_tflite(path.read_bytes())
    t = m.tensors[m.inputs[0]]
    assert t.dtype == np.int16
    shape = tuple(t.shape)
    rng = np.random.default_rng(len(path.name))
    return [np.concatenate([rng.integers(-3000, 3000, (n,) + shape), rng.integers(-32768, 32768, (n,) + shape),
                            np.full((1,) + shape, -32768), np.full((1,) + shape, 32767)]).astype(np.int16)]


def test_the_models_are_all_here():
    assert sorted(p.stem for p in S16.glob("*.tflite")) == sorted(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_16x8_model_matches_tflm(tmp_path, name):
    path = S16 / (name + ".tflite")
    inputs = model_inputs(path)
    expected = oracle.tflm_run(str(path), inputs)
    assert expected[0].dtype == np.int16 and len(np.unique(expected[0])) > 10
    tml = tmp_path / (name + ".tml")
    tml.write_bytes(convert(str(path), name))
    for backend in BACKENDS:
        ys, info = board_unix.run_model(tml, inputs, backend)
        assert info["backend"] == backend
        np.testing.assert_array_equal(ys[0].reshape(expected[0].shape), expected[0],
                                      err_msg="%s on %s differs from TFLM" % (name, backend))


def test_16x8_models_on_qemu_m3(qemu_m3, tmp_path, capsys):
    """Deployed to the emulated Cortex-M3 and checked against TFLM on the host by `tinyml verify`
    (int16 .npy in), with the native and viper backends."""
    for name in MODELS:
        path = S16 / (name + ".tflite")
        inputs = model_inputs(path)
        np.save(tmp_path / (name + ".npy"), inputs[0])
        assert cli.main(["deploy", str(path), "--board", qemu_m3]) == 0
        for backend in ("native", "viper"):
            capsys.readouterr()
            assert cli.main(["verify", str(path), "--input", str(tmp_path / (name + ".npy")), "--board", qemu_m3,
                             "--backend", backend]) == 0
            out = capsys.readouterr().out
            n = len(inputs[0])
            assert "%d/%d cases match TFLM bit for bit on qemu-m3, backend %s" % (n, n, backend) in out, out[-500:]
