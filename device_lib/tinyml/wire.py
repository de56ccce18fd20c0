# The device half of `tinyml run | verify | bench` over the serial link (host: tinyml_host/board/run.py),
# the same on every board, the unix port included. The host imports this module in the raw REPL:
#   from tinyml import wire as _w
#   _w.load(path, backend, window, nin, nout)   prints 'M <backend> <free heap>'
#   _w.run(b'<base64 of n whole cases>', n)     small cases, several per command
#   _w.part(k, offset, b'<base64>') ... _w.go()  a case bigger than a block, in pieces
#   _w.done()                                   prints 'T <cases> <µs>' and frees the model
# Per case the board prints one line 'O <base64>' per output. Times are measured here, on the board.
# Only what a run needs is here (it shares the board's heap with the model); `tinyml bench`'s
# measurements and the unix port's file-based runs are in tinyml/measure.py.
import binascii
import gc

import tinyml
from tinyml.clock import diff_us, now_us

_m = None
_nin = _nout = _n = _t = 0


def load(path, backend=None, window=-1, nin=1, nout=1):
    global _m, _nin, _nout, _n, _t
    _m = None
    gc.collect()
    _m = tinyml.load(path, backend, window)
    _nin, _nout, _n, _t = nin, nout, 0, 0
    gc.collect()
    print('M', _m.backend, gc.mem_free())


def _out():
    for k in range(_nout):
        print('O', binascii.b2a_base64(_m.output_buffer(k)).decode().strip())


def go():
    global _t, _n
    t0 = now_us()
    _m.invoke()
    _t += diff_us(now_us(), t0)
    _n += 1
    _out()


def part(k, at, b):
    d = binascii.a2b_base64(b)
    _m.input_buffer(k)[at:at + len(d)] = d


def run(b, n):
    d = memoryview(binascii.a2b_base64(b))
    at = 0
    for _ in range(n):
        for k in range(_nin):
            buf = _m.input_buffer(k)
            buf[:] = d[at:at + len(buf)]
            at += len(buf)
        go()


def done():
    global _m
    print('T', _n, _t)
    _m = None
    gc.collect()
