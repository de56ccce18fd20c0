# The plan of KissFFT's complex FFT of a power-of-two length: its radices and its input permutation.
# Shared by tinyml.preprocess.fft (Python) and tinyml.fft_viper, which both import it: neither
# imports the other at module level.
from array import array


def factors(m):
    """KissFFT's radices for a complex FFT of length m (a power of two): 4s, then a 2 if needed,
    outermost first."""
    out = []
    while m > 1:
        p = 4 if m % 4 == 0 else 2
        out.append(p)
        m //= p
    return out


_perms = {}


def permutation(m):
    """Where KissFFT's recursion puts input k of a length-m complex FFT before the butterflies:
    perm[position] = input index (mixed-radix digit reversal over factors(m))."""
    p = _perms.get(m)
    if p is None:
        fs = factors(m)
        p = array("H", bytes(2 * m)) if m <= 65536 else [0] * m
        for pos in range(m):
            # position digits (outermost first, weights m/p0, m/(p0 p1), ...) -> input digits reversed
            idx = 0
            stride = 1
            rest = pos
            span = m
            for f in fs:
                span //= f
                q = rest // span
                rest -= q * span
                idx += q * stride
                stride *= f
            p[pos] = idx
        _perms[m] = p
    return p
