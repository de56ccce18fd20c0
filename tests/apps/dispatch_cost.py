# Issue 13's dispatch and streaming figures, measured on the device (tests/test_dispatch.py). On a board
# that counts instructions (QEMU -icount shift=0) one µs of its clock is 1,000 instructions.
#   cost(path)            'cost dispatch <per op> run_over_invoke <n> ops <n>': invoke() less the same bound
#                         ops run in one native call, per op; run(bytes) less invoke()
#   alloc(path, window)   'alloc invoke <bytes> run <bytes> out <hex>': heap bytes one inference takes
#                         (after a first one), and its output
#   stream(path, window)  'stream ram <n> streamed <n> reads <n>': instructions of one inference with
#                         the weights in RAM, streamed through `window` bytes, and of the file reads alone
#   ram(path)             'ram held <bytes> file <bytes> arena <bytes>': the heap a model holds, weights in
#                         RAM, through one inference (a second load: the library's modules are resident)
import gc
import time

import tinyml
from tinyml import steps as _steps

N = 100


def _ins(f, n=N):
    # instructions per call of f() (1 ns of the board's clock per instruction), less the loop's own
    def loop(g):
        gc.collect()
        t0 = time.ticks_us()
        for _ in range(n):
            g()
        return time.ticks_diff(time.ticks_us(), t0) * 1000 // n
    return loop(f) - loop(_nothing)


def _nothing():
    pass


def cost(path):
    m = tinyml.load(path, "native", None)
    run = m._steps[0][0]  # the native module's run(), each op's function
    program = b"".join(a for fn, a in m._steps)  # every op a native record
    x = bytes(m.input_buffer())
    m.run(x)
    invoke = _ins(lambda: m.invoke())
    once = _ins(lambda: run(program))
    print("cost dispatch", (invoke - once) // len(m.ops), "run_over_invoke", _ins(lambda: m.run(x)) - invoke,
          "ops", len(m.ops))


def _alloc(f):
    gc.collect()
    before = gc.mem_alloc()
    f()
    return gc.mem_alloc() - before


def alloc(path, window=None):
    m = tinyml.load(path, "native", window)
    x = bytes(m.input_buffer())
    m.run(x)
    m.invoke()
    a_invoke = _alloc(m.invoke)
    a_run = _alloc(lambda: m.run(x))
    print("alloc invoke", a_invoke, "run", a_run, "out", "".join("%02x" % (v & 255) for v in m.output_buffer()))


def stream(path, window, n=20):
    f = open(path, "rb")
    data = f.read()
    f.close()
    ram = tinyml.Model(data, "native")
    data = None
    t_ram = _ins(lambda: ram.invoke(), n)
    ram = None
    m = tinyml.load(path, "native", window)
    t_streamed = _ins(lambda: m.invoke(), n)
    reads = [a[:1] + (_nothing2,) + a[2:] for fn, a in m._steps if fn is _steps.stream]

    def read_all():
        for r in reads:
            _steps.stream(r)
    print("stream ram", t_ram, "streamed", t_streamed, "reads", _ins(read_all, n), "ops", len(reads))


def _nothing2(rec, oc0, ocn):
    pass


def ram(path):
    first = tinyml.load(path, "native", None)  # the library's one-time costs (kernel module, interned names)
    first.invoke()
    gc.collect()
    base = gc.mem_alloc()
    m = tinyml.load(path, "native", None)
    gc.collect()
    held = gc.mem_alloc() - base
    m.invoke()  # allocates nothing (alloc()): the peak is what the model holds
    held = max(held, gc.mem_alloc() - base)
    f = open(path, "rb")
    size = f.seek(0, 2)
    f.close()
    print("ram held", held, "file", size, "arena", m.arena_bytes)
