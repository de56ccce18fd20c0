# The op table: the one place an op of the .tml format is defined (as MicroPython's py/bc0.h is for
# its bytecode). The reader, the interpreter (model._bind), the three kernel backends and, on the host,
# the converter and `tinyml inspect` take opcodes and parameter slots from here; the C kernels from
# firmware/kernels/tinyml_ops.h, generated from this file (firmware/kernels/gen_ops_h.py). The host's
# parameter names are in tinyml_host/model/op_params.py; tests/test_op_table.py checks they all agree.
#
# An op's parameters (the int32s of its record, docs/model-format.md) reach its kernel in one array
# g: the slots the interpreter fills (shapes, the run of output channels of a call), then the op's
# parameters in the file's order, so parameter i is g[_<FAMILY>_PARAMS + i] (pool2d's is_max comes
# after them). Each slot is named _<FAMILY>_<NAME>; ops whose kernel takes scalars (FULLY_CONNECTED,
# SOFTMAX) name their positions in the parameter list the same way. A name ending in 0 starts a run
# (_ADD_D0: the 4 output dimensions). The slots are private consts: MicroPython folds them away, so
# they cost the board no RAM. Each module that reads g has the ones it uses as consts of its own, in
# a block that firmware/kernels/gen_ops_h.py writes from this file (make ops-header) and
# tests/test_op_table.py checks, as it does C's tinyml_ops.h.
try:
    from micropython import const
except ImportError:  # CPython on the host
    def const(x):
        return x

# One line per op: opcode (the TFLite BuiltinOperator number of the op it implements), name, kernel
# (the backends' function; lut/quantize_f32: lut when the op has a table input, else quantize_f32),
# flags: "streams" (constant inputs 1..4, weights, bias, multiplier, shift, stream from the file),
# "moves" (the interpreter moves bytes itself, the same for every backend: its function, copy, pad or
# concat in model.py, or remap in tinyml/moves.py, is no backend kernel), "max" (pool2d takes the maximum, else the average),
# "whole" (a model that streams reads the op's constant inputs whole into the weight window before each call:
# the stateful ops, whose weights do not split by output channel), "-".
# Then what the loader's validation (tinyml/validate.py) needs, so a file's op record is checked
# against its row before any kernel sees it: the counts of inputs, outputs and int32 parameters the
# record must have ("N", or "A-B" for A to B), and check: the function of validate.py (CHECKS) that
# checks the op's tensors' dtypes and shapes against each other and its parameters' ranges, and
# returns the work it asks for. A new op reuses a check when its record is another op's (SUB is
# ADD's), or adds one to validate.py; tests/test_op_table.py fails for a row without one.
# The interpreter tells ops apart by their kernel, never by name. One string, not an object per op:
# a row is made when asked for.
#
# opcode name kernel flags ins outs params check
TABLE = """\
0 ADD add - 2 1 24 add
1 AVERAGE_POOL_2D pool2d - 1 1 8 pool
2 CONCATENATION concat moves 1-255 1 2-256 concat
3 CONV_2D conv2d streams 5 1 10 conv
4 DEPTHWISE_CONV_2D depthwise_conv2d streams 5 1 11 depthwise
5 DEPTH_TO_SPACE remap moves 2 1 6 remap
6 DEQUANTIZE lut - 1-2 1 0-4 lut
7 EMBEDDING_LOOKUP lookup moves 2 1 0-4 lookup
9 FULLY_CONNECTED fully_connected streams 5 1 3 fc
11 L2_NORMALIZATION l2_normalization - 1 1 1 l2norm
14 LOGISTIC lut - 2 1 0-4 lut
17 MAX_POOL_2D pool2d max 1 1 8 pool
18 MUL mul - 2 1 19 mul
19 RELU lut - 2 1 0 lut
21 RELU6 lut - 2 1 0 lut
22 RESHAPE copy moves 1 1 0 same
23 RESIZE_BILINEAR resize_bilinear - 2 1 0 resize
25 SOFTMAX softmax - 1-2 1 3 softmax
26 SPACE_TO_DEPTH remap moves 2 1 6 remap
27 SVDF svdf whole 5 1 8 svdf
28 TANH lut - 2 1 0-4 lut
34 PAD pad moves 1 1 5 pad
36 GATHER remap moves 2 1 6 remap
37 BATCH_TO_SPACE_ND remap moves 2 1 6 remap
38 SPACE_TO_BATCH_ND remap moves 2 1 6 remap
39 TRANSPOSE remap moves 2 1 6 remap
40 MEAN mean_hw/reduce_sum - 1-2 1 4 reduce
41 SUB sub - 2 1 24 add
43 SQUEEZE copy moves 1 1 0 same
44 UNIDIRECTIONAL_SEQUENCE_LSTM lstm whole 7 1 26 lstm
45 STRIDED_SLICE remap moves 2 1 6 remap
49 SPLIT remap moves 2 1 6 remap
50 LOG_SOFTMAX log_softmax - 1 1 5 logsoftmax
53 CAST lut - 2 1 0 lut
54 PRELU prelu - 2 1 24 add
55 MAXIMUM maximum - 2 1 12 broadcast
56 ARG_MAX reduce_argmax - 2 1 0 arg
57 MINIMUM minimum - 2 1 12 broadcast
58 LESS less - 2 1 24 compare
60 PADV2 remap moves 2 1 6 remap
61 GREATER greater - 2 1 24 compare
62 GREATER_EQUAL greater_equal - 2 1 24 compare
63 LESS_EQUAL less_equal - 2 1 24 compare
65 SLICE remap moves 2 1 6 remap
67 TRANSPOSE_CONV transpose_conv2d streams 5 1 10 tconv
70 EXPAND_DIMS copy moves 1 1 0 same
71 EQUAL equal - 2 1 24 compare
72 NOT_EQUAL not_equal - 2 1 24 compare
74 SUM reduce_sum - 2 1 4 reduce
76 RSQRT lut - 2 1 0 lut
79 ARG_MIN reduce_argmin - 2 1 0 arg
82 REDUCE_MAX reduce_max - 2 1 0 reduce
83 PACK concat moves 1-254 1 2-255 concat
88 UNPACK remap moves 2 1 6 remap
89 REDUCE_MIN reduce_min - 2 1 0 reduce
97 RESIZE_NEAREST_NEIGHBOR remap moves 2 1 6 remap
98 LEAKY_RELU lut - 2 1 0 lut
99 SQUARED_DIFFERENCE squared_difference - 2 1 24 add
100 MIRROR_PAD remap moves 2 1 6 remap
101 ABS lut - 2 1 0 lut
102 SPLIT_V remap moves 2 1 6 remap
106 ADD_N add_n - 1-255 1 4 addn
111 ELU lut - 2 1 0 lut
114 QUANTIZE lut/quantize_f32 - 1-2 1 0-2 quantize
117 HARD_SWISH lut - 2 1 0 lut
123 SELECT_V2 select - 3 1 16 select
126 BATCH_MATMUL batch_matmul - 2 1 21 matmul
128 CUMSUM cumsum - 1 1 9 cumsum
151 DYNAMIC_UPDATE_SLICE update_slice moves 3 1 0 update
"""

