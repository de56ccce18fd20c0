"""SUB (TFLite builtin 41) end to end: single-op int8 models built with tflite_build, converted, run
by every backend on the real MicroPython unix port and compared byte for byte with TFLM (tflite-micro)
run in the same test: shapes with and without broadcasting, every fused activation, either input the
larger scale, the zero points at the int8 edges."""
import numpy as np
import pytest

from conftest import BACKENDS
from tinyml_host.board import unix as board_unix
from tinyml_host.model import quantize as q
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.oracle import tflm as oracle

T = tb.Tensor
SHAPES = [  # (a, b): the output is their broadcast
    ((1, 5, 4, 3), (1, 5, 4, 3)),  # elementwise
    ((1, 4, 4, 3), (1, 1, 1, 3)),  # b broadcast over H and W
    ((2, 1, 3), (2, 5, 3)),        # a broadcast, rank 3
    ((7,), (3, 1)),                # both broadcast, ranks 1 and 2
]
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def inputs_for(rng, shape, n=6):
    x = rng.integers(-128, 128, (n,) + shape).astype(np.int8)
    return np.concatenate([x, np.full((1,) + shape, -128, np.int8), np.full((1,) + shape, 127, np.int8)])


def sub_model(a_shape, b_shape, a_q, b_q, y_q, activation):
    out = tuple(np.broadcast_shapes(a_shape, b_shape))
    return tb.single_op_model("SUB", [T(a_shape, scale=a_q[0], zero_point=a_q[1]),
                                      T(b_shape, scale=b_q[0], zero_point=b_q[1])],
                              [T(out, scale=y_q[0], zero_point=y_q[1])],
                              {"fused_activation_function": activation}, 2)


def run_everywhere(tmp_path, model, inputs):
    expected = oracle.tflm_run(model, inputs)
    tml = tmp_path / "sub.tml"
    tml.write_bytes(convert(model, "sub model"))
    for backend in BACKENDS:
        ys, info = board_unix.run_model(tml, inputs, backend)
        assert info["backend"] == backend
        for e, y in zip(expected, ys):
            np.testing.assert_array_equal(y.reshape(e.shape), e, err_msg="backend %s differs from TFLM" % backend)
    return expected


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shapes", SHAPES, ids=["same", "b-broadcast", "a-broadcast", "both-broadcast"])
def test_sub_matches_tflm(tmp_path, shapes, activation):
    rng = np.random.default_rng([SHAPES.index(shapes), ACTIVATIONS.index(activation)])
    a_shape, b_shape = shapes
    a_scale, b_scale = (float(s) for s in 10 ** rng.uniform(-2.5, -0.5, 2))
    y_scale = (a_scale + b_scale) * float(rng.uniform(0.5, 2.0))
    if activation == "NONE":  # zero points at the edges too
        zps = [int(rng.choice([-128, 127, rng.integers(-128, 128)])) for _ in range(2)]
        y_zp = int(rng.integers(-128, 128))
    else:  # a - b on both sides of 0, and the clamp inside the int8 range
        zps = [int(z) for z in rng.integers(-40, 40, 2)]
        y_zp = int(rng.integers(-100, 0))
        y_scale = min(y_scale, {"RELU": 1.0, "RELU6": 6.0, "RELU_N1_TO_1": 1.0}[activation] / 100)
    model = sub_model(a_shape, b_shape, (a_scale, zps[0]), (b_scale, zps[1]), (y_scale, y_zp), activation)
    expected = run_everywhere(tmp_path, model, [inputs_for(rng, a_shape), inputs_for(rng, b_shape)])
    assert len(np.unique(expected[0])) > 3  # not all clamped to one value


def _requantize(x, m, s):
    # MultiplyByQuantizedMultiplierSmallerThanOneExp on int64 arrays (s <= 0): only to pick scales below
    ab = x * m
    q = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = np.where(q >= 0, q >> 31, -((-q) >> 31))  # C's division by 2**31: toward zero
    mask = (1 << -s) - 1
    return (q >> -s) + ((q & mask) > (mask >> 1) + (q < 0))


def _sub_grid(params, a_zp, b_zp, y_zp):
    """The int8 SUB of every pair of codes (a down, b across) with these (ls, am, ash, bm, bsh, ym, ysh)."""
    ls, am, ash, bm, bsh, ym, ysh = params
    codes = np.arange(-128, 128, dtype=np.int64)
    sa = _requantize((codes - a_zp) << ls, am, ash)[:, None]
    sb = _requantize((codes - b_zp) << ls, bm, bsh)[None, :]
    return np.clip(_requantize(sa - sb, ym, ysh) + y_zp, -128, 127)


def _float32_params(a_scale, b_scale, y_scale):
    # CalculateOpDataSub as TFLM's source has it since 2025: the scales divided in float32, then widened
    f32 = np.float32
    twice = f32(2) * max(f32(a_scale), f32(b_scale))
    reals = (f32(a_scale) / twice, f32(b_scale) / twice, twice / (f32(1 << 20) * f32(y_scale)))
    return (20,) + sum((q.quantize_multiplier(float(r)) for r in reals), ())


def test_sub_multipliers_are_the_oracles(tmp_path):
    """SUB's multipliers come from the scales in double precision, as ADD's, and as the tflite-micro
    we check against computes them (TFLM's newer source divides in float32): scales where float32
    multipliers would give other bytes for some pair of inputs, and all 65536 pairs run (a broadcast
    against b)."""
    rng = np.random.default_rng(41)
    a_zp, b_zp, y_zp = 3, -5, 2
    for _ in range(20000):
        a_scale, b_scale, y_scale = (float(np.float32(s)) for s in 10 ** rng.uniform(-3, 0, 3))
        f64, f32 = q.add_params(a_scale, b_scale, y_scale), _float32_params(a_scale, b_scale, y_scale)
        if f32 != f64 and np.any(_sub_grid(f32, a_zp, b_zp, y_zp) != _sub_grid(f64, a_zp, b_zp, y_zp)):
            break
    else:
        pytest.fail("no scales found where float32 and double multipliers give different bytes")
    model = sub_model((1, 256, 1), (1, 1, 256), (a_scale, a_zp), (b_scale, b_zp), (y_scale, y_zp), "NONE")
    codes = np.arange(-128, 128, dtype=np.int8)
    run_everywhere(tmp_path, model, [codes.reshape(1, 1, 256, 1), codes.reshape(1, 1, 1, 256)])


def test_sub_over_more_than_4_dimensions_is_refused():
    model = sub_model((2, 1, 2, 1, 3), (1, 2, 1, 2, 3), (0.1, 0), (0.1, 0), (0.2, 0), "NONE")
    with pytest.raises(ConvertError, match="more than 4 dimensions"):
        convert(model, "sub5d")
