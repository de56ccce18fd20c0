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
MODELS = ("conv16", "dense16", "residual16", "classifier16", "float_io16")


def model_inputs(path, n=4):
    """n random int16 cases of the model's input (a typical spread and the full range), and its edges;
    for a float32 input, values around the training data's and beyond int16's range once quantized."""
    m = read_tflite(path.read_bytes())
    t = m.tensors[m.inputs[0]]
    shape = tuple(t.shape)
    rng = np.random.default_rng(len(path.name))
    if t.dtype == np.float32:
        return [np.concatenate([rng.normal(0, 1, (2 * n,) + shape), rng.normal(0, 50, (1,) + shape),
                                np.zeros((1,) + shape)]).astype(np.float32)]
    assert t.dtype == np.int16
    return [np.concatenate([rng.integers(-3000, 3000, (n,) + shape), rng.integers(-32768, 32768, (n,) + shape),
                            np.full((1,) + shape, -32768), np.full((1,) + shape, 32767)]).astype(np.int16)]


def test_the_models_are_all_here():
    assert sorted(p.stem for p in S16.glob("*.tflite")) == sorted(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_16x8_model_matches_tflm(tmp_path, name):
    path = S16 / (name + ".tflite")
    inputs = model_inputs(path)
    expected = oracle.tflm_run(str(path), inputs)
    assert expected[0].dtype in (np.int16, np.float32) and len(np.unique(expected[0])) > 10
    tml = tmp_path / (name + ".tml")
    tml.write_bytes(convert(str(path), name))
    for backend in BACKENDS:
        ys, info = board_unix.run_model(tml, inputs, backend)
        assert info["backend"] == backend
        assert ys[0].dtype == expected[0].dtype
        assert ys[0].reshape(expected[0].shape).tobytes() == expected[0].tobytes(), (
            "%s on %s differs from TFLM" % (name, backend))


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


def test_run_output_predict_take_int16(tmp_path):
    """A 16x8 model's API on the unix port: run() takes a list of ints, array('h') or bytes and gives
    array('h') (TFLM's values); a value outside int16 is refused saying the range; predict() quantizes
    to int16 and dequantizes the int16 output."""
    path = S16 / "dense16.tflite"
    (tmp_path / "d.tml").write_bytes(convert(str(path), "dense16"))
    m = read_tflite(path.read_bytes())
    t_in, t_out = m.tensors[m.inputs[0]], m.tensors[m.outputs[0]]
    x = np.random.default_rng(5).integers(-30000, 30000, 40).astype(np.int16)
    want = oracle.tflm_run(str(path), [x.reshape(1, 1, 40)])[0].reshape(-1)
    reals = [float(v) for v in np.linspace(-2.0, 2.0, 40)]
    q = np.clip(np.round(np.array(reals) / t_in.scale[0]) + t_in.zero_point[0], -32768, 32767).astype(np.int16)
    want_p = (oracle.tflm_run(str(path), [q.reshape(1, 1, 40)])[0].reshape(-1).astype(np.float64)
              - t_out.zero_point[0]) * t_out.scale[0]
    out = board_unix.exec_script(
        "import tinyml\nfrom array import array\nm = tinyml.load('d.tml')\nx = %r\n"
        "a = m.run(x)\nprint(len(a), list(a))\nprint(list(m.run(array('h', x))) == list(a))\n"
        "print(list(m.run(bytes(array('h', x)))) == list(a))\n"
        "try:\n    m.run([40000] * 40)\nexcept ValueError as e:\n    print(e)\n"
        "print(m.predict(%r))\n" % (x.tolist(), reals), cwd=str(tmp_path)).splitlines()
    n, values = out[0].split(" ", 1)
    assert int(n) == len(want) and eval(values) == want.tolist()  # int16 items (TFLM's values), not bytes
    assert out[1:3] == ["True", "True"]
    assert "takes int16 values, -32768..32767: got 40000..40000" in out[3]
    np.testing.assert_allclose(eval(out[4]), want_p, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_16x8_weights_streamed_through_a_small_window(tmp_path, backend):
    """Weights streamed from the file a few output channels at a time (the rows of an int16 input are
    2 bytes a value): TFLM's bytes still."""
    for name in MODELS:
        path = S16 / (name + ".tflite")
        x = model_inputs(path, 1)[0]
        expected = oracle.tflm_run(str(path), [x])[0].reshape(len(x), -1)
        (tmp_path / "m.tml").write_bytes(convert(str(path), name))
        x.tofile(tmp_path / "x.bin")
        out = board_unix.exec_script(
            "import tinyml\nm = tinyml.load('m.tml', %r, 24)\nf = open('x.bin', 'rb')\nprint(m.window_bytes)\n"
            "for _ in range(%d):\n    f.readinto(m.input_buffer())\n    m.invoke()\n    print(list(m.output()))\n"
            % (backend, len(x)), cwd=str(tmp_path)).splitlines()
        assert 0 < int(out[0]) < 1024, out[0]
        assert [eval(line) for line in out[1:]] == expected.tolist(), name


@pytest.mark.parametrize("backend", BACKENDS)
def test_16x8_models_survive_fuzzing(tmp_path, backend):
    """The project's fuzzer (CRC-valid, structure-aware mutations) on the 16x8 models: the int16 checks of
    tinyml/validate.py (int64 biases under 2**40, shifts -31..7, zero points 0, int16 bounds) keep every
    int16 kernel from crashing or hanging, and reject with ModelFileError."""
    from tinyml import ops
    from tinyml_host.apps import fuzz
    opcodes = [r[0] for r in ops.rows()]
    results = {}
    for k, name in enumerate(MODELS):
        tml = tmp_path / (name + ".tml")
        tml.write_bytes(convert(str(S16 / (name + ".tflite")), name))
        batch = list(enumerate(fuzz.cases(tml.read_bytes(), 60, 160 + k, opcodes)))
        got = fuzz.run_unix(tml, backend, batch, timeout=20)
        bad = {batch[i][1][0]: v for i, v in got.items() if v[0] in ("err", "crash", "hang", "corrupt")}
        assert not bad, (name, bad)
        results.update(("%s/%d" % (name, i), v) for i, v in got.items())
    s = fuzz.summarize(results)
    assert s["mfe"] > len(results) // 2, fuzz.format_summary(s)
