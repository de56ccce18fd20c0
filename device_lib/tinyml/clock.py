# Microsecond ticks on MicroPython (time.ticks_us, wrapping) and under CPython (the host).
try:
    from time import ticks_us as now_us, ticks_diff as diff_us
except ImportError:  # CPython
    from time import perf_counter_ns

    def now_us():
        return perf_counter_ns() // 1000

    def diff_us(a, b):
        return a - b
