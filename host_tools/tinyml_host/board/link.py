# The serial link to a MicroPython board: opens the port with mpremote's SerialTransport (the same
# code path as `mpremote` on real hardware), runs code in the raw REPL with its output streamed as it
# comes, counts the bytes on the wire, and turns every failure a user meets into a message with its
# cause and its fix: the board's here (bootloader, silence, crash, MemoryError, .mpy ABI), the port's
# (missing, busy, permission, not a tty) from ports.py, which finds and diagnoses ports for every caller.
#
#   with Link.open("/dev/ttyACM0") as link:
#       link.exec("print(1 + 1)", on_line=print)     # stream printed lines; no time limit by default
#       link.wire.tx                                 # bytes sent to the board so far
import ast
import os
import re
import select
import struct
import time

import serial

from tinyml_host.board import ports
from tinyml_host.board.unix import BoardError

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
# Index is the arch field of sys.implementation._mpy and of a .mpy header (py/persistentcode.h).
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
         "xtensa", "xtensawin", "rv32imc", "rv64imc")


class LinkError(BoardError):
    """A problem on the serial link or on the board; the message says the cause and the fix."""


class DeviceError(LinkError):
    """Code on the board raised an exception: traceback is the board's text."""

    def __init__(self, message, traceback=""):
        super().__init__(message)
        self.traceback = traceback


class DeviceMemoryError(DeviceError):
    def __init__(self, message, traceback="", needed=None, free=None):
        super().__init__(message, traceback)
        self.needed = needed
        self.free = free


class MpyMismatch(LinkError):
    pass


# ---------------------------------------------------------------- errors and their fixes

def _printable_ratio(data):
    if not data:
        return 1.0
    ok = sum(1 for b in data if 32 <= b < 127 or b in (9, 10, 13))
    return ok / len(data)


def no_answer_error(port, seen, baud=115200, waited=0.0):
    """The LinkError for a board that did not enter the raw REPL; `seen` is everything it sent."""
    seen = bytes(seen)
    tail = seen[-300:].decode("utf-8", "replace")
    if (b"waiting for download" in seen or re.search(rb"boot:0x[0-9a-fA-F]+ \([A-Z_]*DOWNLOAD", seen)
            or b"DOWNLOAD(USB" in seen):
        return LinkError("the board on %s is in its ROM bootloader (it printed 'waiting for download'), not "
                         "running MicroPython: press and release RESET/EN without holding BOOT/IO0. If it "
                         "keeps coming back to the bootloader, no firmware is flashed: flash MicroPython "
                         "with esptool" % port)
    who = ports.holders(port)
    others = (" Other programs with the port open: %s: close them." % ports.describe_holders(who)) if who else ""
    if not seen:
        return LinkError("the board on %s does not answer (nothing received in %.0f s): check the baud rate "
                         "(%d was used; MicroPython's REPL is 115200 on most boards), press RESET, and close any "
                         "other program using the port. An ESP32 held in its bootloader (BOOT pressed at reset) "
                         "is silent too: press RESET/EN alone.%s" % (port, waited, baud, others))
    if _printable_ratio(seen) < 0.7:
        return LinkError("the board on %s sends unreadable bytes: the baud rate is probably wrong (%d was "
                         "used; try the board's REPL speed, usually 115200), or it is not a MicroPython REPL.%s"
                         % (port, baud, others))
    return LinkError("the board on %s answered but did not enter MicroPython's raw REPL; it printed:\n%s\n"
                     "It may be running a program that ignores Ctrl-C, be in a bootloader, or not run "
                     "MicroPython: press RESET and try again.%s" % (port, tail, others))


def describe_mpy(mpy):
    """sys.implementation._mpy as text, e.g. '.mpy 6.3, arch x64'."""
    arch = mpy >> 10 & 0x0F
    return ".mpy %d.%d, arch %s" % (mpy & 0xFF, mpy >> 8 & 3,
                                     (ARCHS[arch] if arch < len(ARCHS) else arch) or "none (no native code)")


THUMB = range(4, 9)  # armv6m .. armv7emdp: a Thumb board loads the code of any lower one of these


def arch_loads(device_arch, file_arch):
    """Whether a board of device_arch (the arch number in sys.implementation._mpy) imports native
    code of file_arch: the same arch, or on Thumb boards any Thumb arch up to its own (MicroPython's
    MPY_FEATURE_ARCH_TEST; e.g. a Cortex-M3 reports armv7em and loads armv6m and armv7m code)."""
    if device_arch in THUMB:
        return file_arch in THUMB and file_arch <= device_arch
    return file_arch == device_arch


