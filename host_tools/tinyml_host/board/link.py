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
import select
import struct
import time

import serial

from tinyml_host import paths
from tinyml_host.board import ports
from tinyml_host.board.counting_serial import CountingSerial, WireCounter  # noqa: F401
from tinyml_host.board.diagnose import (ARCHS, DeviceError, DeviceMemoryError, LinkError,  # noqa: F401
                                        MpyMismatch, arch_loads, describe_mpy, memory_error, mpy_mismatch,
                                        no_answer_error)

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
HOLDER_CHECK = 2.0  # s of silence in a run after which the link looks for another program on the port


# ---------------------------------------------------------------- the link

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
        self.clean = False            # soft reset on close: the next command finds a clean board

    @classmethod
    def open(cls, port, baud=115200, enter=True, clean=False):
        """Opens `port` with mpremote's SerialTransport and enters the raw REPL (Ctrl-C stops what
        runs). clean: a soft reset first (a fresh heap and namespace, whatever a previous command, a
        Ctrl-C or an error left) and again on close(), so the board is left clean; without it the
        board keeps what it has."""
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport
        real = os.path.realpath(port)  # SerialTransport tells a pty (QEMU, emulators) by its /dev/pts path
        if os.name == "posix" and not os.path.exists(real) and "://" not in port:
            raise LinkError(ports.no_port_message(port))
        held = ports.holders(real) if "://" not in port else []
        if held:  # a monitor without a lock (cat, screen...) would take the board's answers
            raise LinkError(ports.busy_message(port, held))
        try:
            # pyserial's exclusive lock: a second program on the port is refused, not interleaved
            transport = SerialTransport(real, baudrate=baud, exclusive=True)
            os.set_blocking(transport.serial.fileno(), False)  # reads never wait past their deadline
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
                if clean:
                    link.soft_reset()
                    link.clean = True
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
        if self.clean and self._raw and self._prompt:  # the last command ended: leave the board clean
            try:
                self.soft_reset(timeout=5)
            except (LinkError, OSError, serial.SerialException):
                pass
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
        """Reads what the port has, waiting up to `timeout` s (None: forever) for the first byte.
        A read never blocks: when select() saw bytes that another program took first, that program
        is named (LinkError)."""
        s = self.serial
        try:
            if s.pending:
                data = s.read(len(s.pending))
            else:
                r, _, _ = select.select([s.fileno()], [], [], timeout)
                if not r:
                    return 0
                data = s.read_available(max(4096, s.in_waiting))
                if not data:
                    self._check_holders()
        except (OSError, serial.SerialException) as e:
            raise LinkError("lost the board on %s (%s): it was reset, unplugged, or its emulator stopped; "
                            "reconnect and try again" % (self.port, e)) from None
        self._buf += data
        return len(data)

    def _check_holders(self):
        """LinkError naming the other programs that have the port open (they read the board's answers)."""
        if "://" in self.port:
            return
        held = ports.holders(self.port)
        if held:
            raise LinkError(ports.busy_message(self.port, held))

    def _restarted(self, seen, doing, markers=(b"MicroPython v", b"soft reboot", RAW_BANNER)):
        """LinkError if what the board sent is its start-up banner (a reset, a crash, power), else None."""
        seen = bytes(seen) + bytes(self._buf)
        if not any(m in seen for m in markers) and seen[:1] != b"M":
            return None
        try:
            self._fill(0.5)
        except LinkError:
            pass
        seen += bytes(self._buf)
        if not any(m in seen for m in markers):
            return None
        self._buf.clear()
        self._raw = self._prompt = False
        banner = next((ln for ln in seen.split(b"\n") if b"MicroPython v" in ln), b"").strip()
        return LinkError("the board on %s restarted %s (a reset, a crash, power or a watchdog)%s: the command "
                         "did not finish. Run it again; if the board restarts again, watch it with `tinyml repl`"
                         % (self.port, doing, (": " + banner.decode("utf-8", "replace")) if banner else ""))

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
        self._check_holders()
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
                restarted = self._restarted(r, "before the command was sent", (b"MicroPython v", b"soft reboot"))
                if restarted:
                    raise restarted
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
            raise self._restarted(r, "while the command was being sent") or LinkError("the board on %s did not accept the code (answered %r)" % (self.port, r))

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
                    raise (self._restarted(c, "while the command was being sent")
                           or LinkError("unexpected byte %r from the board during raw paste" % c))
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
        quiet_since = time.monotonic()
        while part < 2:
            if not self._buf:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._check_holders()
                    raise LinkError("the board did not finish within %.0f s" % timeout)
                if self._fill(0.2 if left is None else min(left, 0.2)):
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > HOLDER_CHECK:  # a silent board, or a thief?
                    self._check_holders()
                    quiet_since = time.monotonic()
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
        except (OSError, serial.SerialException) as e:  # a write to a port whose board is gone
            raise LinkError("lost the board on %s (%s): it was reset, unplugged, or its emulator stopped; "
                            "reconnect and try again" % (self.port, e)) from None
        except _Timeout as t:
            self._check_holders()
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
            free = heap = largest = None
            try:  # the heap once the failed code's garbage is gone: free bytes, size, largest block
                free, heap, largest = ast.literal_eval(self.exec(paths.device_program("heap_blocks")).strip())
            except (LinkError, ValueError, SyntaxError):
                pass
            return memory_error(tb, free, heap, largest)
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
            self._info = ast.literal_eval(self.exec(paths.device_program("board_info")).strip().splitlines()[-1])
            mpy = self._info["mpy"]
            arch = mpy >> 10 & 0x0F
            self._info["arch"] = ARCHS[arch] if arch < len(ARCHS) else None
            self._info["abi"] = "%d.%d" % (mpy & 0xFF, mpy >> 8 & 3)
        return self._info

    def mem_free(self):
        return int(self.exec("import gc\ngc.collect()\nprint(gc.mem_free())").strip())

    def friendly(self):
        """Leaves the raw REPL for the normal prompt (>>>), as for a user's REPL session: from a soft
        reset, so the session starts with a clean namespace (nothing a deploy or a run left)."""
        if self._raw:
            self.soft_reset()
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
