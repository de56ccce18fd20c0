# TFLite Micro's host-side quantization arithmetic, computed once at conversion time so the device
# runs integers only. Each function names its TFLM counterpart; all follow it in double precision.
import math

import numpy as np

from tinyml.fixedpoint import (INT32_MAX, _sat_shl, exp_on_negative_values, rdivpot,
                               requantize, srdhm)


def tflite_round(x):
    # TfLiteRound / std::round: halves away from zero (Python's round() is banker's).
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(real):
    """QuantizeMultiplier: real = multiplier * 2**(shift - 31), multiplier a Q31 int32."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), shift


def activation_range(activation, scale, zero_point, lo=-128, hi=127):
    """CalculateActivationRangeQuantized for int8 (float32 arithmetic, as TFLM does); for int16 with
    lo, hi = -32768, 32767."""
    scale = np.float32(scale)

    def q(f):
        return zero_point + int(tflite_round(float(np.float32(f) / scale)))

    if activation == "RELU":
        lo = max(lo, q(0.0))
    elif activation == "RELU6":
        lo, hi = max(lo, q(0.0)), min(hi, q(6.0))
    elif activation == "RELU_N1_TO_1":
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    elif activation != "NONE":
        raise ValueError("fused activation %s is not supported" % activation)
    return lo, hi


SOFTMAX_INTEGER_BITS = 5  # kScaledDiffIntegerBits


def softmax_params(beta, input_scale):
    """PreprocessSoftmaxScaling + CalculateInputRadius: (input_multiplier, input_left_shift, diff_min)."""
    bits = SOFTMAX_INTEGER_BITS
    real = min(float(beta) * float(input_scale) * (1 << (31 - bits)), (1 << 31) - 1.0)
    mult, left_shift = quantize_multiplier(real)
    radius = math.floor(((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift))
    return mult, left_shift, -radius


def _f64(scale):
    # A tensor scale as TFLM holds it (float32), widened to double as its Prepare functions do.
    return float(np.float32(scale))


def _multiplier_smaller_than_one(real):
    """QuantizeMultiplierSmallerThanOneExp: TFLM aborts unless 0 < real < 1."""
    if not 0.0 < real < 1.0:
        raise ValueError("multiplier %r is not in (0, 1): TFLM refuses these scales" % real)
    return quantize_multiplier(real)


ADD_LEFT_SHIFT = 20  # int8 add and sub (15 is for int16)


def add_params(a_scale, b_scale, y_scale, left_shift=ADD_LEFT_SHIFT):
    """CalculateOpDataAdd for int8 (for int16, left_shift 15): (left_shift, a_mult, a_shift, b_mult,
    b_shift, y_mult, y_shift)."""
    twice_max = 2 * max(_f64(a_scale), _f64(b_scale))
    a = _multiplier_smaller_than_one(_f64(a_scale) / twice_max)
    b = _multiplier_smaller_than_one(_f64(b_scale) / twice_max)
    y = _multiplier_smaller_than_one(twice_max / ((1 << left_shift) * _f64(y_scale)))
    return (left_shift,) + a + b + y


def mul_params(a_scale, b_scale, y_scale):
    """CalculateOpDataMul for int8: (y_mult, y_shift)."""
    return quantize_multiplier(_f64(a_scale) * _f64(b_scale) / _f64(y_scale))


def mean_params(x_scale, x_zp, y_scale, y_zp, count):
    """The mean of int8 over `count` values: (x_zp, y_zp, mult, shift) for QuantizedMeanOrSum
    (reference/reduce.h), which TFLM runs even when input and output share their quantization (older
    TFLM truncated sum / count there instead). 1/count is folded into the multiplier of
    x_scale / y_scale as TFLM does it, a 64-bit division: done here, so the device needs 32 bits."""
    count = int(count)
    mult, shift = quantize_multiplier(_f64(x_scale) / _f64(y_scale))
    s = min(count.bit_length() - 1, 32, 31 + shift)  # 63 - CountLeadingZeros(count), clamped
    return x_zp, y_zp, (mult << s) // count, shift - s


def _input_q4_params(x_scale):
    # The logistic / tanh kernels' Prepare for int8: input_multiplier, input_left_shift, input_range_radius
    # for an input in Q4.27 (kInputIntegerBits = 4).
    q, left_shift = math.frexp(_f64(x_scale) * (1 << 27))
    mult = int(tflite_round(q * (1 << 31)))
    if mult == 1 << 31:  # TFLM casts without the adjustment QuantizeMultiplier makes: it wraps
        mult = -mult
    radius = math.floor(math.ldexp(15.0, 27 - left_shift))  # CalculateInputRadius(4, left_shift, 31)
    return mult, left_shift, radius


def _rounding_half_sum(a, b):
    # gemmlowp RoundingHalfSum: (a + b + sign) / 2 in int64, C division (toward zero)
    s = a + b
    s += 1 if s >= 0 else -1
    return s // 2 if s >= 0 else -(-s // 2)


def _newton_one_over_half_den(half_den):
    # The Newton-Raphson loop shared by gemmlowp's one_over_one_plus_x_for_x_in_0_1 and
    # one_minus_x_over_one_plus_x_for_x_in_0_1: x ~ 1 / half_den in Q2.29.
    x = 1515870810 + srdhm(half_den, -1010580540)
    for _ in range(3):
        x = x + _sat_shl(srdhm(x, (1 << 29) - srdhm(half_den, x)), 2)
    return x


def _logistic_q4(a):
    # gemmlowp logistic(FixedPoint<int32, 4>), Q0.31 out
    if a == 0:
        return 1 << 30
    e = exp_on_negative_values(-abs(a), 4)
    positive = _sat_shl(_newton_one_over_half_den(_rounding_half_sum(e, INT32_MAX)), 1)
    return positive if a > 0 else INT32_MAX - positive


def _tanh_q4(a):
    # gemmlowp tanh(FixedPoint<int32, 4>), Q0.31 out; ExactMulByPot<1> makes the input Q5.26 raw-as-is
    if a == 0:
        return 0
    e = exp_on_negative_values(-abs(a))
    t = _sat_shl(_newton_one_over_half_den(_rounding_half_sum(e, INT32_MAX)) - (1 << 29), 2)
    return -t if a < 0 else t


def _table(fn, x_zp):
    return np.array([max(-128, min(127, fn(code - x_zp))) for code in range(-128, 128)], np.int8)


def _q4_table(x_scale, x_zp, fn, out_shift, out_zp):
    """TFLM's int8 logistic / tanh for each input code: the input rescaled to Q4.27, fn (gemmlowp's
    logistic or tanh, Q0.31 out), then down to int8; saturated outside the input radius."""
    mult, left_shift, radius = _input_q4_params(x_scale)

    def f(v):
        if v <= -radius:
            return -128
        if v >= radius:
            return 127
        return rdivpot(fn(requantize(v, mult, left_shift)), out_shift) + out_zp
    return _table(f, x_zp)


def logistic_table(x_scale, x_zp):
    """y for each int8 input code -128..127: TFLM's reference_integer_ops::Logistic (output 1/256, -128)."""
    return _q4_table(x_scale, x_zp, _logistic_q4, 23, -128)


def tanh_table(x_scale, x_zp):
    """y for each int8 input code -128..127: TFLM's reference_integer_ops::Tanh (output 1/128, 0)."""
    return _q4_table(x_scale, x_zp, _tanh_q4, 24, 0)


def requantize_table(x_scale, x_zp, y_scale, y_zp):
    """int8 -> int8 requantization: TFLM's reference_ops::Requantize with PrepareQuantizeReference's multiplier."""
    mult, shift = quantize_multiplier(_f64(x_scale) / _f64(y_scale))
    return _table(lambda v: requantize(v, mult, shift) + y_zp, x_zp)


def dequantize_table(scale, zp):
    """int8 -> float32 dequantization: reference_ops::Dequantize, float(double scale * (x - zp))."""
    return np.array([_f64(scale) * (code - zp) for code in range(-128, 128)], np.float64).astype(np.float32)