# The ops that also take int16 activations with int8 weights (TFLite's 16x8 quantization): the
# interpreter calls their kernel's <kernel>_s16 when input 0 is int16 (docs/model-format.md, "int16
# activations"); every other op takes int8 only. SOFTMAX, LOGISTIC, TANH, DEQUANTIZE and QUANTIZE
# call softmax_s16, lut_s16, requantize_s16 (int16 to int8 or int16) or quantize_f32_s16 (float32 to
# int16); QUANTIZE from int8 to int16 is lut's table of 256 int16.
S16 = (0, 1, 3, 4, 6, 9, 14, 17, 18, 22, 25, 28, 41, 43, 70, 114)


def _count(spec):
    lo, _, hi = spec.partition("-")
    return int(lo), int(hi or lo)


def _row(line):
    opcode, name, kernel, flags, ins, outs, params, check = line.split()
    return int(opcode), name, kernel, flags, _count(ins), _count(outs), _count(params), check


def rows():
    """Every row of the table: (opcode, name, kernel, flags, ins, outs, params, check), the counts
    as (least, most)."""
    at = 0
    while at < len(TABLE):
        end = TABLE.find("\n", at)
        yield _row(TABLE[at:end])
        at = end + 1


def row(opcode):
    """The table row of an opcode, or None when this tinyml has no such op. Only its line is read:
    a load asks for every op's row, and a copy of the table each time would crowd a small heap."""
    key = "%d " % opcode
    if TABLE.startswith(key):
        at = 0
    else:
        at = TABLE.find("\n" + key) + 1
        if not at:
            return None
    return _row(TABLE[at:TABLE.find("\n", at)])


def name(opcode):
    r = row(opcode)
    return r[1] if r else "OP%d" % opcode


