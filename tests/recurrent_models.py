"""Single-op int8 models of TFLM's stateful ops, SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM, quantized as
TFLite's converter quantizes them (int16 SVDF time weights and state; int8 LSTM weights and hidden
state, int16 cell state of a power-of-two scale), their state tensors variable (TFLM keeps them across
invokes). Each builder: (rng, ...) -> (.tflite bytes, [inputs (N, *shape)])."""
import numpy as np

from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor


def _sym(rng, shape, bits=8):
    top = (1 << (bits - 1)) - 1
    return rng.integers(-top, top + 1, shape).astype(np.int8 if bits == 8 else np.int16)


def svdf_model(rng, batch=1, n_input=10, n_unit=4, rank=2, memory=5, activation="RELU", state_zp=0, bits=16):
    """SVDF as in TFLM's keyword model: int8 input and feature weights, int16 time weights and
    activation state (zero point 0 as TFLite's converter writes it; another exercises TFLM's int16
    wrap), int32 bias in the state scale x the time weights' scale. A fused activation is ignored by
    TFLM's int8 kernel (RELU here proves it). TFLM's Prepare reads the bias's scale unchecked: a model
    without a bias crashes it, so every model here has one. bits=8: TFLM's other integer version, int8
    time weights and state (as its keyword_scrambled_8bit model)."""
    n_filter = n_unit * rank
    x_scale, x_zp = float(10 ** rng.uniform(-2.5, -1)), int(rng.integers(-20, 20))
    wf_scale = float(10 ** rng.uniform(-3, -2))
    wt_scale = float(10 ** rng.uniform(-5, -4)) if bits == 16 else float(10 ** rng.uniform(-2.5, -1.5))
    s_scale = float(10 ** rng.uniform(-3.5, -2.5)) if bits == 16 else float(10 ** rng.uniform(-1.5, -0.5))
    st = "int16" if bits == 16 else "int8"
    b_scale = float(np.float32(s_scale) * np.float32(wt_scale))
    y_scale, y_zp = float(10 ** rng.uniform(-2, -1)), int(rng.integers(-10, 10))
    ins = [T((batch, n_input), scale=x_scale, zero_point=x_zp, name="input"),
           T(data=_sym(rng, (n_filter, n_input)), scale=wf_scale, name="weights_feature"),
           T(data=_sym(rng, (n_filter, memory), bits), dtype=st, scale=wt_scale, name="weights_time"),
           T(data=rng.integers(-20000, 20000, n_unit).astype(np.int32), dtype="int32", scale=b_scale, name="bias"),
           T((batch, n_filter * memory), dtype=st, scale=s_scale, zero_point=state_zp, name="state",
             variable=True)]
    out = T((batch, n_unit), scale=y_scale, zero_point=y_zp, name="output")
    tensors = ins + [out]
    op = tb.Op("SVDF", [0, 1, 2, 3, 4], [5], {"rank": rank, "fused_activation_function": activation}, 4)
    model = tb.build_model([op], tensors, [0], [5])
    return model, [rng.integers(-128, 128, (8, batch, n_input)).astype(np.int8)]


# UNIDIRECTIONAL_SEQUENCE_LSTM's 24 inputs (TFLM's lstm_shared.h): 0 input, 1-4 input-to-(input,
# forget, cell, output) weights, 5-8 recurrent-to-(input, forget, cell, output) weights, 9-11
# peepholes, 12-15 the gate biases (input, forget, cell, output), 16-17 projection, 18 hidden state,
# 19 cell state, 20-23 layer norm coefficients
def lstm_model(rng, steps=3, n_input=5, n_state=4, time_major=False, cell_clip=0.0, cell_scale=2.0 ** -11,
               activation="TANH", batch=1, peephole=False, cifg=False):
    """int8 LSTM (batch 1): per-tensor symmetric int8 weights, int32 biases in input x weight scale,
    an int8 hidden state of its own scale and zero point (the output's), an int16 cell state.
    batch > 1, peephole and cifg (no input gate) make the forms TFLM's kernel does not run."""
    x_scale, x_zp = float(10 ** rng.uniform(-2, -1)), int(rng.integers(-30, 30))
    h_scale, h_zp = float(10 ** rng.uniform(-2.3, -1.9)), int(rng.integers(-10, 10))
    tensors = [T((steps, batch, n_input) if time_major else (batch, steps, n_input), scale=x_scale,
                 zero_point=x_zp, name="input")]
    idx = [0] + [-1] * 23
    for k in range(8):  # gate weights: input-to-gate (S, I), recurrent-to-gate (S, S)
        shape = (n_state, n_input if k < 4 else n_state)
        idx[1 + k] = len(tensors)
        tensors.append(T(data=_sym(rng, shape), scale=float(10 ** rng.uniform(-2.7, -1.7)), name="w%d" % k))
    for g in range(4):  # biases in the input-to-gate weights' scale x the input's
        w_scale = np.float32(tensors[idx[1 + g]].scale)
        idx[12 + g] = len(tensors)
        real = rng.uniform(-1, 1, n_state) + (1.0 if g == 1 else 0.0)
        b = np.round(real / float(np.float32(x_scale) * w_scale)).astype(np.int32)
        tensors.append(T(data=b, dtype="int32", scale=float(np.float32(x_scale) * w_scale), name="b%d" % g))
    if peephole:  # cell-to-forget and cell-to-output peephole weights (int16, as TFLite writes them)
        for k in (10, 11):
            idx[k] = len(tensors)
            tensors.append(T(data=np.ones(n_state, np.int16), dtype="int16", scale=2.0 ** -10, name="p%d" % k))
    if cifg:
        idx[1] = idx[5] = idx[12] = -1
    idx[18] = len(tensors)
    tensors.append(T((batch, n_state), scale=h_scale, zero_point=h_zp, name="hidden", variable=True))
    idx[19] = len(tensors)
    tensors.append(T((batch, n_state), dtype="int16", scale=cell_scale, zero_point=0, name="cell",
                     variable=True))
    out = len(tensors)
    tensors.append(T((steps, batch, n_state) if time_major else (batch, steps, n_state), scale=h_scale,
                     zero_point=h_zp, name="output"))
    op = tb.Op("UNIDIRECTIONAL_SEQUENCE_LSTM", idx, [out],
               {"fused_activation_function": activation, "cell_clip": cell_clip, "proj_clip": 0.0,
                "time_major": time_major, "asymmetric_quantize_inputs": False}, 3)
    model = tb.build_model([op], tensors, [0], [out])
    return model, [rng.integers(-128, 128, (6,) + tensors[0].shape).astype(np.int8)]


def tflm_sequence(model, xs, reset_at=()):
    """TFLM's outputs for inputs run one after another, its state carried from one to the next (its
    interpreter reset first, and again before each case whose index is in reset_at): (N, *output 0's
    shape), or with several outputs (N, their bytes one after the other)."""
    from tinyml_host.oracle import tflm
    interp = tflm.interpreter(model)
    interp.reset()
    n_out = tflm._n_outputs(model)
    outs = []
    for k, x in enumerate(xs):
        if k in reset_at:
            interp.reset()
        interp.set_input(np.ascontiguousarray(x), 0)
        interp.invoke()
        ys = [np.array(interp.get_output(j)) for j in range(n_out)]
        outs.append(ys[0] if n_out == 1 else np.concatenate([y.reshape(-1) for y in ys]))
    return np.stack(outs)
