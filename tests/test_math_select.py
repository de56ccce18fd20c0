"""SELECT_V2 on int8 (TFLM's Select and BroadcastSelect5DSlow: a's code where the condition holds, else
b's, no requantization): single-op models built with tflite_build, converted, run by every backend on
the real MicroPython unix port and compared byte for byte with TFLM (tflite-micro) run in the same test:
the condition, a and b each broadcast, a constant operand, different quantizations of a and b."""
import numpy as np
import pytest

from test_sub import run_everywhere
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor
SHAPES = [  # (condition, a, b)
    ((2, 3, 4), (2, 3, 4), (2, 3, 4)),
    ((1, 3, 1), (2, 3, 4), (4,)),
    ((5,), (3, 1), (1, 5)),
    ((2, 1, 2, 3), (1, 4, 1, 3), (2, 4, 2, 1)),
]


def select_model(c_shape, a_shape, b_shape, b_data=None):
    """x (the condition's source) < k, then SELECT_V2(that, a, b): a condition as graphs make it."""
    out = tuple(np.broadcast_shapes(c_shape, a_shape, b_shape))
    tensors = [T(c_shape, scale=0.1, zero_point=0), T((1,), scale=0.1, zero_point=0, data=np.array([5], np.int8)),
               T(c_shape, dtype="bool"), T(a_shape, scale=0.1, zero_point=3),
               T(b_shape, scale=0.05, zero_point=-7, data=b_data), T(out, scale=0.1, zero_point=3)]
    ops = [tb.Op("LESS", [0, 1], [2]), tb.Op("SELECT_V2", [2, 3, 4], [5])]
    return tb.build_model(ops, tensors, [0, 3] if b_data is not None else [0, 3, 4], [5])


@pytest.mark.parametrize("shapes", SHAPES, ids=["same", "c-broadcast", "all-broadcast", "rank-4"])
def test_select_v2_matches_tflm(tmp_path, shapes):
    rng = np.random.default_rng(SHAPES.index(shapes) + 123)
    n = 5
    xs = [rng.integers(-128, 128, (n,) + s).astype(np.int8) for s in shapes]
    expected = run_everywhere(tmp_path, select_model(*shapes), xs)
    assert len(np.unique(expected[0])) > 3


def test_select_v2_with_a_constant_operand(tmp_path):
    rng = np.random.default_rng(124)
    b = rng.integers(-128, 128, (1, 4)).astype(np.int8)
    model = select_model((3, 4), (3, 4), (1, 4), b_data=b)
    run_everywhere(tmp_path, model, [rng.integers(-128, 128, (4, 3, 4)).astype(np.int8) for _ in range(2)])