def streams(opcode):
    r = row(opcode)
    return r is not None and r[3] == "streams"


def whole(opcode):
    """The op's constants are read whole into the weight window before each call (a streamed model)."""
    r = row(opcode)
    return r is not None and r[3] == "whole"


# ---- parameter slots ----

# FULLY_CONNECTED: scalars after (x, w, bias, mult, shift, y, n_in, n_out)
_FC_PARAMS = const(0)
_FC_Y_ZP = const(0)
_FC_ACT_MIN = const(1)
_FC_ACT_MAX = const(2)

# SOFTMAX: scalars after (x, y, n)
_SOFTMAX_PARAMS = const(0)
_SOFTMAX_INPUT_MULTIPLIER = const(0)
_SOFTMAX_INPUT_LEFT_SHIFT = const(1)
_SOFTMAX_DIFF_MIN = const(2)

# int16 LOGISTIC, TANH, DEQUANTIZE: lut_s16(x, y, table, n, mode, multiplier, shift, y_zp): mode 0
# LOGISTIC, 1 TANH (the input multiplier and left shift; table TFLM's sigmoid_table_uint16), 2
# DEQUANTIZE (multiplier: the scale's float32 bits, no table)
_UNARY16_PARAMS = const(0)
_UNARY16_MODE = const(0)
_UNARY16_MULTIPLIER = const(1)
_UNARY16_SHIFT = const(2)
_UNARY16_Y_ZP = const(3)

# L2_NORMALIZATION: l2_normalization(x, y, depth, x_zp), scalars after (x, y, depth)
_L2NORM_PARAMS = const(0)
_L2NORM_X_ZP = const(0)

# LOG_SOFTMAX: log_softmax(x, y, n, ...): scalars after (x, y, n)
_LOGSOFTMAX_PARAMS = const(0)
_LOGSOFTMAX_INPUT_MULTIPLIER = const(0)
_LOGSOFTMAX_INPUT_LEFT_SHIFT = const(1)
_LOGSOFTMAX_REVERSE_MULTIPLIER = const(2)
_LOGSOFTMAX_REVERSE_SHIFT = const(3)
_LOGSOFTMAX_DIFF_MIN = const(4)

# SELECT_V2: select(c, a, b, y, g): the output is (D0..D3); the condition c and a, b are read at
# element strides (0 broadcasts a dimension)
_SELECT_PARAMS = const(0)
_SELECT_D0 = const(0)
_SELECT_C_STRIDE0 = const(4)
_SELECT_A_STRIDE0 = const(8)
_SELECT_B_STRIDE0 = const(12)

# CONV_2D, DEPTHWISE_CONV_2D: conv2d(x, w, bias, mult, shift, y, g) and depthwise_conv2d(...)
_CONV_H = const(0)
_CONV_W = const(1)
_CONV_C = const(2)
_CONV_OH = const(3)
_CONV_OW = const(4)
_CONV_OC = const(5)
_CONV_KH = const(6)
_CONV_KW = const(7)
_CONV_OC0 = const(8)  # the call computes output channels oc0 .. oc0 + ocn - 1
_CONV_OCN = const(9)
_CONV_PARAMS = const(10)
_CONV_STRIDE_H = const(10)
_CONV_STRIDE_W = const(11)
_CONV_DILATION_H = const(12)
_CONV_DILATION_W = const(13)
_CONV_PAD_TOP = const(14)
_CONV_PAD_LEFT = const(15)
_CONV_X_ZP = const(16)
_CONV_Y_ZP = const(17)
_CONV_ACT_MIN = const(18)
_CONV_ACT_MAX = const(19)
_CONV_DEPTH_MULTIPLIER = const(20)  # DEPTHWISE_CONV_2D only

# TRANSPOSE_CONV: transpose_conv2d(x, w, bias, mult, shift, y, g) takes CONV_2D's g (dilations 1); the
# paddings are TFLM's of the output size, the bias is the model's (no x_zp folded in)