def mpy_mismatch(device_mpy, header, name):
    """Why the board (sys.implementation._mpy) cannot import a .mpy whose first bytes are `header`,
    or None if it can. The rule is MicroPython's loader (py/persistentcode.c): the same version;
    when the file holds native code, also the same sub-version and an arch the board runs."""
    header = bytes(header[:4])
    if len(header) < 3 or header[0:1] != b"M":
        return "%s is not a .mpy file" % name
    ver, flags = header[1], header[2]
    arch, sub = flags >> 2, flags & 3
    dver, dsub, darch = device_mpy & 0xFF, device_mpy >> 8 & 3, device_mpy >> 10 & 0x0F
    if ver != dver:
        return ("%s is .mpy version %d; the board's MicroPython loads version %d (%s): MicroPython 1.23 to 1.29 "
                "load 6.3, so update the board's firmware to one of those" % (name, ver, dver, describe_mpy(device_mpy)))
    if arch:
        an = ARCHS[arch] if arch < len(ARCHS) else str(arch)
        if sub != dsub:
            return ("%s is .mpy %d.%d; the board loads %d.%d native code: rebuild with a matching MicroPython "
                    "source (make natmod MPY_DIR=...) or update the firmware" % (name, ver, sub, dver, dsub))
        if darch == 0:
            return ("%s holds %s machine code, but the board's firmware has no native code support (%s): "
                    "it runs the python backend only" % (name, an, describe_mpy(device_mpy)))
        if not arch_loads(darch, arch):
            dn = ARCHS[darch] if darch < len(ARCHS) else str(darch)
            return ("%s holds %s machine code; the board is %s: deploy builds per arch, so check the board "
                    "profile (--board) matches the board" % (name, an, dn))
    return None


def memory_error(traceback, free=None, heap=None):
    """A DeviceMemoryError from a board's MemoryError traceback: needed vs free bytes, and what to do."""
    m = re.search(r"allocating (\d+) bytes", traceback)
    needed = int(m.group(1)) if m else None
    parts = ["the board ran out of memory (MemoryError)"]
    if needed is not None:
        parts.append("it needed a block of %d bytes" % needed)
    if free is not None:
        parts.append("%d bytes are free%s after a collection (gc.mem_free(); the block must also be contiguous)"
                     % (free, " of a %d-byte heap" % heap if heap else ""))
    msg = ", ".join(parts) + (". Use a smaller weight window (tinyml.load(path, window=4096), or 2048), load "
                              "nothing else beside the model, or use a board with more RAM")
    return DeviceMemoryError(msg + "\n" + traceback.strip(), traceback, needed, free)


# ---------------------------------------------------------------- the link

class WireCounter:
    """Bytes on the wire: tx sent to the board, rx received from it."""

    def __init__(self):
        self.tx = 0
        self.rx = 0


class CountingSerial:
    """A serial port that counts the bytes written and read (wraps pyserial's Serial), with a
    push-back buffer so that bytes read ahead by the Link are seen first by the next reader
    (mpremote's own functions included)."""

    def __init__(self, port, counter):
        self._port = port
        self.counter = counter
        self.pending = bytearray()

    def write(self, data):
        self.counter.tx += len(data)
        return self._port.write(data)

    def read(self, size=1):
        if self.pending:
            data = bytes(self.pending[:size])
            del self.pending[:size]
            return data
        data = self._port.read(size)
        self.counter.rx += len(data)
        return data

    def unread(self, data):
        self.pending[:0] = data

    @property
    def in_waiting(self):
        return len(self.pending) + self._port.in_waiting

    def inWaiting(self):
        return self.in_waiting

    def __getattr__(self, name):
        return getattr(self._port, name)


