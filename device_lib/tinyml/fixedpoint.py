# TFLite Micro's integer arithmetic (gemmlowp fixed point), on Python ints.
# The reference every backend is checked against; each function names its TFLM counterpart.

INT32_MIN = -0x80000000
INT32_MAX = 0x7FFFFFFF


def _div_pow2_trunc(v, n):
    # C's integer division by 2**n: truncates toward zero.
    return v >> n if v >= 0 else -((-v) >> n)


def srdhm(a, b):
    # SaturatingRoundingDoublingHighMul
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    return _div_pow2_trunc(ab + (0x40000000 if ab >= 0 else 1 - 0x40000000), 31)


def rdivpot(x, exponent):
    # RoundingDivideByPOT
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def requantize(acc, multiplier, shift):
    # MultiplyByQuantizedMultiplier, double rounding; shift > 0 is a left shift. acc is an int32
    # accumulator: wrapped as TFLM's and the C kernels' would be.
    acc = _wrap32(acc)
    if shift > 0:
        return rdivpot(srdhm(_wrap32(acc << shift), multiplier), 0)
    return rdivpot(srdhm(acc, multiplier), -shift)


def _wrap32(v):
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def _sat_shl(x, exponent):
    # SaturatingRoundingMultiplyByPOT with a positive exponent
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return x << exponent


def _exp_quarter(a):
    # exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.31 in and out
    x = a + (1 << 28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdivpot(x4, 2)
    poly = rdivpot(srdhm(x4_over_4 + x3, 715827883) + x2, 1)
    return 1895147668 + srdhm(1895147668, x + poly)


_EXP_MULTS = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)  # exp(-2**e), e = -2..4


def exp_on_negative_values(a, integer_bits=5):
    # exp_on_negative_values for Q(integer_bits).(31-integer_bits) in (<= 0), Q0.31 out; 5 for
    # softmax, 4 for logistic and tanh
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = (a & (quarter - 1)) - quarter
    result = _exp_quarter(_sat_shl(a_mod, integer_bits))
    remainder = a_mod - a
    for e in range(-2, integer_bits):  # GEMMLOWP_EXP_BARREL_SHIFTER
        if remainder & (1 << (frac + e)):
            result = srdhm(result, _EXP_MULTS[e + 2])
    return INT32_MAX if a == 0 else result


def _clz32(x):
    n = 0
    while n < 32 and not (x & (0x80000000 >> n)):
        n += 1
    return n


def reciprocal(x, x_integer_digits):
    # GetReciprocal: returns (Q0.31 scale, num_bits_over_unit)
    headroom = _clz32(x & 0xFFFFFFFF)
    a = _wrap32(((x & 0xFFFFFFFF) << headroom) - 0x80000000)
    # one_over_one_plus_x_for_x_in_0_1, Newton-Raphson in Q2.29
    s = a + INT32_MAX
    half_den = _div_pow2_trunc(s + 1, 1) if s >= 0 else -_div_pow2_trunc(-(s - 1), 1)
    x2 = 1515870810 + srdhm(half_den, -1010580540)
    for _ in range(3):
        one_minus = (1 << 29) - srdhm(half_den, x2)
        x2 = x2 + _sat_shl(srdhm(x2, one_minus), 2)
    return _sat_shl(x2, 1), x_integer_digits - headroom


def inv_sqrt(x):
    # GetInvSqrtQuantizedMultiplierExp(x, kReverseShift = -1) for x >= 0: (multiplier, shift) of
    # 1 / sqrt(x) as MultiplyByQuantizedMultiplier takes them; gemmlowp's Newton-Raphson in Q3.28
    if x <= 1:
        return INT32_MAX, 0
    shift = 11
    while x >= 1 << 29:
        x //= 4
        shift += 1
    pairs = (_clz32(x) - 1) // 2 - 1
    shift -= pairs
    x <<= 2 * pairs
    half = rdivpot(x >> 1, 1)
    r = 1 << 28  # one
    for _ in range(5):
        x3 = _sat_shl(srdhm(srdhm(r, r), r), 6)
        r = _sat_shl(srdhm(402653184, r) - srdhm(half, x3), 3)  # 1.5 * r - x / 2 * r**3
    r = srdhm(r, 1518500250)  # * sqrt(2) / 2
    if shift < 0:
        r = _wrap32(r << -shift)
        shift = 0
    return r, -shift
