"""The stateful ops, SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM (issue 12), against TFLM's interpreter
(tflite-micro) run in the same test: single-op models quantized as TFLite's converter does
(tests/recurrent_models.py), their cases run one after another with the state carried, and the
model's reset() before one of them, on the real MicroPython unix port with each backend, and on the
emulated Cortex-M3 through `tinyml verify`. Then the loader's refusals of damaged state records."""
import struct
import zlib

import numpy as np
import pytest

import recurrent_models as rm
from conftest import BACKENDS, ROOT
from tinyml_host.board import unix as board_unix
from tinyml_host.model.convert import ConvertError, convert

APPS = ROOT / "tests" / "apps"
RESET_AT = 3  # the case before which the device and TFLM reset the model

CASES = {
    "svdf": lambda rng: rm.svdf_model(rng),
    "svdf-batch2-rank1": lambda rng: rm.svdf_model(rng, batch=2, rank=1, memory=3, n_unit=6),
    "svdf-wide-state-zp": lambda rng: rm.svdf_model(rng, n_input=40, n_unit=16, rank=1, memory=8, state_zp=700),
    "svdf-int8-state": lambda rng: rm.svdf_model(rng, n_input=24, n_unit=8, rank=2, memory=6, state_zp=-50, bits=8),
    "lstm": lambda rng: rm.lstm_model(rng),
    "lstm-time-major-clip": lambda rng: rm.lstm_model(rng, time_major=True, cell_clip=2.0),
    "lstm-cell-2^-13": lambda rng: rm.lstm_model(rng, cell_scale=2.0 ** -13, steps=5, n_input=7, n_state=6),
    "lstm-cell-2^-9-wide": lambda rng: rm.lstm_model(rng, cell_scale=2.0 ** -9, steps=8, n_input=12, n_state=16),
}


def device_sequence(tml, x, backend, reset_at, tmp_path, window=-1):
    """The outputs of x's cases run in order on the unix port (tests/apps/stateful_run.py); window: as
    tinyml.load's (a number streams the model from its file, the ops' constants read into the window)."""
    (tmp_path / "in.bin").write_bytes(np.ascontiguousarray(x).tobytes())
    code = "import sys\nsys.path.append(%r)\nimport stateful_run\nstateful_run.main(%r, %r, %r, %r, %r, %r)\n" % (
        str(APPS), str(tml), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), backend, tuple(reset_at), window)
    printed = board_unix.exec_script(code)
    assert "tinyml-stateful backend=%s cases=%d" % (backend, len(x)) in printed, printed
    if window not in (-1, None):  # streamed: the window holds an op's constants, read before each call
        assert int(printed.split("window=")[1].split()[0]) > 0, printed
    return np.fromfile(tmp_path / "out.bin", np.int8)


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_tflm_over_runs_and_reset_on_each_backend(case, tmp_path):
    rng = np.random.default_rng(sorted(CASES).index(case))
    model, (x,) = CASES[case](rng)
    want = rm.tflm_sequence(model, x, reset_at=(RESET_AT,))
    carried = rm.tflm_sequence(model, x)
    # the state matters: without the reset TFLM's case RESET_AT differs, and later cases differ from
    # the first ones although the model is the same
    assert not np.array_equal(carried[RESET_AT], want[RESET_AT])
    assert len(np.unique(want)) > 8  # not all clamped
    tml = tmp_path / "m.tml"
    tml.write_bytes(convert(model, case))
    for backend in BACKENDS:
        got = device_sequence(tml, x, backend, (RESET_AT,), tmp_path).reshape(want.shape)
        np.testing.assert_array_equal(got, want, err_msg="backend %s differs from TFLM" % backend)


# TFLM's own stateful models (models/recurrent/make_recurrent.py): its keyword benchmark's 7 SVDF and 5
# FULLY_CONNECTED (every op's output an output), its mnist_lstm example (a converter-made Keras LSTM).
# (Its keyword_scrambled_8bit, the int8-state SVDF, answers -128 or 127 to any input: svdf-int8-state
# above covers that version.)
TFLM_MODELS = {"keyword_svdf": BACKENDS, "mnist_lstm_int8": BACKENDS}
RECURRENT = ROOT / "models" / "recurrent"


def tflm_model_cases(name, n=10):
    from tinyml_host.model.tflite_reader import read_tflite
    model = (RECURRENT / (name + ".tflite")).read_bytes()
    m = read_tflite(model)
    shape = tuple(m.tensors[m.inputs[0]].shape)
    return model, np.random.default_rng(5).integers(-128, 128, (n,) + shape).astype(np.int8)


@pytest.mark.parametrize("name", sorted(TFLM_MODELS))
def test_tflm_models_match_tflm_over_runs_and_reset(name, tmp_path):
    model, x = tflm_model_cases(name)
    want = rm.tflm_sequence(model, x, reset_at=(6,))
    assert len(np.unique(want)) > 8
    tml = tmp_path / "m.tml"
    tml.write_bytes(convert(model, name))
    for backend in TFLM_MODELS[name]:
        for window in (-1, 256):  # in RAM, then streamed from the file (the constants read before each op)
            got = device_sequence(tml, x, backend, (6,), tmp_path, window).reshape(want.shape)
            np.testing.assert_array_equal(got, want, err_msg="%s: backend %s, window %s, differs from TFLM"
                                          % (name, backend, window))