class Link:
    """A MicroPython board on a serial port, in its raw REPL."""

    def __init__(self, transport, port, baud, wire):
        self.transport = transport
        self.port = port
        self.baud = baud
        self.wire = wire
        self.serial = transport.serial
        self._buf = bytearray()       # bytes read from the port, not consumed yet
        self._prompt = False          # a raw REPL '>' is owed to us
        self._raw = False
        self._info = None

    @classmethod
    def open(cls, port, baud=115200, enter=True):
        """Opens `port` with mpremote's SerialTransport and enters the raw REPL (no soft reset: a
        board keeps what it has; Ctrl-C stops what runs)."""
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport
        real = os.path.realpath(port)  # SerialTransport tells a pty (QEMU, emulators) by its /dev/pts path
        if os.name == "posix" and not os.path.exists(real) and "://" not in port:
            raise LinkError(ports.no_port_message(port))
        try:
            # pyserial's exclusive lock: a second program on the port is refused, not interleaved
            transport = SerialTransport(real, baudrate=baud, exclusive=True)
        except TransportError:
            # SerialTransport hides pyserial's error: open once more through ports.py to learn the cause
            try:
                ports.open_serial(port, baud).close()
            except ports.PortError as e:
                raise LinkError(str(e)) from None
            raise LinkError("could not open %s (it opened on a second try: the board may be resetting; try "
                            "again)" % port) from None
        wire = WireCounter()
        transport.serial = CountingSerial(transport.serial, wire)
        link = cls(transport, port, baud, wire)
        if enter:
            try:
                link.enter_raw()
            except BaseException:
                link.close()
                raise
        return link

    def reopen(self):
        """Opens the port again (after another tool had it) and enters the raw REPL."""
        new = Link.open(self.port, self.baud)
        new.wire = self.wire
        new.serial.counter = self.wire
        self.transport, self.serial = new.transport, new.serial
        self._buf, self._prompt, self._raw = new._buf, new._prompt, new._raw

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            if self._raw:
                self.serial.write(b"\r\x02")  # back to the friendly REPL
        except (OSError, serial.SerialException):
            pass
        try:
            self.transport.close()
        except (OSError, serial.SerialException):
            pass

    # -------------------------------------------------------- reading

    def _fill(self, timeout):
        """Reads what the port has, waiting up to `timeout` s (None: forever) for the first byte."""
        s = self.serial
        try:
            n = s.in_waiting
            if s.pending:
                n = len(s.pending)
            elif not n:
                r, _, _ = select.select([s.fileno()], [], [], timeout)
                if not r:
                    return 0
                n = max(1, s.in_waiting)
            data = s.read(n)
        except (OSError, serial.SerialException) as e:
            raise LinkError("lost the board on %s (%s): it was reset, unplugged, or its emulator stopped; "
                            "reconnect and try again" % (self.port, e)) from None
        self._buf += data
        return len(data)

    def _read_until(self, ending, timeout):
        """Bytes up to and including `ending`; on timeout, LinkError holding what came."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            i = self._buf.find(ending)
            if i >= 0:
                out = bytes(self._buf[:i + len(ending)])
                del self._buf[:i + len(ending)]
                return out
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise _Timeout(bytes(self._buf))
            self._fill(0.1 if left is None else min(left, 0.1))

    def _read_exact(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Timeout(bytes(self._buf))
            self._fill(min(left, 0.1))
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _drain(self, quiet=0.2, limit=2.0):
        """Reads until the board is quiet for `quiet` s (at most `limit` s); returns it."""
        end = time.monotonic() + limit
        while time.monotonic() < end and self._fill(quiet):
            pass
        out = bytes(self._buf)
        self._buf.clear()
        return out

    # -------------------------------------------------------- raw REPL

    def enter_raw(self, tries=3, wait=2.0):
        """Ctrl-C (stop what runs), then Ctrl-A (raw REPL); a few tries, then a diagnosis."""
        s = self.serial
        seen = bytearray()
        t0 = time.monotonic()
        for _ in range(tries):
            s.write(b"\r\x03")
            time.sleep(0.05)
            s.write(b"\x03")
            seen += self._drain(0.1, 0.5)
            s.write(b"\r\x01")
            try:
                seen += self._read_until(RAW_BANNER, wait)
            except _Timeout as t:
                seen += t.data
                self._buf.clear()
                continue
            self._raw = self.transport.in_raw_repl = True
            self._prompt = True  # the '>' that follows is read by the next command
            self._push_back()
            return
        raise no_answer_error(self.port, seen, self.baud, time.monotonic() - t0)

    def _send(self, code):
        """Sends code to run (raw-paste mode with the board's flow control when it has it)."""
        s = self.serial
        if self._prompt:
            try:
                self._read_until(b">", 10)
            except _Timeout as t:
                raise LinkError("the board on %s stopped answering between commands (it printed %r): press "
                                "RESET and try again" % (self.port, t.data[-200:])) from None
            self._prompt = False
        if self.transport.use_raw_paste:
            s.write(b"\x05A\x01")
            r = self._read_exact(2, 5)
            if r == b"R\x01":
                return self._paste(code)
            if r != b"R\x00":  # an old firmware: it took \x01 as "enter raw REPL" again
                try:
                    self._read_until(b"w REPL; CTRL-B to exit\r\n>", 5)
                except _Timeout:
                    raise LinkError("the board on %s answered the raw-paste request with %r" % (self.port, r))
            self.transport.use_raw_paste = False
        for i in range(0, len(code), 256):  # plain raw REPL, as mpremote: 256 bytes every 10 ms
            s.write(code[i:i + 256])
            time.sleep(0.01)
        s.write(b"\x04")
        r = self._read_exact(2, 10)
        if r != b"OK":
            raise LinkError("the board on %s did not accept the code (answered %r)" % (self.port, r))

    def _paste(self, code):
        s = self.serial
        window = struct.unpack("<H", self._read_exact(2, 5))[0]
        remain = window
        i = 0
        while i < len(code):
            while remain == 0 or self._buf or s.in_waiting:
                c = self._read_exact(1, 30)
                if c == b"\x01":
                    remain += window
                elif c == b"\x04":  # the board ended the paste early (out of memory for the code)
                    s.write(b"\x04")
                    return
                else:
                    raise LinkError("unexpected byte %r from the board during raw paste" % c)
            chunk = code[i:i + remain]
            s.write(chunk)
            remain -= len(chunk)
            i += len(chunk)
        s.write(b"\x04")
        self._read_until(b"\x04", 30)  # the board's acknowledgement; it compiles and runs now

    def _follow(self, on_line, on_data, timeout):
        """stdout until \\x04 (streamed), then stderr until \\x04; returns both."""
        out = bytearray()
        err = bytearray()
        line = bytearray()
        part = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while part < 2:
            if not self._buf:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise LinkError("the board did not finish within %.0f s" % timeout)
                self._fill(0.2 if left is None else min(left, 0.2))
                continue
            i = self._buf.find(b"\x04")
            piece = bytes(self._buf if i < 0 else self._buf[:i])
            del self._buf[:len(piece) + (i >= 0)]
            if part == 0:
                out += piece
                tail = out[-len(piece) - 40:]
                crash = next((c for c in CRASH_TEXTS if c in tail), None)
                if crash:
                    time.sleep(0.5)
                    self._fill(0.5)
                    self._raw = self._prompt = False
                    self._buf.clear()
                    raise LinkError("the board crashed while running the command (it printed %r): its firmware "
                                    "stopped or rebooted; press RESET. If it happens with one backend only "
                                    "(--backend), use another and report it" % crash.decode())
                if b'for more information.\r\n>>> ' in tail or RAW_BANNER in tail:
                    self._raw = False
                    self._prompt = False
                    self._buf.clear()
                    raise LinkError("the board on %s restarted while running the command (reset, crash, power "
                                    "or watchdog); it printed:\n%s" % (self.port, out[-300:].decode("utf-8", "replace")))
                if on_data:
                    on_data(piece)
                if on_line:
                    line += piece
                    *done, rest = line.split(b"\n")
                    for d in done:
                        on_line(d.rstrip(b"\r").decode("utf-8", "replace"))
                    line = bytearray(rest)
            else:
                err += piece
            if i >= 0:
                part += 1
                if part == 1 and on_line and line:
                    on_line(line.rstrip(b"\r").decode("utf-8", "replace"))
        self._prompt = True
        return bytes(out), bytes(err)

    def exec_raw(self, code, on_line=None, on_data=None, timeout=None):
        """Runs code; returns (stdout, stderr) bytes. on_line gets each printed line as it comes,
        on_data each raw chunk. timeout: seconds for the whole run, None (the default) for no limit.
        Ctrl-C on the host stops the code on the board, brings the raw REPL back, and re-raises."""
        if isinstance(code, str):
            code = code.encode("utf-8")
        if not self._raw:
            self.enter_raw()
        try:
            self._send(code)
            return self._follow(on_line, on_data, timeout)
        except KeyboardInterrupt:
            self.interrupt()
            raise
        except _Timeout as t:
            raise LinkError("the board on %s stopped answering (last bytes %r): press RESET and try again"
                            % (self.port, t.data[-200:])) from None
        finally:
            self._push_back()

    def _push_back(self):
        """Returns read-ahead bytes to the port. Between commands the raw REPL's '>' stays unread,
        as mpremote's own functions (the repl, the `mpremote cp` comparison) expect."""
        self.serial.unread(self._buf)
        self._buf.clear()

    def exec(self, code, on_line=None, on_data=None, timeout=None):
        """Runs code; returns its stdout as text. A board exception raises DeviceError (MemoryError:
        DeviceMemoryError with needed and free bytes; an incompatible .mpy: MpyMismatch)."""
        out, err = self.exec_raw(code, on_line, on_data, timeout)
        if err:
            raise self._device_error(err.decode("utf-8", "replace"))
        return out.decode("utf-8", "replace")

    def eval(self, expression):
        return ast.literal_eval(self.exec("print(repr(%s))" % expression).strip())

    def _device_error(self, tb):
        last = tb.strip().splitlines()[-1] if tb.strip() else tb
        if "MemoryError" in last:
            free = heap = None
            try:  # what is free once the failed code's garbage is gone
                free, heap = ast.literal_eval(self.exec(
                    "import gc\ngc.collect()\nprint((gc.mem_free(), gc.mem_free() + gc.mem_alloc()))").strip())
            except (LinkError, ValueError, SyntaxError):
                pass
            return memory_error(tb, free, heap)
        if "incompatible .mpy" in last:
            mpy = self.info().get("mpy", 0)
            return MpyMismatch("the board cannot import a .mpy file (%s); the board is %s. Deploy again so "
                               "every file is built for it (tinyml deploy)\n%s" % (last, describe_mpy(mpy), tb.strip()))
        return DeviceError("the board raised %s\n%s" % (last, tb.strip()), tb)

    def interrupt(self):
        """Stops the code running on the board (Ctrl-C) and brings the raw REPL back."""
        s = self.serial
        try:
            s.write(b"\x03")
            time.sleep(0.1)
            s.write(b"\x03")
            self._drain(0.3, 3.0)
        except (LinkError, OSError, serial.SerialException):
            pass
        self._raw = False
        self._prompt = False
        self.enter_raw()

    def soft_reset(self, timeout=15):
        """Soft reset in the raw REPL (Ctrl-D): a fresh heap, nothing imported, back in the raw REPL.
        Before loading a model it leaves the largest free blocks; boot.py runs, main.py does not."""
        if not self._raw:
            self.enter_raw()
        try:
            if self._prompt:
                self._read_until(b">", 10)
                self._prompt = False
            self.serial.write(b"\x04")
            self._read_until(b"soft reboot\r\n", timeout)
            self._read_until(RAW_BANNER, timeout)
        except _Timeout as t:
            self._buf.clear()
            self._raw = False
            raise LinkError("the board on %s did not come back from a soft reset (it printed %r): press RESET "
                            "and try again" % (self.port, t.data[-200:])) from None
        self._prompt = True
        self._push_back()

    def info(self):
        """What the board is: a dict with mpy (sys.implementation._mpy), arch, abi, version, platform,
        machine, free and heap (bytes of RAM), fs (free and total bytes of flash at /), deflate
        (whether the deflate module can decompress), sha256, path (sys.path)."""
        if self._info is None:
            self._info = ast.literal_eval(self.exec(INFO_CODE).strip().splitlines()[-1])
            mpy = self._info["mpy"]
            arch = mpy >> 10 & 0x0F
            self._info["arch"] = ARCHS[arch] if arch < len(ARCHS) else None
            self._info["abi"] = "%d.%d" % (mpy & 0xFF, mpy >> 8 & 3)
        return self._info

    def mem_free(self):
        return int(self.exec("import gc\ngc.collect()\nprint(gc.mem_free())").strip())

    def friendly(self):
        """Leaves the raw REPL for the normal prompt (>>>), as for a user's REPL session."""
        if self._prompt:
            try:
                self._read_until(b">", 2)
            except _Timeout:
                pass
            self._prompt = False
        self._push_back()
        self.serial.write(b"\r\x02")  # the board prints its banner and >>>, for the REPL to show
        self._raw = self.transport.in_raw_repl = False


# What boards print when their firmware dies (not a Python exception): ESP32 panics, ports' fatal
# handlers, MicroPython's own fatal error.
CRASH_TEXTS = (b"Guru Meditation Error", b"MACHINE EXCEPTION CAUGHT", b"FATAL: uncaught", b"HardFault",
               b"Fatal exception", b"abort() was called")


class _Timeout(Exception):
    def __init__(self, data):
        super().__init__("timeout")
        self.data = data


INFO_CODE = """
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
"""

