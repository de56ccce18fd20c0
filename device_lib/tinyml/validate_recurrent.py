# The checks of the stateful ops' records (SVDF, UNIDIRECTIONAL_SEQUENCE_LSTM), for tinyml/validate.py,
# which imports this only for a model that has them (and tinyml.tmlfile drops it with validate after the
# check). Each takes validate's _Op and returns the op's work; the state tensors must be variable and
# every other input not, each shape the converter's, each parameter in the range the kernels' int32
# arithmetic takes (docs/model-format.md).
from tinyml.ops import const

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_SVDF_PARAMS = const(5)
_SVDF_RANK = const(5)
_SVDF_X_ZP = const(6)
_SVDF_FEATURE_SHIFT = const(8)
_SVDF_STATE_ZP = const(9)
_SVDF_TIME_SHIFT = const(11)
_SVDF_Y_ZP = const(12)
_LSTM_PARAMS = const(3)
_LSTM_GATE_SHIFT0 = const(11)
_LSTM_FORGET_SHIFT = const(20)
_LSTM_INPUT_SHIFT = const(22)
_LSTM_OUTPUT_SHIFT = const(24)
_LSTM_H_ZP = const(25)
_LSTM_CELL_CLIP = const(26)
_LSTM_TANH_MULTIPLIER = const(27)
_LSTM_TANH_SHIFT = const(28)
# ---- end of g's slots ----

_INT8 = const(1)
_INT32 = const(2)
_INT16 = const(4)


def _states(c, ks):
    """Inputs ks are variable tensors (the op's state), the others not."""
    for k, t in enumerate(c.ins):
        if t.variable != (k in ks):
            c.fail("input %d (tensor %d) %s a variable tensor" % (k, t.index, "must be" if k in ks else "must not be"))


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def svdf(c):
    """x (batch, n_input) int8; feature weights (n_filter, n_input) int8 and time weights (n_filter,
    memory) int16 or int8, constant; bias (n_unit) int32; the state of the time weights' type, batch x
    n_filter x memory values; y (batch, n_unit) int8, n_filter = n_unit x rank."""
    c.base = _SVDF_PARAMS
    _states(c, (4,))
    batch, n_in = c.tensor(0, _INT8, 2)
    n_filter = c.tensor(1, _INT8, 2, True)[0]
    c.tensor(1, _INT8, 2, True, (n_filter, n_in))
    t_time = _INT8 if c.ins[2].dtype == _INT8 else _INT16  # TFLM's two integer versions
    memory = c.tensor(2, t_time, 2, True)[1]
    c.tensor(2, t_time, 2, True, (n_filter, memory))
    rank = c.param(_SVDF_RANK, "rank", 1, n_filter)
    if n_filter % rank:
        c.fail("rank %d does not divide the %d filters" % (rank, n_filter))
    n_unit = n_filter // rank
    c.tensor(3, _INT32, 1, True, (n_unit,))
    c.tensor(4, t_time)
    c.elements(4, batch * n_filter * memory)
    c.tensor(-1, _INT8, 2, False, (batch, n_unit))
    c.zp(_SVDF_X_ZP, "x_zp")
    c.zp(_SVDF_Y_ZP, "y_zp")
    if t_time == _INT8:
        c.zp(_SVDF_STATE_ZP, "state_zp")
    else:
        c.param(_SVDF_STATE_ZP, "state_zp", -32768, 32767)
    c.param(_SVDF_FEATURE_SHIFT, "feature_shift", -31, 31)
    c.param(_SVDF_TIME_SHIFT, "time_shift", -31, 31)
    return batch * n_filter * (n_in + memory)


def lstm(c):
    """x int8 (1, steps, n_input) or (steps, 1, n_input); weights from the input (4 n_state, n_input)
    and recurrent (4 n_state, n_state) int8, the biases (8 n_state) int32, the sigmoid table (256) int16,
    constant; the hidden state int8 and the cell state int16, n_state values each; y int8 (.., n_state),
    one row per step."""
    c.base = _LSTM_PARAMS
    _states(c, (5, 6))
    shape = c.tensor(0, _INT8, 3)
    if shape[0] != 1 and shape[1] != 1:
        c.fail("input 0 has shape %dx%dx%d: batch 1 only" % tuple(shape))
    n_in = shape[2]
    steps = shape[0] * shape[1]
    n4 = c.tensor(1, _INT8, 2, True)[0]
    n = n4 // 4
    if n < 1 or n4 != 4 * n:
        c.fail("input 1 has %d rows, expected 4 per cell" % n4)
    c.tensor(1, _INT8, 2, True, (n4, n_in))
    c.tensor(2, _INT8, 2, True, (n4, n))
    c.tensor(3, _INT32, 1, True, (8 * n,))
    c.tensor(4, _INT16, 1, True, (256,))
    c.tensor(5, _INT8)
    c.elements(5, n)
    c.tensor(6, _INT16)
    c.elements(6, n)
    if c.tensor(-1, _INT8, 3)[2] != n:
        c.fail("output 0 has %d values per step, expected %d" % (c.out.shape[2], n))
    c.elements(-1, steps * n)
    for k in range(8):
        c.param(_LSTM_GATE_SHIFT0 + k, "gate_shift[%d]" % k, -31, 31)
    for slot, field in ((_LSTM_FORGET_SHIFT, "forget_shift"), (_LSTM_INPUT_SHIFT, "input_shift"),
                        (_LSTM_OUTPUT_SHIFT, "output_shift")):
        c.param(slot, field, -31, 31)
    c.zp(_LSTM_H_ZP, "h_zp")
    c.param(_LSTM_CELL_CLIP, "cell_clip", 0, 32767)
    # the cell state (int16) times the multiplier, plus half of 2^shift, stays inside int32
    c.param(_LSTM_TANH_MULTIPLIER, "tanh_multiplier", 1, 3 << 14)
    c.param(_LSTM_TANH_SHIFT, "tanh_shift", 0, 15)
    return steps * 4 * n * (n_in + n + 4)


CHECKS = {"svdf": svdf, "lstm": lstm}
