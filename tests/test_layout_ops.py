"""The layout and shape ops (issue 12) end to end: single-op int8 models with random shapes and
parameters (tests/layout_models.py), converted, run by every backend on the real MicroPython unix
port and compared byte for byte with TFLM (tflite-micro) run in the same test."""
import numpy as np
import pytest

from conftest import BACKENDS
import layout_models
from tinyml_host.board import unix as board_unix
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
