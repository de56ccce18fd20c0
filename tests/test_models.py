"""The real models in ../shared/models give TFLM's bytes on the real MicroPython unix port:
TFLM (tflite-micro) is run in the same test, and must agree with the stored golden outputs too."""
import numpy as np
import pytest

from tinyml_host.oracle import tflm as oracle
from conftest import SHARED
from tinyml_host.board import unix as board_unix
from tinyml_host.model.convert import convert

MODELS = {
    "micro_speech_quantized": SHARED / "tflm" / "micro_speech_quantized.tflite",
    "mnist_valid_q": SHARED / "tinymaix" / "mnist_valid_q.tflite",
    "person_detect": SHARED / "tflm" / "person_detect.tflite",
}
# (model, backend, number of golden cases to run: None for all)
RUNS = [(m, b, None) for m in ("micro_speech_quantized", "mnist_valid_q") for b in ("native", "viper", "python")]
RUNS += [("person_detect", "native", None), ("person_detect", "viper", 1), ("person_detect", "python", 1)]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    out = {}
    for name, src in MODELS.items():
        out[name] = d / (name + ".tml")
        out[name].write_bytes(convert(str(src)))
    return out


def golden(name, n):
    x = np.load(SHARED / "golden" / (name + ".input0.npy"))
    y = np.load(SHARED / "golden" / (name + ".tflm_output0.npy"))
    return (x, y) if n is None else (x[:n], y[:n])


@pytest.mark.parametrize("name,backend,n", RUNS, ids=["%s-%s" % (m, b) for m, b, _ in RUNS])
def test_model_matches_tflm(converted, name, backend, n):
    x, stored = golden(name, n)
    expected = oracle.tflm_run(str(MODELS[name]), [x])[0]
    np.testing.assert_array_equal(expected, stored)
    ys, info = board_unix.run_model(converted[name], [x], backend)
    assert info["backend"] == backend
    np.testing.assert_array_equal(ys[0].reshape(expected.shape), expected)


def test_person_detect_in_a_140k_heap(converted):
    """An ESP32 without PSRAM: weights stream from the file through the window."""
    x, _ = golden("person_detect", 2)
    expected = oracle.tflm_run(str(MODELS["person_detect"]), [x])[0]
    ys, info = board_unix.run_model(converted["person_detect"], [x], "native", heap="140K")
    np.testing.assert_array_equal(ys[0].reshape(expected.shape), expected)


def test_person_detect_does_not_fit_140k_without_streaming(converted, tmp_path):
    """The 140K test above means something: the whole model in RAM does not fit that heap."""
    code = ("import tinyml\ntry:\n    tinyml.load(%r, 'native', window=None)\n    print('FIT')\n"
            "except MemoryError:\n    print('NOFIT')\n" % str(converted["person_detect"]))
    assert board_unix.exec_script(code, cwd=tmp_path, heap="140K").strip().endswith("NOFIT")


@pytest.mark.parametrize("name", ["mnist_valid_q", "micro_speech_quantized"])
def test_device_library_under_cpython(converted, name):
    """The same interpreter runs on the host (training scripts, `tinyml pipeline run`): pure Python."""
    import tinyml
    x, _ = golden(name, None)
    expected = oracle.tflm_run(str(MODELS[name]), [x])[0]
    m = tinyml.load(converted[name].read_bytes(), "python")
    got = np.stack([np.frombuffer(bytes(m.run(case.tobytes())), np.int8) for case in x])
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)
