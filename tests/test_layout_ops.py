"""The layout and shape ops (issue 12) end to end: single-op int8 models with random shapes and
parameters (tests/layout_models.py), converted, run by every backend on the real MicroPython unix
port and compared byte for byte with TFLM (tflite-micro) run in the same test."""
import numpy as np
import pytest

import layout_models
import test_ops_vs_tflm as ops_vs_tflm
from conftest import verify_on_board
from tinyml_host.cli import main as cli
from tinyml_host.model import convert_layout
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.model.tflite_reader import read_tflite
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor

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


def run_everywhere(tmp_path, model, inputs, mask=None):
    """TFLM's outputs and each backend's (test_ops_vs_tflm's run), the same bytes; mask: (the output
    positions that are padding, the zero point they must hold), left out of the comparison."""
    expected, got = ops_vs_tflm.run_everywhere(tmp_path, model, inputs)
    for backend, ys in got.items():
        for e, y in zip(expected, ys):
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


def test_every_layout_op_on_qemu_m3(qemu_m3, tmp_path, capsys):
    """The board model deployed to the emulated Cortex-M3 (`tinyml deploy`) and checked against TFLM
    on the host (`tinyml verify`) with the native and the viper kernels: one board session for all."""
    model, inputs = layout_models.board_model(np.random.default_rng(12))
    verify_on_board(qemu_m3, model, inputs[0], "layout_ops", tmp_path, capsys)


def flatten_model(signature):
    """A Keras Flatten exported with a dynamic batch: SHAPE -> STRIDED_SLICE (the batch) -> PACK with
    -1 -> RESHAPE, the input's shape signature `signature` (shape holds 1 where it is -1)."""
    qp = (0.05, -3)
    tensors = [T((1, 4, 3, 2), scale=qp[0], zero_point=qp[1], shape_signature=signature),  # 0 x
               T((4,), dtype="int32"),                                          # 1 SHAPE(x)
               T(data=np.array([0], np.int32), dtype="int32"), T(data=np.array([1], np.int32), dtype="int32"),
               T(data=np.array([1], np.int32), dtype="int32"),                  # 2..4 begin end strides
               T((), dtype="int32"),                                            # 5 the batch
               T(data=np.array(-1, np.int32), dtype="int32"),                   # 6 -1
               T((2,), dtype="int32"),                                          # 7 PACK
               T((1, 24), scale=qp[0], zero_point=qp[1], shape_signature=(-1, 24))]  # 8 y
    ops = [tb.Op("SHAPE", [0], [1], {"out_type": "INT32"}),
           tb.Op("STRIDED_SLICE", [1, 2, 3, 4], [5], {"shrink_axis_mask": 1}),
           tb.Op("PACK", [5, 6], [7], {"values_count": 2, "axis": 0}),
           tb.Op("RESHAPE", [0, 7], [8])]
    return tb.build_model(ops, tensors, [0], [8])


def test_flatten_with_a_dynamic_batch_folds_to_one_reshape(tmp_path):
    """The shape arithmetic runs at conversion (TFLM runs it on the batch-1 shape each inference): the
    .tml holds one op, a RESHAPE, and gives TFLM's bytes."""
    model = flatten_model((-1, 4, 3, 2))
    run_everywhere(tmp_path, model, layout_models.inputs(np.random.default_rng(3), (1, 4, 3, 2)))
    tml = convert(model, "flatten")
    n_ops = int.from_bytes(tml[18:20], "little")  # the header's n_ops (docs/model-format.md)
    assert n_ops == 1, "the .tml has %d ops, expected 1 (the RESHAPE)" % n_ops


def test_a_dynamic_dimension_other_than_the_batch_is_refused_saying_how_to_fix_it():
    with pytest.raises(ConvertError, match=r"dynamic dimensions \(shape signature \[-1, -1, 3, 2\]\).*"
                                           r"tf.keras.Input\(shape=\(4, 3, 2\), batch_size=1\)"):
        convert(flatten_model((-1, -1, 3, 2)), "dyn")


def test_a_layout_op_tflm_refuses_is_refused_naming_it_with_cause_and_fix(capsys, tmp_path):
    m = layout_models.model("STRIDED_SLICE", (1, 4), [layout_models.i32([0, 0]), layout_models.i32([1, 4]),
                                                      layout_models.i32([1, 0])], [(1, 4)],
                            {"begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0}, qp=(0.1, 0))
    with pytest.raises(ConvertError, match=r"op 0 STRIDED_SLICE: a stride of 0\n  fix: TFLM refuses this op too"):
        convert(m, "zero_stride")
    (tmp_path / "m.tflite").write_bytes(m)
    assert cli.main(["convert", str(tmp_path / "m.tflite"), "-o", str(tmp_path / "m.tml")]) == 2
    assert "fix: TFLM refuses this op too" in capsys.readouterr().err


def test_resize_bilinear_rounds_halves_away_from_zero_as_tflm(tmp_path):
    """Upsampling 2 columns to 4 puts column 1 halfway: (a + b) / 2, an exact half whenever a + b is odd.
    TFLM's ResizeBilinearInteger rounds those away from zero (not up, as its single-rounding build
    would): every b against a range of a, on every backend."""
    qp = (0.05, 0)
    model = tb.single_op_model("RESIZE_BILINEAR", [T((1, 1, 2, 256), scale=qp[0], zero_point=qp[1]),
                                                   T(data=np.array([1, 4], np.int32), dtype="int32")],
                               [T((1, 1, 4, 256), scale=qp[0], zero_point=qp[1])], {})
    a = np.arange(-128, 128, 5, dtype=np.int8)
    x = np.empty((len(a), 1, 1, 2, 256), np.int8)
    x[:, 0, 0, 0, :] = a[:, None]
    x[:, 0, 0, 1, :] = np.arange(-128, 128, dtype=np.int8)
    expected = run_everywhere(tmp_path, model, [x])
    half = expected[0][:, 0, 0, 1, :].astype(int)
    s = a[:, None].astype(int) + np.arange(-128, 128)[None, :]
    assert np.array_equal(half, np.where(s >= 0, (s + 1) // 2, -((-s + 1) // 2)))  # the rule, as TFLM gave it


@pytest.mark.parametrize("build", [layout_models.unet_model, layout_models.conv1d_model], ids=["unet", "conv1d"])
def test_graphs_as_keras_writes_them_match_tflm(tmp_path, build):
    """The layout ops in context: a U-Net step (pool, upsample nearest and bilinear, concatenate with
    the skip) and a Conv1D classifier (EXPAND_DIMS, CONV_2D, RESHAPE, MEAN over time)."""
    model, inputs = build(np.random.default_rng(5))
    expected = run_everywhere(tmp_path, model, inputs)
    assert len(np.unique(expected[0])) > 8  # not clamped to a few values
