"""The layout and shape ops (issue 12) end to end: single-op int8 models with random shapes and
parameters (tests/layout_models.py), converted, run by every backend on the real MicroPython unix
port and compared byte for byte with TFLM (tflite-micro) run in the same test."""
import numpy as np
import pytest

from conftest import BACKENDS
import layout_models
from tinyml_host.board import unix as board_unix
from tinyml_host.cli import main as cli
from tinyml_host.emulators import supervisor as emulators
from tinyml_host.model import convert_layout
from tinyml_host.model.convert import convert
from tinyml_host.model.tflite_reader import read_tflite
from tinyml_host.oracle import tflm as oracle

CASES_PER_OP = 6


def padding_of(model):
    """SPACE_TO_BATCH_ND: the output positions that are padding (TFLM's int8 kernel fills them with
    an uninitialized value, differing from run to run; tinyml with the output zero point, as TFLite)."""
    m = read_tflite(model)
    op = m.operators[0]
    x, block, pads = (m.tensors[i] for i in op.inputs)
    src = np.arange(int(np.prod(x.shape))).reshape(x.shape)
    return convert_layout.space_to_batch_nd(src, block.data.ravel(), pads.data, -1) < 0, \
        int(m.tensors[op.outputs[0]].zero_point[0])


def run_everywhere(tmp_path, model, inputs, backends=BACKENDS, mask=None):
    expected = oracle.tflm_run(model, inputs)
    tml = tmp_path / "m.tml"
    tml.write_bytes(convert(model, "layout model"))
    for backend in backends:
        ys, info = board_unix.run_model(tml, inputs, backend)
        assert info["backend"] == backend
        for e, y in zip(expected, ys):
            y = y.reshape(e.shape)
            if mask is not None:
                pad, zp = mask
                assert np.all(y[:, pad] == zp), "padding is not the output zero point"
                e, y = e[:, ~pad], y[:, ~pad]
            np.testing.assert_array_equal(y, e, err_msg="backend %s differs from TFLM" % backend)
    return expected


@pytest.mark.parametrize("name", sorted(layout_models.CASES))
def test_layout_op_matches_tflm(tmp_path, name):
    """Several random models of the op, each run by TFLM and by the three backends."""
    for case in range(CASES_PER_OP):
        rng = np.random.default_rng([sorted(layout_models.CASES).index(name), case])
        model, inputs = layout_models.CASES[name](rng)
        run_everywhere(tmp_path, model, inputs, mask=padding_of(model) if name == "SPACE_TO_BATCH_ND" else None)


def test_every_layout_op_in_one_model_matches_tflm(tmp_path):
    """The board model (every layout op on one input, 20 outputs) on the unix port: what the qemu-m3
    test below runs."""
    model, inputs = layout_models.board_model(np.random.default_rng(12))
    run_everywhere(tmp_path, model, inputs)


@pytest.fixture(scope="module")
def qemu_m3():
    started = emulators.running("qemu-m3") is None
    emulators.start("qemu-m3")
    yield "qemu-m3"
    if started:
        emulators.stop("qemu-m3")


def test_every_layout_op_on_qemu_m3(qemu_m3, tmp_path, capsys):
    """The board model deployed to the emulated Cortex-M3 (`tinyml deploy`) and checked against TFLM
    on the host (`tinyml verify`) with the native and the viper kernels: one board session for all."""
    model, inputs = layout_models.board_model(np.random.default_rng(12))
    path, x = tmp_path / "layout_ops.tflite", tmp_path / "layout_ops.input0.npy"
    path.write_bytes(model)
    np.save(x, inputs[0])
    assert cli.main(["deploy", str(path), "--board", qemu_m3]) == 0
    for backend in ("native", "viper"):
        capsys.readouterr()
        assert cli.main(["verify", str(path), "--input", str(x), "--board", qemu_m3, "--backend", backend]) == 0
        out = capsys.readouterr().out
        assert "3/3 cases match TFLM bit for bit on qemu-m3, backend %s" % backend in out, out
