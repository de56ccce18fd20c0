"""The sequence models' ops: FULLY_CONNECTED on 3-D inputs (keep_num_dims, a Keras Dense on a
sequence), BATCH_MATMUL with a constant matrix and of two activations, and the float island of TensorFlow's unrolled GRU:
int8 models built with tflite_build, converted, run by every backend on the real MicroPython unix port
and compared byte for byte with TFLM run in the same test: keep_num_dims on and off, per-tensor and
per-channel weights, every fused activation, zero points at the int8 edges."""
import json
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from test_sub import run_everywhere
from tinyml_host.cli import main as cli
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")




def cases(rng, shape, n=5):
    return np.concatenate([rng.integers(-128, 128, (n,) + shape), np.full((1,) + shape, -128),
                           np.full((1,) + shape, 127)]).astype(np.int8)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("keep_num_dims", [True, False])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_fully_connected_on_a_sequence_matches_tflm(tmp_path, activation, keep_num_dims, per_channel):
    rng = np.random.default_rng([ACTIVATIONS.index(activation), keep_num_dims, per_channel])
    steps, n_in, n_out = int(rng.integers(2, 7)), int(rng.integers(3, 20)), int(rng.integers(2, 12))
    x_scale, x_zp = float(rng.uniform(0.01, 0.1)), int(rng.choice([-128, 127, rng.integers(-128, 128)]))
    w_scales = rng.uniform(0.002, 0.02, n_out if per_channel else 1).astype(np.float32)
    y_scale = float(x_scale * w_scales.mean() * np.sqrt(n_in) * 40)
    if activation != "NONE":
        y_scale = min(y_scale, {"RELU": 1.0, "RELU6": 6.0, "RELU_N1_TO_1": 1.0}[activation] / 100)
    y_zp = int(rng.integers(-100, 100))
    out_shape = (1, steps, n_out) if keep_num_dims else (steps, n_out)
    model = tb.single_op_model(
        "FULLY_CONNECTED",
        [T((1, steps, n_in), scale=x_scale, zero_point=x_zp, name="input"),
         T(data=rng.integers(-127, 128, (n_out, n_in)).astype(np.int8), scale=w_scales,
           zero_point=[0] * len(w_scales), name="weights"),
         T(data=rng.integers(-5000, 5000, n_out).astype(np.int32), dtype="int32",
           scale=np.float32(x_scale) * w_scales, zero_point=[0] * len(w_scales), name="bias")],
        [T(out_shape, scale=y_scale, zero_point=y_zp)],
        {"fused_activation_function": activation, "keep_num_dims": keep_num_dims},
        tb.FC_PER_CHANNEL_VERSION if per_channel else tb.FC_VERSION)
    expected = run_everywhere(tmp_path, model, [cases(rng, (1, steps, n_in))])
    assert expected[0].shape[1:] == out_shape
    assert len(np.unique(expected[0])) > 3


@pytest.mark.parametrize("adj_y", [False, True])
@pytest.mark.parametrize("lhs_shape", [(1, 4, 6), (2, 3, 5), (3, 1, 2, 7)], ids=["seq", "batch2", "rank4"])
def test_batch_matmul_with_a_constant_matrix_matches_tflm(tmp_path, lhs_shape, adj_y):
    """TFLM's int8 BATCH_MATMUL, its right operand a constant (symmetric, per-tensor): scales drawn
    anew for each of several models, the zero point of the left operand at the int8 edges too."""
    for k in range(4):
        rng = np.random.default_rng([len(lhs_shape), lhs_shape[0], adj_y, k])
        n_in, n_out = lhs_shape[-1], int(rng.integers(2, 9))
        w = rng.integers(-127, 128, (n_out, n_in) if adj_y else (n_in, n_out)).astype(np.int8)
        x_scale, w_scale = (float(np.float32(s)) for s in 10 ** rng.uniform(-2.5, -1, 2))
        y_scale = float(np.float32(x_scale * w_scale * np.sqrt(n_in) * float(rng.uniform(20, 60))))
        x_zp = int(rng.choice([-128, 127, rng.integers(-128, 128)]))
        model = tb.single_op_model(
            "BATCH_MATMUL",
            [T(lhs_shape, scale=x_scale, zero_point=x_zp), T(data=w, scale=w_scale, zero_point=0)],
            [T(lhs_shape[:-1] + (n_out,), scale=y_scale, zero_point=int(rng.integers(-50, 50)))],
            {"adj_x": False, "adj_y": adj_y}, 4)
        expected = run_everywhere(tmp_path, model, [cases(rng, lhs_shape)])
        assert len(np.unique(expected[0])) > 3


