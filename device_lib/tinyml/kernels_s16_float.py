# The int16 (16x8) conversions to and from float32, plain Python for the python and viper backends
# (kernels_py_s16, kernels_viper_s16): DEQUANTIZE int16 -> float32 and QUANTIZE float32 -> int16, as
# TFLM's reference_ops::Dequantize and AffineQuantize compute them.
from array import array
import struct


def dequantize16(x, y, bits):
    # x * scale (bits: the float32's) in float32: TFLM multiplies in double and rounds once to float32,
    # the same as one float32 product, since a code (16 bits) times the scale (24) is exact in double
    scale = struct.unpack("<f", struct.pack("<i", bits))[0]
    f = array("f", [0.0])
    out = array("f", bytes(2 * len(x)))
    for i, v in enumerate(struct.unpack("<%dh" % (len(x) // 2), x)):
        f[0] = v * scale
        out[i] = f[0]
    y[:] = bytes(out)


def quantize_f32_s16(x, y, t, n, y_zp, bits):
    # round(x / scale) in float32, halves away from zero, + zp, clamped to int16 (kernels_py.quantize_f32's
    # for int16; beyond int32, where TFLM's cast is undefined, saturating as Arm does, NaN as 0)
    scale = struct.unpack("<f", struct.pack("<i", bits))[0]
    f = array("f", [0.0])
    out = array("h", bytes(len(y)))
    for i, v in enumerate(struct.unpack("<%df" % (len(x) // 4), x)):
        f[0] = v / scale
        q = f[0]
        if q != q:
            q = 0.0
        q = -1e9 if q < -1e9 else 1e9 if q > 1e9 else q
        r = int(q)
        if q - r >= 0.5:
            r += 1
        elif r - q >= 0.5:
            r -= 1
        r += y_zp
        out[i] = -32768 if r < -32768 else 32767 if r > 32767 else r
    y[:] = bytes(out)