def test_on_qemu_m3(qemu_m3, tmp_path, capsys):
    """An SVDF, an LSTM and TFLM's mnist_lstm deployed to the emulated Cortex-M3 and checked against
    TFLM on the host by `tinyml verify`: its cases run in order on one load, the state carried (as tflm_run carries it),
    with the native and the viper kernels."""
    from tinyml_host.cli import main as cli
    rng = np.random.default_rng(11)
    # TFLM's keyword model streamed (its 28 KB of SVDF weights, read whole into RAM, do not fit qemu-m3's
    # 140 KB heap beside the library: each op's constants are read into the window before it runs)
    for name in ("svdf-wide-state-zp", "lstm-cell-2^-9-wide", "mnist_lstm_int8", "keyword_svdf"):
        model, x = tflm_model_cases(name, 6) if name in TFLM_MODELS else (CASES[name](rng)[0], CASES[name](rng)[1][0])
        path = tmp_path / (name.replace("^", "") + ".tflite")
        path.write_bytes(model)
        np.save(tmp_path / "x.npy", x)
        assert cli.main(["deploy", str(path), "--board", qemu_m3]) == 0
        for backend in ("native", "viper"):
            capsys.readouterr()
            window = ["--window", "2048"] if name == "keyword_svdf" else []
            assert cli.main(["verify", str(path), "--input", str(tmp_path / "x.npy"), "--board", qemu_m3,
                             "--backend", backend] + window) == 0
            out = capsys.readouterr().out
            assert "%d/%d cases match TFLM bit for bit on qemu-m3, backend %s" % (len(x), len(x), backend) in out, \
                out[-500:]


# ---- the loader's refusals: a state record damaged after conversion ----

def _tensor_at(buf, i):
    return struct.unpack_from("<I", buf, 24)[0] + 40 * i


def _params_at(buf):
    """The file offset of the (single) op's parameters."""
    op_off = struct.unpack_from("<I", buf, 28)[0]
    _, n_in, n_out, _ = struct.unpack_from("<BBBB", buf, op_off)
    return op_off + 4 + ((2 * (n_in + n_out) + 3) & ~3)


def _sealed(buf):
    struct.pack_into("<I", buf, 12, zlib.crc32(bytes(buf[16:])))
    return bytes(buf)


def _load_error(data):
    from tinyml import tmlfile
    from tinyml.model import Model
    with pytest.raises(tmlfile.ModelFileError) as e:
        Model(data, backend="python")
    return str(e.value)


@pytest.fixture(scope="module")
def lstm_tml():
    return bytearray(convert(rm.lstm_model(np.random.default_rng(3))[0], "lstm"))


def test_a_state_that_is_not_variable_is_refused(lstm_tml):
    buf = bytearray(lstm_tml)
    op_off = struct.unpack_from("<I", buf, 28)[0]
    h = struct.unpack_from("<H", buf, op_off + 4 + 2 * 5)[0]  # input 5: the hidden state
    struct.pack_into("<H", buf, _tensor_at(buf, h) + 2, 0)
    assert "input 5 (tensor %d)" % h in _load_error(_sealed(buf))


def test_a_variable_weight_and_a_constant_variable_are_refused(lstm_tml):
    buf = bytearray(lstm_tml)
    struct.pack_into("<H", buf, _tensor_at(buf, 0) + 2, 2)  # the model input made variable
    assert "is a constant or a variable" in _load_error(_sealed(buf))
    buf = bytearray(lstm_tml)
    struct.pack_into("<H", buf, _tensor_at(buf, 1) + 2, 3)
    assert "not both" in _load_error(_sealed(buf))


@pytest.mark.parametrize("slot,value,field", [(25, 16, "tanh_shift"), (24, 0, "tanh_multiplier"),
                                              (23, -1, "cell_clip"), (8, 32, "gate_shift[0]")])
def test_lstm_parameters_out_of_range_are_refused(lstm_tml, slot, value, field):
    buf = bytearray(lstm_tml)
    struct.pack_into("<i", buf, _params_at(buf) + 4 * slot, value)
    assert field in _load_error(_sealed(buf))


def test_an_lstm_cell_activation_tflm_cannot_run_is_refused_by_the_converter():
    with pytest.raises(ConvertError, match="TANH only"):
        convert(rm.lstm_model(np.random.default_rng(4), activation="RELU")[0], "relu-lstm")


@pytest.mark.parametrize("form, advice", [
    ({"batch": 2}, "batch 2: tinyml runs the LSTM with batch 1 (convert with a fixed batch of 1: keras.Input"),
    ({"peephole": True}, "has peephole tensors (input 10), which TFLM's LSTM kernel does not run: use a plain LSTM"),
    ({"cifg": True}, "has no input gate (a CIFG LSTM), which TFLM's LSTM kernel does not run: use a plain LSTM")])
def test_an_lstm_form_tflm_cannot_run_is_refused_saying_what_to_use(form, advice):
    """The LSTM runs, so it has no entry in op_params.ADVICE: the forms it lacks carry their own advice."""
    with pytest.raises(ConvertError) as e:
        convert(rm.lstm_model(np.random.default_rng(5), **form)[0], "lstm")
    assert advice in str(e.value)
