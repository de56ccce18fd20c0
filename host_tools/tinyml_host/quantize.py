# TFLite Micro's host-side quantization arithmetic, computed once at conversion time so the device
# runs integers only. Each function names its TFLM counterpart; all follow it in double precision.
import math

import numpy as np


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


def activation_range(activation, scale, zero_point):
    """CalculateActivationRangeQuantized for int8 (float32 arithmetic, as TFLM does)."""
    scale = np.float32(scale)

    def q(f):
        return zero_point + int(tflite_round(float(np.float32(f) / scale)))

    lo, hi = -128, 127
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
