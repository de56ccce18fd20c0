# What a board is, printed as one Python literal for the host's Link.info() (tinyml_host/board/link.py):
# the .mpy version and arch, MicroPython version, platform, free and total heap, filesystem space,
# whether deflate and hashlib.sha256 are there, sys.path. Sent to the raw REPL as it is.
import sys, os, gc
gc.collect()
try:
    import deflate
    _z = hasattr(deflate, 'DeflateIO')
except ImportError:
    _z = False
try:
    import hashlib
    _h = hasattr(hashlib, 'sha256')
except ImportError:
    _h = False
try:
    _s = os.statvfs('/')
    _fs = (_s[0] * _s[3], _s[0] * _s[2])
except Exception:
    _fs = None
print(repr({'mpy': getattr(sys.implementation, '_mpy', 0), 'version': sys.version, 'platform': sys.platform,
    'machine': getattr(sys.implementation, '_machine', ''), 'free': gc.mem_free(),
    'heap': gc.mem_free() + gc.mem_alloc(), 'fs': _fs, 'deflate': _z, 'sha256': _h, 'path': sys.path}))
del _z, _h, _fs
