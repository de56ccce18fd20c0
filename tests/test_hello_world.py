"""TFLM's hello_world: all 256 input codes give TFLM's bytes on the real MicroPython unix port,
with each kernel backend."""
import numpy as np
import pytest

from tinyml_host.oracle import tflm as oracle
from conftest import BACKENDS, SHARED
from tinyml_host.board import unix as board_unix
from tinyml_host.model.convert import convert

MODEL = SHARED / "tflm" / "hello_world_int8.tflite"
GOLDEN = SHARED / "golden"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    x = np.load(GOLDEN / "hello_world_int8.input0.npy")
    expected = oracle.tflm_run(str(MODEL), [x])[0]
    tml = tmp_path_factory.mktemp("hw") / "hello_world.tml"
    tml.write_bytes(convert(str(MODEL)))
    return x, expected, tml


def test_oracle_agrees_with_golden_file(case):
    x, expected, _ = case
    assert len(x) == 256
    np.testing.assert_array_equal(expected, np.load(GOLDEN / "hello_world_int8.tflm_output0.npy"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_256_inputs_match_tflm(case, backend):
    x, expected, tml = case
    ys, info = board_unix.run_model(tml, [x], backend)
    assert info["backend"] == backend
    np.testing.assert_array_equal(ys[0].reshape(expected.shape), expected)


def test_default_backend_is_native(case):
    x, expected, tml = case
    ys, info = board_unix.run_model(tml, [x[:4]])
    assert info["backend"] == "native"
    assert info["notes"] == []
