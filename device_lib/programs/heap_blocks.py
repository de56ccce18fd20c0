# The board's heap after a MemoryError, for the host's error message (tinyml_host/board/link.py):
# free bytes, the heap's size and the largest block one allocation can get (MicroPython has no call
# for it, so it is probed: the largest bytearray that allocates, found by bisection). Prints a tuple.
import gc
gc.collect()
_f = gc.mem_free()
_lo, _hi = 0, _f
while _lo < _hi:
    _n = (_lo + _hi + 1) // 2
    try:
        _b = bytearray(_n)
        _b = None
        _lo = _n
    except MemoryError:
        _hi = _n - 1
gc.collect()
print((_f, _f + gc.mem_alloc(), _lo))
del _f, _lo, _hi, _n, _b
