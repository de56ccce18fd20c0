# The `unix` board's "firmware": runs inside MicroPython's unix port and speaks the REPL protocols
# of a MicroPython board (friendly REPL, raw REPL, raw-paste mode) on stdin/stdout, which the board
# supervisor (host_tools/tinyml_host/emulators/supervisor.py) relays to a pty. The unix port's own REPL has no
# raw REPL, so mpremote could not drive it.
#   micropython -X heapsize=N repl.py FS_DIR friendly|raw
# FS_DIR is mounted as "/" (a VfsPosix rooted there), the working directory is "/", and sys.path is
# ['', '.frozen', '/lib'] as on a board; boot.py runs at every start, main.py at a start in friendly
# mode (power-on, soft reset from the friendly REPL), as on a board. Soft reset (Ctrl-D, sys.exit())
# ends this process with status 3 (raw REPL) or 4 (friendly REPL); the supervisor starts a fresh one in that mode, so a soft
# reset forgets every module and global, as on a board. Ctrl-C while code runs: the supervisor sends
# SIGINT, which the unix port raises as KeyboardInterrupt.
import gc
import os
import sys

_fs_dir = sys.argv[1]
_mode = sys.argv[2] if len(sys.argv) > 2 else "friendly"
_in = sys.stdin.buffer
_out = sys.stdout.buffer
SOFT_RAW = 3
SOFT_FRIENDLY = 4


def _rel(cwd, path):
    # path (absolute) relative to cwd (absolute), for the kernel's own cwd
    up = len([p for p in cwd.split("/") if p])
    return "../" * up + path.lstrip("/") if path != "/" else ("../" * up or ".")


class _RootFS:
    # A VfsPosix rooted at FS_DIR, wrapped (a Python subclass of VfsPosix would break imports: the
    # VFS layer hands the subclass instance to VfsPosix's C import_stat). Two fixes on the way:
    # rename('/a', '/b') (VfsPosix(root) builds both paths in one buffer: the second one is given
    # relative to the working directory instead), and ilistdir() entries carry the size, as on a board.
    def __init__(self, root):
        self._v = os.VfsPosix(root)

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        return self._v.open(path, mode)

    def chdir(self, path):
        return self._v.chdir(path)

    def getcwd(self):
        return self._v.getcwd()

    def mkdir(self, path):
        return self._v.mkdir(path)

    def rmdir(self, path):
        return self._v.rmdir(path)

    def remove(self, path):
        return self._v.remove(path)

    def stat(self, path):
        return self._v.stat(path)

    def statvfs(self, path):
        return self._v.statvfs(path)

    def rename(self, old, new):
        if old[:1] == "/" and new[:1] == "/":
            new = _rel(self._v.getcwd(), new)
        return self._v.rename(old, new)

    def ilistdir(self, path):
        base = path.rstrip("/") + "/" if path else ""
        for e in self._v.ilistdir(path):
            try:
                size = 0 if e[1] == 0x4000 else self._v.stat(base + e[0])[6]
            except OSError:
                size = 0
            yield (e[0], e[1], e[2], size)


os.umount("/")
os.mount(_RootFS(_fs_dir), "/")
os.chdir("/")
sys.path[:] = ["", ".frozen", "/lib"]
del sys.argv[1:]
sys.argv[0] = ""


def w(b):
    _out.write(b)


def getc():
    c = _in.read(1)
    if not c:  # the supervisor went away
        sys.exit(0)
    return c[0]


def _print_exc(e):
    # The traceback without this file's own frames (a board shows only <stdin> and the user's files).
    import io
    s = io.StringIO()
    sys.print_exception(e, s)
    lines = s.getvalue().split("\n")
    me = __file__ if "__file__" in globals() else "repl.py"
    keep = [ln for ln in lines if not (ln.startswith('  File "') and me in ln)]
    w("\n".join(keep).encode())


_G = {"__name__": "__main__"}


def execute(src, mode="exec", eof=True):
    """Compiles and runs src like pyexec's parse_compile_execute. Returns True for a forced exit."""
    forced = False
    try:
        code = compile(src, "<stdin>", mode)
        exec(code, _G)
        if eof:
            w(b"\x04")
    except SystemExit:
        if eof:
            w(b"\x04")
        forced = True
    except BaseException as e:  # noqa: B902 (KeyboardInterrupt too, as on a board)
        if eof:
            w(b"\x04")
        _print_exc(e)
    if eof:
        w(b"\x04")
    return forced


def soft_reset(code):
    w(b"MPY: soft reboot\r\n")
    sys.exit(code)


