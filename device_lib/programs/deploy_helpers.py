# The device half of `tinyml deploy` (host: tinyml_host/board/deploy.py), sent to the board's raw
# REPL as it is before anything is deployed (so it imports nothing of tinyml). Every name starts
# with _tw_ so it does not clash with the user's.
#   _tw_scan(paths)        finishes a cut-off commit (_tw_recover), removes a .py that would shadow
#                          a .mpy of paths ('S <path>' each); prints 'F <block size>
#                          <free bytes>', then per path 'H <sha256 hex> <size>' (or 'H -') and the
#                          same of its staged copy <path>.tmp ('T ...'), which a later deploy may keep
#   _tw_mkdirs(dirs)       makes the folders (existing ones are fine)
#   _tw_open(tmp)          starts a file; _tw_w(b'<base64>') or _tw_z(b'<base64 of raw deflate>') add
#   _tw_done(tmp, h)       checks the whole file's hash: prints OK, or BAD and deletes it; the real
#                          name is untouched until the commit
#   _tw_commit(ps, m)      the set at once: writes the manifest m (path sha256 size per line) as
#                          /tinyml.manifest.new (the journal), renames each <path>.tmp of ps over
#                          <path>, then the journal over /tinyml.manifest; prints OK
#   _tw_recover()          (run by _tw_scan first) a commit cut off after its journal is finished (roll
#                          forward: every staged file is whole and checked); 'R <n>' when it did
import os
import binascii
try:
    import hashlib
    _tw_h = hashlib.sha256
except (ImportError, AttributeError):
    _tw_h = None
try:
    import deflate, io
except ImportError:
    deflate = None
_tw_wbits = 10  # deflate window bits (the host sends its own: deploy.WBITS)
_tw_b = bytearray(256)
_tw_f = None
def _tw_hash(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return '-'
    h = _tw_h() if _tw_h else None
    b = _tw_b
    m = memoryview(b)
    n = 0
    while True:
        k = f.readinto(b)
        if not k:
            break
        if h:
            h.update(b if k == len(b) else m[:k])
        n += k
    f.close()
    return (binascii.hexlify(h.digest()).decode() if h else 'nohash') + ' %d' % n
_TW_M = '/tinyml.manifest'
def _tw_mv(a, b):
    try:
        os.rename(a, b)
    except OSError:
        # the unix port's VfsPosix mounted on a folder renames relative paths only: from the folder
        c = os.getcwd()
        d, n = a.rsplit('/', 1)
        os.chdir(d or '/')
        try:
            os.rename(n, b.rsplit('/', 1)[1])
        finally:
            os.chdir(c)
def _tw_recover():
    try:
        f = open(_TW_M + '.new')
    except OSError:
        return
    n = 0
    for ln in f.read().split('\n'):
        p = ln.split(' ')[0]
        if p:
            try:
                _tw_mv(p + '.tmp', p)
                n += 1
            except OSError:  # renamed before the cut
                pass
    f.close()
    _tw_mv(_TW_M + '.new', _TW_M)
    print('R', n)
def _tw_scan(ps):
    _tw_recover()
    for p in ps:
        if p.endswith('.mpy'):  # a .py beside it would be imported instead of it
            try:
                os.remove(p[:-4] + '.py')
                print('S', p[:-4] + '.py')
            except OSError:
                pass
    try:
        s = os.statvfs('/')
        print('F', s[0], s[0] * s[3])
    except Exception:
        print('F 0 -1')
    for p in ps:
        print('H', _tw_hash(p))
        print('T', _tw_hash(p + '.tmp'))  # staged by a deploy cut off before its commit
def _tw_mkdirs(ds):
    for d in ds:
        try:
            os.mkdir(d)
        except OSError:
            pass
def _tw_open(p):
    global _tw_f
    try:
        os.remove(p)
    except OSError:
        pass
    _tw_f = open(p, 'wb')
def _tw_w(b):
    _tw_f.write(binascii.a2b_base64(b))
def _tw_z(b):
    d = deflate.DeflateIO(io.BytesIO(binascii.a2b_base64(b)), deflate.RAW, _tw_wbits)
    buf = bytearray(512)
    m = memoryview(buf)
    while True:
        k = d.readinto(buf)
        if not k:
            break
        _tw_f.write(buf if k == 512 else m[:k])
def _tw_done(tmp, want):
    global _tw_f
    if _tw_f:
        _tw_f.close()
    _tw_f = None
    got = _tw_hash(tmp)
    if got != want:
        os.remove(tmp)
        print('BAD', got)
        return
    print('OK')
def _tw_commit(ps, m):
    f = open(_TW_M + '.new.tmp', 'w')
    f.write(m)
    f.close()
    _tw_mv(_TW_M + '.new.tmp', _TW_M + '.new')  # the journal: from here on the new set wins
    for p in ps:
        _tw_mv(p + '.tmp', p)
    _tw_mv(_TW_M + '.new', _TW_M)
    print('OK')
