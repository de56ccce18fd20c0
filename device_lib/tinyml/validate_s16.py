# The checks of the int16 (16x8) records of SOFTMAX, LOGISTIC, TANH, DEQUANTIZE and QUANTIZE
# (docs/model-format.md, "Ops with int16 activations"): tinyml/validate.py's _softmax, _lut and
# _quantize hand these records here; loaded only for a model that has one.
import struct
from tinyml.ops import const

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_SOFTMAX_INPUT_MULTIPLIER = const(0)
_SOFTMAX_INPUT_LEFT_SHIFT = const(1)
_SOFTMAX_DIFF_MIN = const(2)
_UNARY16_MODE = const(0)
_UNARY16_MULTIPLIER = const(1)
_UNARY16_SHIFT = const(2)
_UNARY16_Y_ZP = const(3)
_QUANTIZE_Y_ZP = const(0)
_QUANTIZE_Y_SCALE = const(1)
# ---- end of g's slots ----

_INT8 = const(1)
_INT32 = const(2)
_INT16 = const(4)
_FLOAT32 = const(5)


def _scale(c, bits, field):
    v = struct.unpack("<f", struct.pack("<i", bits))[0]
    if not 1e-30 < v < 1e30:
        c.fail("%s %r out of range 1e-30..1e30" % (field, v))


def softmax(c):
    shape = c.tensor(0, _INT16)
    if not shape:
        c.fail("input 0 is a scalar")
    c.tensor(-1, _INT16, len(shape), False, shape)
    if len(c.ins) != 2:
        c.fail("an int16 input needs input 1, the exp and 1/(1+x) tables")
    c.tensor(1, _INT16, 1, True, (1026,))
    c.param(_SOFTMAX_INPUT_MULTIPLIER, "input_multiplier", 0, 0x7FFFFFFF)
    c.param(_SOFTMAX_INPUT_LEFT_SHIFT, "input_left_shift", -31, 15)  # -65535 << 15 fits int32
    c.param(_SOFTMAX_DIFF_MIN, "diff_min", 0, 0)
    if shape[-1] > 65535:  # the sum of a row's exps (each under 2**15) fits int32
        c.fail("rows of %d values, at most 65535" % shape[-1])
    return 4 * c.size(shape)


def lut(c):
    # mode 0, 1 (the sigmoid table input, int16 out) or 2 (to float32)
    n = c.size(c.tensor(0, _INT16))
    if len(c.p) != 4:
        c.fail("%d parameters, expected 4 (mode, multiplier, shift, y_zp) for an int16 input" % len(c.p))
    mode = c.param(_UNARY16_MODE, "mode", 0, 2)
    c.param(_UNARY16_Y_ZP, "y_zp", 0, 0)
    if mode == 2:
        if len(c.ins) != 1:
            c.fail("mode 2 (to float32) takes one input")
        c.tensor(-1, _FLOAT32)
        _scale(c, c.p[_UNARY16_MULTIPLIER], "scale")
        c.param(_UNARY16_SHIFT, "shift", 0, 0)
    else:
        if len(c.ins) != 2:
            c.fail("mode %d needs input 1, the sigmoid table" % mode)
        c.tensor(1, _INT16, 1, True, (256,))
        c.tensor(-1, _INT16)
        c.param(_UNARY16_MULTIPLIER, "multiplier", 1, 32767)  # |x| * multiplier + round fits int32
        c.param(_UNARY16_SHIFT, "shift", 0, 31)
    c.elements(-1, n)
    return n


def quantize(c):
    """float32 -> int16 (y_zp, y_scale); int16 -> int8 or int16 (y_zp, y_scale; input 1 the int32
    multiplier and shift); int8 -> int16 is validate._lut's table of 256 int16."""
    x = c.ins[0]
    if len(c.p) != 2:
        c.fail("%d parameters, expected 2 (y_zp, y_scale)" % len(c.p))
    _scale(c, c.p[_QUANTIZE_Y_SCALE], "y_scale")
    n = c.size(x.shape)
    if x.dtype == _FLOAT32:
        if len(c.ins) != 1:
            c.fail("a float32 input takes no table")
        c.tensor(-1, _INT16)
        c.param(_QUANTIZE_Y_ZP, "y_zp", 0, 0)
    else:
        c.tensor(0, _INT16)
        if len(c.ins) != 2:
            c.fail("an int16 input needs input 1, its int32 multiplier and shift")
        c.tensor(1, _INT32, 1, True, (2,))
        m, s = struct.unpack("<ii", c.read(c.ins[1].offset, 8))
        if not (0 <= m <= 0x7FFFFFFF and -31 <= s <= 30):
            c.fail("multiplier %d or shift %d out of range 0..2**31-1, -31..30" % (m, s))
        if c.out.dtype == _INT16:
            c.param(_QUANTIZE_Y_ZP, "y_zp", 0, 0)
        else:
            c.tensor(-1, _INT8)
            c.param(_QUANTIZE_Y_ZP, "y_zp", -128, 127)
    c.elements(-1, n)
    return n