# (lhs shape, rhs shape, adj_x, adj_y): attention's Q x K^T (adj_y) and its weights x V, batch dims
# broadcast either way, ranks 2 to 4 (tinyml's tensors), a transposed left operand
TWO_ACTIVATIONS = [
    ((1, 4, 6), (1, 6, 5), False, False),
    ((2, 3, 5), (2, 4, 5), False, True),
    ((3, 1, 2, 7), (1, 4, 7, 3), False, False),
    ((2, 6, 3), (6, 4), True, False),
    ((1, 3, 5), (2, 1, 5, 4), False, False),
    ((8, 5), (3, 8), True, True),
    ((1, 1, 9, 16), (1, 2, 16, 9), False, False),
]


def matmul_out_shape(lhs, rhs, adj_x, adj_y):
    rows = lhs[-1] if adj_x else lhs[-2]
    cols = rhs[-2] if adj_y else rhs[-1]
    return tuple(np.broadcast_shapes(lhs[:-2], rhs[:-2])) + (rows, cols)


def two_activations_model(rng, lhs, rhs, adj_x, adj_y):
    depth = lhs[-2] if adj_x else lhs[-1]
    a_scale, b_scale = (float(np.float32(s)) for s in 10 ** rng.uniform(-2.5, -1, 2))
    a_zp, b_zp = (int(rng.choice([-128, 127, rng.integers(-128, 128)])) for _ in range(2))
    # the sums' spread: random codes less a zero point at an edge sum to about depth * 128 * 128
    spread = depth * abs(a_zp) * abs(b_zp) + np.sqrt(depth) * 5500
    y_scale = float(np.float32(a_scale * b_scale * spread / float(rng.uniform(60, 120))))
    return tb.single_op_model(
        "BATCH_MATMUL", [T(lhs, scale=a_scale, zero_point=a_zp), T(rhs, scale=b_scale, zero_point=b_zp)],
        [T(matmul_out_shape(lhs, rhs, adj_x, adj_y), scale=y_scale, zero_point=int(rng.integers(-50, 50)))],
        {"adj_x": adj_x, "adj_y": adj_y}, 4)


@pytest.mark.parametrize("case", TWO_ACTIVATIONS, ids=["qk", "adj_y", "broadcast4", "adj_x-rank2", "ranks3x4",
                                                       "adj_xy-rank2", "heads"])
def test_batch_matmul_of_two_activations_matches_tflm(tmp_path, case):
    """TFLM's int8 BATCH_MATMUL with both operands computed when the model runs (attention, a Keras Dot):
    the batch_matmul kernel of every backend, zero points of both operands at the int8 edges too."""
    lhs, rhs, adj_x, adj_y = case
    for k in range(3):
        rng = np.random.default_rng([TWO_ACTIVATIONS.index(case), k])
        model = two_activations_model(rng, lhs, rhs, adj_x, adj_y)
        expected = run_everywhere(tmp_path, model, [cases(rng, lhs), cases(rng, rhs)])
        assert expected[0].shape[1:] == matmul_out_shape(lhs, rhs, adj_x, adj_y)
        assert len(np.unique(expected[0])) > 3


def test_batch_matmul_with_an_asymmetric_constant_runs_as_batch_matmul(tmp_path):
    """A constant operand with a zero point (or on the left) is no fully_connected's weights: the
    batch_matmul kernel takes it as a constant input."""
    rng = np.random.default_rng(5)
    const = T(data=rng.integers(-128, 128, (6, 4)).astype(np.int8), scale=0.02, zero_point=-9)
    for ins in ([T((2, 3, 6), scale=0.03, zero_point=4), const],
                [T(data=rng.integers(-128, 128, (3, 6)).astype(np.int8), scale=0.02, zero_point=5),
                 T((2, 6, 4), scale=0.03, zero_point=-4)]):
        model = tb.single_op_model("BATCH_MATMUL", ins, [T((2, 3, 4), scale=0.05, zero_point=3)],
                                   {"adj_x": False, "adj_y": False}, 4)
        shape = [t.shape for t in ins if t.data is None][0]
        expected = run_everywhere(tmp_path, model, [cases(rng, shape)])
        assert len(np.unique(expected[0])) > 3


def test_batch_matmul_that_does_not_multiply_is_refused():
    model = tb.single_op_model("BATCH_MATMUL", [T((1, 3, 4), scale=0.1), T((1, 5, 2), scale=0.1)],
                               [T((1, 3, 2), scale=0.2)], {}, 4)
    with pytest.raises(ConvertError, match="do not multiply"):
        convert(model, "attention")


