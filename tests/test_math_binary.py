"""MAXIMUM, MINIMUM, SQUARED_DIFFERENCE and PRELU (int8, TFLM's MaximumMinimumBroadcastSlow, SquaredDifference
and BroadcastPrelu4DSlow): single-op models built with tflite_build, converted, run by every backend on
the real MicroPython unix port and compared byte for byte with TFLM (tflite-micro) run in the same test:
shapes with and without broadcasting, a constant operand, either input the larger scale, zero points
at the int8 edges, and all 65536 pairs of codes for SQUARED_DIFFERENCE."""
import numpy as np
import pytest

from test_sub import SHAPES, inputs_for, run_everywhere
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor
OPS = ("MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "PRELU")


def binary_model(name, a_shape, b_shape, a_q, b_q, y_q, b_data=None):
    out = tuple(np.broadcast_shapes(a_shape, b_shape))
    return tb.single_op_model(name, [T(a_shape, scale=a_q[0], zero_point=a_q[1]),
                                     T(b_shape, scale=b_q[0], zero_point=b_q[1], data=b_data)],
                              [T(out, scale=y_q[0], zero_point=y_q[1])])


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("shapes", SHAPES, ids=["same", "b-broadcast", "a-broadcast", "both-broadcast"])
def test_binary_math_op_matches_tflm(tmp_path, name, shapes):
    rng = np.random.default_rng([OPS.index(name), SHAPES.index(shapes), 55])
    a_shape, b_shape = shapes
    a_scale, b_scale = (float(np.float32(s)) for s in 10 ** rng.uniform(-2.5, -0.5, 2))
    zps = [int(rng.choice([-128, 127, rng.integers(-128, 128)])) for _ in range(2)]
    y_scale = float(np.float32(max(a_scale, b_scale) ** 2 * 300 * rng.uniform(0.5, 2)))
    if name == "PRELU":
        y_scale = float(np.float32(a_scale * rng.uniform(0.5, 2)))
    y_zp = int(rng.integers(-128, -60)) if name == "SQUARED_DIFFERENCE" else int(rng.integers(-128, 128))
    model = binary_model(name, a_shape, b_shape, (a_scale, zps[0]), (b_scale, zps[1]), (y_scale, y_zp))
    expected = run_everywhere(tmp_path, model, [inputs_for(rng, a_shape), inputs_for(rng, b_shape)])
    assert len(np.unique(expected[0])) > 3


@pytest.mark.parametrize("name", OPS)
def test_binary_math_op_with_a_constant_operand(tmp_path, name):
    rng = np.random.default_rng(OPS.index(name) + 60)
    b = rng.integers(-128, 128, (1, 1, 5)).astype(np.int8)
    model = binary_model(name, (1, 4, 5), (1, 1, 5), (0.05, 3), (0.08, -7), (0.5, -100), b_data=b)
    run_everywhere(tmp_path, model, [inputs_for(rng, (1, 4, 5))])


def test_squared_difference_of_every_pair_of_codes(tmp_path):
    model = binary_model("SQUARED_DIFFERENCE", (1, 256, 1), (1, 1, 256), (0.02, 5), (0.03, -9), (0.6, -128))
    codes = np.arange(-128, 128, dtype=np.int8)
    expected = run_everywhere(tmp_path, model, [codes.reshape(1, 1, 256, 1), codes.reshape(1, 1, 1, 256)])
    assert len(np.unique(expected[0])) > 50


def test_prelu_of_every_pair_of_codes(tmp_path):
    """x down, alpha across: both branches, alpha of either sign, a multiplier above 1 (left shift)."""
    model = binary_model("PRELU", (1, 256, 1), (1, 1, 256), (0.05, -3), (0.02, 9), (0.02, 4))
    codes = np.arange(-128, 128, dtype=np.int8)
    run_everywhere(tmp_path, model, [codes.reshape(1, 1, 256, 1), codes.reshape(1, 1, 1, 256)])