def raw_paste(c):
    if c != ord("A"):
        w(b"R\x00")
        return False
    w(b"R\x01")
    window = 128
    w(bytes((window & 0xFF, window >> 8, 1)))
    remain = window
    src = bytearray()
    while True:
        c = getc()
        if c == 3 or c == 4:
            w(b"\x04")
            if c == 3:
                w(b"\x04")
                _print_exc(KeyboardInterrupt())
                w(b"\x04")
                return False
            break
        src.append(c)
        remain -= 1
        if remain == 0:
            w(b"\x01")
            remain = window
    return execute(bytes(src))


def raw_repl():
    w(b"raw REPL; CTRL-B to exit\r\n")
    line = bytearray()
    w(b">")
    while True:
        try:
            c = getc()
            if c == 1:  # Ctrl-A: raw-paste request ("\x05A\x01") or reset raw REPL
                if len(line) == 2 and line[0] == 5:
                    if raw_paste(line[1]):
                        soft_reset(SOFT_RAW)
                    line = bytearray()
                    w(b">")
                    continue
                line = bytearray()
                w(b"raw REPL; CTRL-B to exit\r\n>")
            elif c == 2:  # Ctrl-B: friendly REPL
                w(b"\r\n")
                return
            elif c == 3:  # Ctrl-C: clear line
                line = bytearray()
            elif c == 4:  # Ctrl-D: run (or soft reset on an empty line)
                w(b"OK")
                if not line:
                    w(b"\r\n")
                    soft_reset(SOFT_RAW)
                src, line = bytes(line), bytearray()
                if execute(src):
                    soft_reset(SOFT_RAW)
                w(b">")
            else:
                line.append(c)
        except KeyboardInterrupt:  # SIGINT for a Ctrl-C that came while no code ran: clear line
            line = bytearray()


def banner():
    v = sys.implementation.version
    ver = "v%d.%d.%d%s" % (v[0], v[1], v[2], "-" + v[3] if len(v) > 3 and v[3] else "")
    w(("MicroPython %s (%s); tinyml unix board with %s\r\nType \"help()\" for more information.\r\n"
       % (ver, sys.version.split("MicroPython ")[-1], sys.implementation._machine)).encode())


def _needs_more(src):
    last = src.split("\n")[-1]
    return last.rstrip().endswith(":") or last.rstrip().endswith("\\") or ("\n" in src and last.strip() != "")


def paste_mode():
    w(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
    buf = bytearray()
    while True:
        c = getc()
        if c == 3:
            w(b"\r\n")
            return False
        if c == 4:
            w(b"\r\n")
            return execute(bytes(buf), eof=False)
        if c == 13:
            c = 10
        buf.append(c)
        w(b"\r\n=== " if c == 10 else bytes((c,)))


def friendly_repl():
    banner()
    line = bytearray()
    cont = ""
    w(b">>> ")
    while True:
        try:
            c = getc()
            if c == 1 and not line and not cont:  # Ctrl-A: raw REPL
                w(b"\r\n")
                return "raw"
            if c == 2 and not line and not cont:  # Ctrl-B: banner again
                w(b"\r\n")
                banner()
                w(b">>> ")
            elif c == 3:  # Ctrl-C: cancel the line
                line, cont = bytearray(), ""
                w(b"\r\n>>> ")
            elif c == 4 and not line:  # Ctrl-D: soft reset
                w(b"\r\n")
                soft_reset(SOFT_FRIENDLY)
            elif c == 5 and not line and not cont:  # Ctrl-E: paste mode
                if paste_mode():
                    soft_reset(SOFT_FRIENDLY)
                w(b">>> ")
            elif c in (8, 127):  # backspace
                if line:
                    line.pop()
                    w(b"\x08 \x08")
            elif c == 27:  # escape sequence (arrows...): skipped
                c = getc()
                if c == ord("["):
                    while not (64 <= getc() <= 126):
                        pass
            elif c == 13 or c == 10:
                w(b"\r\n")
                src = cont + line.decode()
                line = bytearray()
                if _needs_more(src):
                    cont = src + "\n"
                    w(b"... ")
                    continue
                cont = ""
                if src.strip():
                    if execute(src + "\n", "single", eof=False):
                        soft_reset(SOFT_FRIENDLY)
                w(b">>> ")
            elif c >= 32 or c == 9:
                line.append(c)
                w(bytes((c,)))
        except KeyboardInterrupt:
            line, cont = bytearray(), ""


def run_file(name):
    # boot.py, then main.py (friendly mode only), as a board's firmware runs them at reset; a Ctrl-C
    # (SIGINT) stops them and the REPL follows. True for a forced exit (sys.exit: soft reset).
    try:
        src = open(name).read()
    except OSError:
        return False
    return execute(src, eof=False)


gc.collect()
mode = _mode
if run_file("boot.py"):
    soft_reset(SOFT_RAW if mode == "raw" else SOFT_FRIENDLY)
if mode == "friendly" and run_file("main.py"):
    soft_reset(SOFT_FRIENDLY)
while True:
    if mode == "raw":
        raw_repl()
        mode = "friendly"
    else:
        mode = friendly_repl()
