"""EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL on int8 (TFLM's ComparisonWithScaling and its
broadcast form; bool out, uint8 0 or 1 in the .tml): single-op models built with tflite_build, converted,
run by every backend on the real MicroPython unix port and compared byte for byte with TFLM (tflite-micro)
run in the same test: broadcasting, two scales (values that differ only after scaling), one scale, and
every pair of codes."""
import numpy as np
import pytest

from test_sub import SHAPES, inputs_for, run_everywhere
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor
OPS = ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")


def compare_model(name, a_shape, b_shape, a_q, b_q):
    out = tuple(np.broadcast_shapes(a_shape, b_shape))
    return tb.single_op_model(name, [T(a_shape, scale=a_q[0], zero_point=a_q[1]),
                                     T(b_shape, scale=b_q[0], zero_point=b_q[1])], [T(out, dtype="bool")])


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("shapes", SHAPES[1:3], ids=["b-broadcast", "a-broadcast"])
def test_comparison_matches_tflm(tmp_path, name, shapes):
    rng = np.random.default_rng([OPS.index(name), SHAPES.index(shapes), 71])
    a_q = (float(np.float32(10 ** rng.uniform(-2, -0.5))), int(rng.integers(-128, 128)))
    b_q = (float(np.float32(a_q[0] * rng.uniform(0.5, 2))), int(rng.integers(-128, 128)))
    model = compare_model(name, shapes[0], shapes[1], a_q, b_q)
    expected = run_everywhere(tmp_path, model, [inputs_for(rng, shapes[0]), inputs_for(rng, shapes[1])])
    assert expected[0].dtype == np.bool_
    if name not in ("EQUAL", "NOT_EQUAL"):  # random codes of two scales are seldom equal
        assert 0 < expected[0].mean() < 1


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("same_scale", [True, False], ids=["one-scale", "two-scales"])
def test_comparison_of_every_pair_of_codes(tmp_path, name, same_scale):
    b_q = (0.02, 5) if same_scale else (0.0213, 9)
    model = compare_model(name, (1, 256, 1), (1, 1, 256), (0.02, -3), b_q)
    codes = np.arange(-128, 128, dtype=np.int8)
    expected = run_everywhere(tmp_path, model, [codes.reshape(1, 1, 256, 1), codes.reshape(1, 1, 1, 256)])
    assert 0 < expected[0].mean() < 1


def test_comparison_with_an_input_scale_of_1_or_more_is_refused():
    with pytest.raises(ConvertError, match="scales below 1"):
        convert(compare_model("LESS", (1, 4), (1, 4), (1.5, 0), (0.1, 0)), "less")