# BATCH_MATMUL: batch_matmul(a, b, y, g): y's batches (D0..D2, right-aligned to 3) of ROWS x COLS, each
# the product of a's ROWS x DEPTH and b's DEPTH x COLS; a's batch at element a_stride . i (0 broadcasts
# a dimension), element (r, k) at r * A_ROW + k * A_K (adj_x swaps them), b's (k, c) at k * B_K + c * B_COL
_MATMUL_PARAMS = const(0)
_MATMUL_D0 = const(0)
_MATMUL_A_STRIDE0 = const(3)
_MATMUL_B_STRIDE0 = const(6)
_MATMUL_ROWS = const(9)
_MATMUL_COLS = const(10)
_MATMUL_DEPTH = const(11)
_MATMUL_A_ROW = const(12)
_MATMUL_A_K = const(13)
_MATMUL_B_K = const(14)
_MATMUL_B_COL = const(15)
_MATMUL_A_ZP = const(16)
_MATMUL_B_ZP = const(17)
_MATMUL_Y_MULTIPLIER = const(18)
_MATMUL_Y_SHIFT = const(19)
_MATMUL_Y_ZP = const(20)

# AVERAGE_POOL_2D, MAX_POOL_2D: pool2d(x, y, g)
_POOL_H = const(0)
_POOL_W = const(1)
_POOL_C = const(2)
_POOL_OH = const(3)
_POOL_OW = const(4)
_POOL_PARAMS = const(5)
_POOL_STRIDE_H = const(5)
_POOL_STRIDE_W = const(6)
_POOL_FILTER_H = const(7)
_POOL_FILTER_W = const(8)
_POOL_PAD_TOP = const(9)
_POOL_PAD_LEFT = const(10)
_POOL_ACT_MIN = const(11)
_POOL_ACT_MAX = const(12)
_POOL_IS_MAX = const(13)  # after the parameters: 1 for MAX_POOL_2D

# MEAN: mean_hw(x, y, g)
_MEAN_H = const(0)
_MEAN_W = const(1)
_MEAN_C = const(2)
_MEAN_PARAMS = const(3)
_MEAN_X_ZP = const(3)
_MEAN_Y_ZP = const(4)
_MEAN_MULTIPLIER = const(5)
_MEAN_SHIFT = const(6)

# ADD, SUB: add(a, b, y, g) and sub(a, b, y, g); MUL: mul(a, b, y, g). The output is (D0..D3); a and
# b are read at element strides (0 broadcasts a dimension).
_ADD_PARAMS = const(0)
_ADD_D0 = const(0)
_ADD_A_STRIDE0 = const(4)
_ADD_B_STRIDE0 = const(8)
_ADD_A_ZP = const(12)
_ADD_B_ZP = const(13)
_ADD_LEFT_SHIFT = const(14)
_ADD_A_MULTIPLIER = const(15)
_ADD_A_SHIFT = const(16)
_ADD_B_MULTIPLIER = const(17)
_ADD_B_SHIFT = const(18)
_ADD_Y_MULTIPLIER = const(19)
_ADD_Y_SHIFT = const(20)
_ADD_Y_ZP = const(21)
_ADD_ACT_MIN = const(22)
_ADD_ACT_MAX = const(23)
_MUL_PARAMS = const(0)
_MUL_D0 = const(0)
_MUL_A_STRIDE0 = const(4)
_MUL_B_STRIDE0 = const(8)
_MUL_A_ZP = const(12)
_MUL_B_ZP = const(13)
_MUL_Y_MULTIPLIER = const(14)
_MUL_Y_SHIFT = const(15)
_MUL_Y_ZP = const(16)
_MUL_ACT_MIN = const(17)
_MUL_ACT_MAX = const(18)

# EMBEDDING_LOOKUP (interpreter, tinyml/moves.py): none, or a GATHER_ND's index bounds (0 after its k)
_LOOKUP_PARAMS = const(0)
_LOOKUP_DIMS0 = const(0)

# ADD_N: add_n(xs, y, g): the inputs xs (one quantization) summed, TFLM's arithmetic (kernels_py_tail.py)
_ADDN_PARAMS = const(0)
_ADDN_X_ZP = const(0)
_ADDN_Y_MULTIPLIER = const(1)
_ADDN_Y_SHIFT = const(2)
_ADDN_Y_ZP = const(3)

# CUMSUM: cumsum(x, y, g): x as (OUTER, N, INNER), summed along N (from its end when REVERSE; the sum
# before each element when EXCLUSIVE)
_CUMSUM_PARAMS = const(0)
_CUMSUM_OUTER = const(0)
_CUMSUM_N = const(1)
_CUMSUM_INNER = const(2)
_CUMSUM_EXCLUSIVE = const(3)
_CUMSUM_REVERSE = const(4)
_CUMSUM_X_ZP = const(5)
_CUMSUM_Y_MULTIPLIER = const(6)
_CUMSUM_Y_SHIFT = const(7)
_CUMSUM_Y_ZP = const(8)

