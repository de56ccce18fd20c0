"""Issue 13's conv2d and fully connected kernels (firmware/kernels/tinyml_conv.h, tinyml_nn.h) on the emulated
Cortex-M boards, bit-exact with tflite-micro: qemu-m4 runs the armv7emsp build (SMLAD/SXTB16 loops in
assembly), qemu-m3 the armv7m one; for conv2d both the SMLAL output stage of 4 outputs a channel
(tml_rq_arm: right shifts of 2 or more, full int8 range) and the general one (shifts of -1, 0 or left,
mixed with the others in one call; clamped activations; the last 1 to 3 pixels of an image). Random
kernel cases on the unix port: tests/test_native_cnn_kernels.py, tests/test_native_kernels.py."""
import numpy as np
import pytest

from conftest import tinyml, emulated_board
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor


def conv_model(rng, h, w, c, oc, k, padding, activation, x_zp, y_zp, w_exp, per_channel=True):
    """One CONV_2D (k x k), random int8 weights and int32 bias; per-channel weight scales 10**w_exp (w_exp
    a (lo, hi) range) with input and output scales of 0.05 (ReLU6: 6/255, about half): 10**w_exp is each
    channel's requantization scale, (-3.3, -2) right shifts of 7 to 11, (-4, 0.5) shifts from -13 to 2."""
    scales = list(10 ** rng.uniform(*w_exp, oc if per_channel else 1))
    # biases of about 30 / scale at most (so that the large scales' outputs are not all clamped)
    bias = np.array([int(rng.integers(-30000, 30000) * min(1.0, 1e-3 / s)) for s in np.resize(scales, oc)])
    opts = {"padding": padding, "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1, "dilation_w_factor": 1,
            "fused_activation_function": activation}
    oh, ow = (h, w) if padding == "SAME" else (h - k + 1, w - k + 1)
    return tb.single_op_model(
        "CONV_2D",
        [T((1, h, w, c), scale=0.05, zero_point=x_zp, name="x"),
         T(data=rng.integers(-127, 128, (oc, k, k, c)).astype(np.int8), scale=scales, quantized_dimension=0,
           name="w"),
         T(data=bias.astype(np.int32), dtype="int32", scale=[0.05 * s for s in scales],
           name="b")],
        [T((1, oh, ow, oc), scale=0.05 if activation == "NONE" else 6 / 255, zero_point=y_zp,
           name="y")], opts, 3)


@pytest.fixture(scope="module", params=["qemu-m4", "qemu-m3"])
def board(request):
    """qemu-m4 runs the armv7emsp build (SMLAD/SXTB16), qemu-m3 the plain armv7m one."""
    yield from emulated_board(request.param)


# (h, w, c, oc, k, padding, activation, y_zp, weight scale exponents, per channel): K = k*k*c taps even
# with an even (24) and an odd (3, 9) number of tap pairs and odd (45); 40 channels (a group of 32, then
# 8), 7 (a block and 3 plain rows); 25 and 18 pixels (a last 1 and 2); the SMLAL stage (NONE, shifts
# <= -2, per channel and per tensor), shifts from -12 to left shifts in one call, and the clamped stage
# (ReLU6 at another zero point)
CASES = [(5, 5, 24, 40, 1, "SAME", "NONE", -128, (-3.3, -2), True),
         (4, 4, 5, 7, 3, "SAME", "RELU6", -100, (-3.3, -2), True),
         (6, 5, 6, 16, 1, "VALID", "NONE", 7, (-4, 0.5), True),
         (3, 6, 18, 12, 1, "SAME", "NONE", 127, (-2.5, -2.5), False),
         (7, 7, 1, 9, 3, "VALID", "NONE", -5, (-3.3, -2), True)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "%dx%dx%d-oc%d-k%d-%s-%s" % c[:7])
def test_conv_matches_tflm_on_board(board, tmp_path, capsys, case):
    h, w, c, oc, k, padding, act, y_zp, w_exp, per_channel = case
    rng = np.random.default_rng(CASES.index(case))
    model = tmp_path / "conv.tflite"
    x_zp = int(rng.choice([-128, 3]))
    model.write_bytes(conv_model(rng, h, w, c, oc, k, padding, act, x_zp, y_zp, w_exp, per_channel))
    inputs = tmp_path / "x.npy"
    # full-range inputs, and inputs near the zero point (small sums: outputs not all clamped when the
    # scales are large)
    x = rng.integers(-128, 128, (4, 1, h, w, c))
    x[2] = np.clip(x_zp + rng.integers(-6, 7, (1, h, w, c)), -128, 127)
    x[3] = np.clip(x_zp + rng.integers(-1, 2, (1, h, w, c)), -128, 127)
    np.save(inputs, x.astype(np.int8))
    assert tinyml("deploy", model, "--board", board) == 0
    capsys.readouterr()
    assert tinyml("verify", model, "--input", inputs, "--board", board, "--backend", "native") == 0
    out = capsys.readouterr().out
    assert "4/4 cases match TFLM bit for bit on %s, backend native" % board in out, out


# (inputs, outputs, batches): 4-tap steps odd (7: 28 + 1 taps) and even (64: 256 taps), rows not word
# aligned (29 bytes), 4 channels a pass and 1 to 3 left over, a second batch row
FC_CASES = [(29, 6, 2), (256, 9, 1), (8, 4, 3)]


@pytest.mark.parametrize("case", FC_CASES, ids=lambda c: "%dx%d-b%d" % c)
def test_fully_connected_matches_tflm_on_board(board, tmp_path, capsys, case):
    n_in, n_out, batches = case
    rng = np.random.default_rng(100 + FC_CASES.index(case))
    w = rng.integers(-127, 128, (n_out, n_in))
    model = tmp_path / "fc.tflite"
    model.write_bytes(tb.fully_connected_model(w, rng.integers(-3000, 3000, n_out), 0.05, 3,
                                               list(10 ** rng.uniform(-3, -2, n_out)), 0.1, -7, batches=batches))
    inputs = tmp_path / "x.npy"
    np.save(inputs, rng.integers(-128, 128, (4, batches, n_in)).astype(np.int8))
    assert tinyml("deploy", model, "--board", board) == 0
    capsys.readouterr()
    assert tinyml("verify", model, "--input", inputs, "--board", board, "--backend", "native") == 0
    out = capsys.readouterr().out
    assert "4/4 cases match TFLM bit for bit on %s, backend native" % board in out, out