def float_island_model(back_scale):
    """int8 input -> dequantize -> float split in two -> each quantized back (TensorFlow's unrolled GRU)."""
    qp = dict(scale=0.0074, zero_point=8)
    tensors = [T((1, 12), **qp), T((1, 12), dtype="float32"), T(data=np.array(1, np.int32), dtype="int32"),
               T((1, 6), dtype="float32"), T((1, 6), dtype="float32"),
               T((1, 6), scale=back_scale, zero_point=8), T((1, 6), scale=back_scale, zero_point=8)]
    ops = [tb.Op("DEQUANTIZE", [0], [1]), tb.Op("SPLIT", [2, 1], [3, 4], {"num_splits": 2}),
           tb.Op("QUANTIZE", [4], [5]), tb.Op("QUANTIZE", [3], [6])]
    return tb.build_model(ops, tensors, [0], [5, 6])


def test_a_float_island_that_gives_back_its_bytes_runs_as_int8_moves(tmp_path):
    """Dequantize, float moves, quantize back to the same scale and zero point: every code comes back,
    so the island runs as int8 moves and gives TFLM's bytes on every backend."""
    codes = np.arange(-128, 128, dtype=np.int8)
    x = np.stack([np.roll(codes, k)[:12] for k in range(0, 256, 12)]).reshape(-1, 1, 12)
    run_everywhere(tmp_path, float_island_model(0.0074), [x])


def test_a_float_island_that_changes_scale_is_refused():
    with pytest.raises(ConvertError, match="float32"):
        convert(float_island_model(0.01), "island")


def test_on_qemu_m3(qemu_m3, tmp_path, capsys):
    """A BATCH_MATMUL with a constant matrix and one of two activations (broadcast, adj_y), a
    FULLY_CONNECTED on a sequence and a float island,
    deployed to the emulated Cortex-M3 and checked against TFLM on the host (`tinyml verify`), native
    and viper: one board session."""
    rng = np.random.default_rng(7)
    w = rng.integers(-127, 128, (6, 5)).astype(np.int8)
    matmul = tb.single_op_model("BATCH_MATMUL", [T((2, 3, 6), scale=0.02, zero_point=-128), T(data=w, scale=0.01)],
                                [T((2, 3, 5), scale=0.03, zero_point=4)], {"adj_x": False, "adj_y": False}, 4)
    fc = tb.single_op_model(
        "FULLY_CONNECTED", [T((1, 4, 6), scale=0.02, zero_point=3), T(data=w.T.copy(), scale=0.01),
                            T(data=rng.integers(-900, 900, 5).astype(np.int32), dtype="int32", scale=0.0002)],
        [T((1, 4, 5), scale=0.02, zero_point=-7)], {"fused_activation_function": "RELU", "keep_num_dims": True},
        tb.FC_VERSION)
    two = two_activations_model(rng, *TWO_ACTIVATIONS[2])
    for name, model, shapes in (("matmul", matmul, [(2, 3, 6)]), ("fc3d", fc, [(1, 4, 6)]),
                                ("island", float_island_model(0.0074), [(1, 12)]),
                                ("matmul2", two, TWO_ACTIVATIONS[2][:2])):
        path = tmp_path / (name + ".tflite")
        path.write_bytes(model)
        inputs = []
        for k, shape in enumerate(shapes):
            inputs += ["--input", str(tmp_path / ("%s.input%d.npy" % (name, k)))]
            np.save(inputs[-1], cases(rng, shape))
        assert cli.main(["deploy", str(path), "--board", qemu_m3]) == 0
        for backend in ("native", "viper"):
            capsys.readouterr()
            assert cli.main(["verify", str(path)] + inputs + ["--board", qemu_m3, "--backend", backend]) == 0
            out = capsys.readouterr().out
            assert "7/7 cases match TFLM bit for bit on qemu-m3, backend %s" % backend in out, out[-500:]


def test_batch_matmul_instruction_budget_on_qemu_m3(tmp_path):
    """qemu-m3, native backend, instructions counted by QEMU (deterministic): a 32x64 by 64x32 product
    of two activations at most 6 instructions per multiply-accumulate, with the right operand as it
    comes (strided columns) and transposed (adj_y); 5.1 measured, 10.9 one column at a time."""
    for adj_y in (False, True):
        path, js = tmp_path / "mm.tflite", tmp_path / "mm.json"
        path.write_bytes(tb.single_op_model(
            "BATCH_MATMUL", [T((1, 32, 64), scale=0.02, zero_point=3),
                             T((1, 32, 64) if adj_y else (1, 64, 32), scale=0.02, zero_point=-5)],
            [T((1, 32, 32), scale=0.5, zero_point=0)], {"adj_x": False, "adj_y": adj_y}, 4))
        p = subprocess.run([str(ROOT / ".venv" / "bin" / "tinyml"), "bench", str(path), "--board", "qemu-m3", "--icount",
                            "--backend", "native", "--heap", "1M", "--json", str(js)], capture_output=True, text=True,
                           cwd=ROOT)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        layer = json.loads(js.read_text())["layers"][0]
        assert layer["op"] == "BATCH_MATMUL" and layer["instructions"] <= 6 * layer["macs"], layer