# QUANTIZE from float32: quantize_f32(x, y, g)
_QUANTIZE_PARAMS = const(0)
_QUANTIZE_Y_ZP = const(0)
_QUANTIZE_Y_SCALE = const(1)  # the float32's bits

# PAD (interpreter): before0..3 of the 4-D output, then the fill value
_PAD_PARAMS = const(0)
_PAD_BEFORE0 = const(0)
_PAD_VALUE = const(4)

# CONCATENATION (interpreter): outer, then one inner size per input
_CONCAT_PARAMS = const(0)
_CONCAT_OUTER = const(0)
_CONCAT_INNER0 = const(1)

# MEAN (over any axes, with its axes input), SUM, REDUCE_MAX, REDUCE_MIN: reduce_sum(x, y, g),
# reduce_max(x, y, g), reduce_min(x, y, g). The input right-aligned to 4-D is read at
# (i0 + r0) * stride0 + .. + (i3 + r3) * stride3 for each output index i of (D0..D3) (the reduced
# axes 1) and each reduced index r of (R0..R3) (the kept axes 1); reduce_sum's parameters are MEAN's.
_REDUCE_D0 = const(0)
_REDUCE_R0 = const(4)
_REDUCE_STRIDE0 = const(8)
_REDUCE_PARAMS = const(12)
_REDUCE_X_ZP = const(12)
_REDUCE_Y_ZP = const(13)
_REDUCE_MULTIPLIER = const(14)
_REDUCE_SHIFT = const(15)

# RESIZE_BILINEAR: resize_bilinear(x, y, table, g); table: per output row (y0, y1 as byte offsets, wy),
# then per output column (x0, x1 as byte offsets, wx), the fractions in 1/1024 (docs/model-format.md)
_RESIZE_BATCHES = const(0)
_RESIZE_OH = const(1)
_RESIZE_OW = const(2)
_RESIZE_C = const(3)
_RESIZE_IN_BATCH = const(4)  # bytes of one input image, H * W * C
_RESIZE_PARAMS = const(5)

# The layout ops' remap (interpreter, tinyml/moves.py): the output's 4 dimensions, the bytes of an
# element, the fill byte; the tables T0..T3 are the op's constant input 1
_REMAP_PARAMS = const(0)
_REMAP_D0 = const(0)
_REMAP_ESIZE = const(4)
_REMAP_FILL = const(5)

# SVDF: svdf(x, w_feature, w_time, bias, state, y, g): the input (batch, n_input), n_filter = n_unit x
# rank filters of `memory` steps each; the state (int16) is a variable tensor
_SVDF_BATCH = const(0)
_SVDF_N_INPUT = const(1)
_SVDF_N_FILTER = const(2)
_SVDF_MEMORY = const(3)
_SVDF_N_UNIT = const(4)
_SVDF_PARAMS = const(5)
_SVDF_RANK = const(5)
_SVDF_X_ZP = const(6)
_SVDF_FEATURE_MULTIPLIER = const(7)
_SVDF_FEATURE_SHIFT = const(8)
_SVDF_STATE_ZP = const(9)
_SVDF_TIME_MULTIPLIER = const(10)
_SVDF_TIME_SHIFT = const(11)
_SVDF_Y_ZP = const(12)

# UNIDIRECTIONAL_SEQUENCE_LSTM: lstm(x, w_x, w_h, bias, table, h, c, y, gates, g): `steps` time steps
# of n_input values, n_state cells; the gates' multipliers and shifts: input-to-gate (input, forget,
# cell, output), then recurrent-to-gate; h (int8) and c (int16) are variable tensors
_LSTM_STEPS = const(0)
_LSTM_N_INPUT = const(1)
_LSTM_N_STATE = const(2)
_LSTM_PARAMS = const(3)
_LSTM_GATE_MULTIPLIER0 = const(3)
_LSTM_GATE_SHIFT0 = const(11)
_LSTM_FORGET_MULTIPLIER = const(19)
_LSTM_FORGET_SHIFT = const(20)
_LSTM_INPUT_MULTIPLIER = const(21)
_LSTM_INPUT_SHIFT = const(22)
_LSTM_OUTPUT_MULTIPLIER = const(23)
_LSTM_OUTPUT_SHIFT = const(24)
_LSTM_H_ZP = const(25)
_LSTM_CELL_CLIP = const(26)
_LSTM_TANH_MULTIPLIER = const(27)
_LSTM_TANH_SHIFT = const(28)
