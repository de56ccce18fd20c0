"""Quantization parameters as TFLite's converter chooses them, and the NCHW -> NHWC layout change.

Activations: asymmetric int8 over the calibrated range widened to hold 0. Weights: symmetric int8
(zero point 0, values in [-127, 127]), one scale per output channel or per tensor. Biases: int32 with
scale s_input * s_weight. Channels-first ONNX tensors of rank 3 (N, C, L) and 4 (N, C, H, W) are held
channels-last as TFLite wants: (N, 1, L, C) and (N, H, W, C).
"""

import numpy as np

SOFTMAX_QP = (1 / 256, -128)  # SOFTMAX and LOGISTIC outputs: TFLM accepts only these
TANH_QP = (1 / 128, 0)


def activation_qp(lo, hi):
    """(scale, zero point) of an int8 activation over [lo, hi]."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-9:
        hi = lo + 1e-3  # a tensor that is always 0: any scale represents it
    scale = float(np.float32((hi - lo) / 255.0))
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return scale, zp


def quantize(x, scale, zp):
    return np.clip(np.round(np.asarray(x, np.float64) / scale) + zp, -128, 127).astype(np.int8)


def dequantize(q, scale, zp):
    return (np.asarray(q, np.float32) - zp) * np.float32(scale)


def weights(w, axis, per_channel):
    """Symmetric int8 weights: (int8 array, float32 scales), one scale per index of axis (or one)."""
    w = np.asarray(w, np.float64)
    if per_channel:
        amax = np.abs(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)).max(axis=1)
    else:
        amax = np.array([np.abs(w).max()])
    scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    if per_channel:
        shape[axis] = -1
    q = np.clip(np.round(w / scales.astype(np.float64).reshape(shape)), -127, 127).astype(np.int8)
    return q, scales


def bias(b, x_scale, w_scales):
    """int32 bias at scale x_scale * w_scale (per channel): (int32 array, float32 scales)."""
    scales = (np.float32(x_scale) * np.asarray(w_scales, np.float32)).astype(np.float32)
    q = np.round(np.asarray(b, np.float64) / scales.astype(np.float64))
    return np.clip(q, -2 ** 31, 2 ** 31 - 1).astype(np.int32), scales


def constant_qp(c):
    """Per-tensor asymmetric parameters of a constant operand (of ADD, MUL ...)."""
    return activation_qp(np.min(c), np.max(c))


# ---- layout: channels-first ONNX tensors held channels-last ----

def nhwc_shape(shape):
    shape = tuple(int(d) for d in shape)
    if len(shape) == 4:
        return (shape[0], shape[2], shape[3], shape[1])
    if len(shape) == 3:
        return (shape[0], 1, shape[2], shape[1])
    raise ValueError("no channels-last form for rank %d" % len(shape))


def to_nhwc(a):
    a = np.asarray(a)
    if a.ndim == 4:
        return a.transpose(0, 2, 3, 1)
    return a.transpose(0, 2, 1)[:, None]


def from_nhwc(a, onnx_shape):
    """The inverse of to_nhwc for an array of tflite shape nhwc_shape(onnx_shape) (with a leading batch)."""
    a = np.asarray(a)
    if len(onnx_shape) == 4:
        return a.transpose(0, 3, 1, 2)
    return a[:, 0].transpose(0, 2, 1)


def nhwc_axis(axis, rank):
    """The channels-last axis of a channels-first axis."""
    return {4: (0, 3, 1, 2), 3: (0, 3, 2)}[rank][axis % rank]


def flatten_order(shape):
    """Channels-last flattening of a channels-first (1, C, ...) tensor: position i holds the value at
    channels-first flat index order[i]."""
    inner = tuple(int(d) for d in shape[1:])
    idx = np.arange(int(np.prod(inner))).reshape(inner)
    return idx.transpose(tuple(range(1, len(inner))) + (0,)).ravel()


def broadcast_nhwc(c, rank):
    """A constant operand broadcast against a channels-first tensor of `rank`, made channels-last."""
    c = np.asarray(c)
    c = c.reshape((1,) * (rank - c.ndim) + c.shape)
    return to_nhwc(c)
