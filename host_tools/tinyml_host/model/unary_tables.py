"""Lookup tables of TFLM's int8 unary ops: for each of the 256 input codes, the byte TFLM's kernel
gives, computed here once with TFLM's own per-element arithmetic (and its Prepare's float32 scale
arithmetic), so the device runs every one of these ops as one table lookup (the `lut` kernel).

Each function names its TFLM kernel; the scales are float32 as TFLM holds them. int16 variants are
not here: the .tml format's activations are int8.
"""
import math

import numpy as np

from tinyml.fixedpoint import INT32_MAX, inv_sqrt, rdivpot, requantize
from tinyml_host.model.quantize import quantize_multiplier

f32 = np.float32


def _codes(x_zp):
    return [(code, code - x_zp) for code in range(-128, 128)]


def _table(values):
    return np.array([max(-128, min(127, int(v))) for v in values], np.int8)


def _round(x):
    # std::round / TfLiteRound of a float32: halves away from zero (np.round is to even)
    return f32(math.copysign(math.floor(abs(float(x)) + 0.5), float(x)))


def _ratio(a, b):
    # static_cast<double>(a / b) on two float scales: the division in float32, then widened
    return float(f32(a) / f32(b))


def relu_table(x_scale, x_zp, y_scale, y_zp):
    """relu (activations_common.cc ReluQuantized): y_zp + MultiplyByQuantizedMultiplier(x - x_zp),
    clamped below at y_zp (roundf(0 / scale) is 0)."""
    m, s = quantize_multiplier(_ratio(x_scale, y_scale))
    return _table(max(y_zp, y_zp + requantize(v, m, s)) for _, v in _codes(x_zp))


def relu6_table(x_scale, x_zp):
    """relu6 (Relu6Quantized): the input code clamped to [x_zp, FloatToQuantizedType(6, x_scale, x_zp)],
    with no requantization: TFLM ignores the output's scale and zero point."""
    six = max(-128, min(127, int(_round(f32(6.0) / f32(x_scale))) + x_zp))
    return _table(min(max(code, x_zp), six) for code, _ in _codes(x_zp))


def leaky_relu_table(x_scale, x_zp, y_scale, y_zp, alpha):
    """leaky relu (QuantizeLeakyRelu): the identity multiplier for x >= x_zp, alpha's below, a negative
    alpha's multiplier made positive and the product negated, as TFLM does."""
    ma, sa = quantize_multiplier(float(f32(x_scale) * f32(alpha) / f32(y_scale)))
    mi, si = quantize_multiplier(_ratio(x_scale, y_scale))
    out = []
    for _, v in _codes(x_zp):
        if v >= 0:
            out.append(y_zp + requantize(v, mi, si))
        else:
            p = requantize(v, abs(ma), sa)
            out.append(y_zp + (-p if ma < 0 else p))
    return _table(out)


def _int16(v):
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def _srdhm16(a, b):
    # gemmlowp SaturatingRoundingDoublingHighMul on int16
    if a == b == -32768:
        return 32767
    ab = a * b
    q = ab + (1 << 14 if ab >= 0 else 1 - (1 << 14))
    return _int16(q >> 15 if q >= 0 else -((-q) >> 15))


def _sdhm16(a, b):
    # hard_swish.h SaturatingDoublingHighMul: no rounding, C division
    if a == b == -32768:
        return 32767
    ab = a * b
    return _int16(ab >> 15 if ab >= 0 else -((-ab) >> 15))


def _sat_shl16(v, n):
    return max(-32768, min(32767, v * (1 << n)))


def _downscale16(m):
    # DownScaleInt32ToInt16Multiplier
    return 32767 if m >= INT32_MAX - (1 << 15) else (m + (1 << 15)) >> 16


def hard_swish_params(x_scale, y_scale):
    """HardSwishPrepare: (output multiplier int16, its exponent, reluish multiplier int16, its exponent)."""
    hires = f32(1.0 / 128.0) * f32(x_scale)
    om, oe = quantize_multiplier(float(hires / f32(y_scale)))
    rm, re_ = quantize_multiplier(float(hires / f32(3.0 / 32768.0)))
    if oe > 0:
        raise ValueError("output scale below input scale / 128 (TFLM requires the output "
                         "multiplier's exponent <= 0)")
    return _downscale16(om), oe, _downscale16(rm), re_


def hard_swish_table(x_scale, x_zp, y_scale, y_zp):
    """hard swish (reference_ops::HardSwish, int8): its int16 'reluish' fixed-point arithmetic."""
    om, oe, rm, re_ = hard_swish_params(x_scale, y_scale)
    out = []
    for _, v in _codes(x_zp):
        hires = _int16(v * 128)
        pre_out = _srdhm16(hires, om)
        r = hires
        if re_ > 0:
            r = _sat_shl16(r, re_ - 1)
        r = _srdhm16(r, rm)
        if re_ > 0:
            r = _sat_shl16(r, 1)
        if re_ < 0:
            r = _int16(rdivpot(r, -re_))
        r = (r + (1 << 15)) >> 1
        y = _int16(rdivpot(_sdhm16(r, pre_out), -oe) + y_zp)
        out.append(y)
    return _table(out)


def elu_table(x_scale, x_zp, y_scale, y_zp):
    """elu (elu.cc PopulateLookupTable): TFLM builds this very table, in float32: exp(x) - 1 below 0."""
    inv = f32(1) / f32(y_scale)
    out = []
    for _, v in _codes(x_zp):
        d = f32(x_scale) * f32(v)
        t = f32(math.exp(float(d))) - f32(1) if d < 0 else d  # expf: the double exp rounded to float32
        out.append(int(f32(_round(f32(t * inv)) + f32(y_zp))))
    return _table(out)


def abs_table(x_scale, x_zp, y_scale, y_zp):
    """abs (elementwise.cc AbsEvalQuantized): |x - x_zp|, requantized when the scales differ."""
    if f32(x_scale) == f32(y_scale):
        return _table(abs(v) + y_zp for _, v in _codes(x_zp))
    m, s = quantize_multiplier(_ratio(x_scale, y_scale))
    return _table(requantize(abs(v), m, s) + y_zp for _, v in _codes(x_zp))


def rsqrt_table(x_scale, x_zp, y_scale, y_zp):
    """rsqrt (elementwise.cc RsqrtEvalQuantized): the inverse square root in gemmlowp fixed point.
    x == x_zp gives 127 as in TFLM; below x_zp TFLM fails the inference ('only defined for positive
    values'): those codes give 127 too."""
    m, s = quantize_multiplier(1.0 / float(f32(np.sqrt(f32(x_scale))) * f32(y_scale)))
    out = []
    for _, v in _codes(x_zp):
        if v <= 0:
            out.append(127)
            continue
        im, ish = inv_sqrt(v)
        data = requantize(1, im, ish + 20)
        out.append(requantize(data, m, s - 20) + y_zp)
    return _table(out)
