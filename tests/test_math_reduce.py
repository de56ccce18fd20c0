"""MEAN, SUM, REDUCE_MAX and REDUCE_MIN over any axes (TFLM's QuantizedMeanOrSum and ReduceGeneric for
int8): single-op models built with tflite_build, converted, run by every backend on the real MicroPython
unix port and compared byte for byte with TFLM (tflite-micro) run in the same test: ranks 1 to 4, one
to all axes, negative and repeated axes, keep_dims or not, the zero points at the edges, and a Keras
GlobalAveragePooling1D (MEAN over axis 1 of a (1, steps, channels) tensor)."""
import numpy as np
import pytest

from test_sub import run_everywhere
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor
OPS = ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")
CASES = [  # (input shape, axes)
    ((1, 12, 5), [1]),             # GlobalAveragePooling1D
    ((2, 3, 4, 5), [1, 2]),        # height and width, batch 2
    ((3, 4, 5, 2), [0, 2]),        # two axes apart
    ((4, 6), [-1]),                # the last, negative
    ((7,), [0]),                   # everything of a vector
    ((2, 3, 4, 3), [0, 1, 2, 3]),  # everything
    ((3, 5, 4), [2, -1, 0]),       # repeated axes
]


def reduce_model(name, shape, axes, x_q, y_q, keep_dims):
    kept = [1 if (i in {a % len(shape) for a in axes}) else d for i, d in enumerate(shape)]
    out = tuple(kept) if keep_dims else tuple(d for i, d in enumerate(shape) if i not in {a % len(shape) for a in axes})
    return tb.single_op_model(name, [T(shape, scale=x_q[0], zero_point=x_q[1]),
                                     T(data=np.array(axes, np.int32), dtype="int32")],
                              [T(out, scale=y_q[0], zero_point=y_q[1])], {"keep_dims": keep_dims})


def quantization(rng, name, count):
    x_scale = float(np.float32(10 ** rng.uniform(-2.5, -0.5)))
    x_zp = int(rng.choice([-128, 127, rng.integers(-128, 128)]) if name != "SUM" else rng.integers(-20, 20))
    if name in ("REDUCE_MAX", "REDUCE_MIN"):  # TFLM requires one quantization
        return (x_scale, x_zp), (x_scale, x_zp)
    y_scale = x_scale * float(rng.uniform(0.3, 3.0)) * (np.sqrt(count) * 8 if name == "SUM" else 1)
    return (x_scale, x_zp), (float(np.float32(y_scale)), int(rng.integers(-128, 128)))


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_reduction_matches_tflm_on_every_backend(tmp_path, name, case):
    rng = np.random.default_rng([OPS.index(name), case, 7])
    shape, axes = CASES[case]
    count = int(np.prod([shape[a] for a in {a % len(shape) for a in axes}]))
    x_q, y_q = quantization(rng, name, count)
    model = reduce_model(name, shape, axes, x_q, y_q, bool(case % 2))
    x = rng.integers(-128, 128, (4,) + shape).astype(np.int8)
    edges = np.stack([np.full(shape, -128, np.int8), np.full(shape, 127, np.int8)])
    expected = run_everywhere(tmp_path, model, [np.concatenate([x, edges])])
    assert not np.array_equal(expected[0][-2], expected[0][-1])  # all -128 and all 127 differ


def test_mean_over_height_and_width_keeps_its_record():
    """MEAN over H and W of a (1, H, W, C) tensor is the record it always was (no axes input, the
    mean_hw kernel): files converted before reductions over any axes still load the same."""
    from tinyml import tmlfile
    tml = convert(reduce_model("MEAN", (1, 4, 5, 3), [1, 2], (0.1, 3), (0.05, -2), False), "gap")
    _, op_list, _, _ = tmlfile.parse(tml, "gap")
    assert len(op_list[0].inputs) == 1 and len(op_list[0].params) == 4


def test_reduce_max_with_two_quantizations_is_refused():
    with pytest.raises(ConvertError, match="quantization differ.*TFLM requires them equal"):
        convert(reduce_model("REDUCE_MAX", (2, 3), [1], (0.1, 0), (0.2, 0), False), "max")



@pytest.mark.parametrize("name", ["ARG_MAX", "ARG_MIN"])
@pytest.mark.parametrize("shape, axis", [((1, 10), 1), ((2, 3, 4), 0), ((2, 5, 3, 4), -2), ((7,), 0), ((3, 4), -1)])
def test_arg_matches_tflm_on_every_backend(tmp_path, name, shape, axis):
    """The int32 index of the first extreme along one axis: codes from a narrow range (many ties,
    TFLM keeps the first), the int8 extremes, and every position equal."""
    rng = np.random.default_rng([len(shape), shape[-1], axis % len(shape), name == "ARG_MAX"])
    out = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    model = tb.single_op_model(name, [T(shape, scale=0.1, zero_point=3), T(data=np.array([axis], np.int32), dtype="int32")],
                               [T(out, dtype="int32")], {"output_type": "INT32"})
    x = np.concatenate([rng.integers(-128, 128, (3,) + shape), rng.integers(-2, 3, (3,) + shape),
                        np.full((1,) + shape, -128), np.full((1,) + shape, 127)]).astype(np.int8)
    expected = run_everywhere(tmp_path, model, [x])
    assert expected[0].dtype == np.int32


def test_arg_max_with_an_int64_output_is_refused_with_the_fix():
    model = tb.single_op_model("ARG_MAX", [T((2, 5), scale=0.1), T(data=np.array([1], np.int32), dtype="int32")],
                               [T((2,), dtype="int64")], {"output_type": "INT64"})
    with pytest.raises(ConvertError, match="output_type=tf.int32"):
        convert(model, "argmax64")
