# Emulated boards, each running in the background behind a pseudo-terminal, so the very code that
# talks to a real board over its USB serial port (mpremote's raw REPL) talks to them:
#   start("qemu-m3") -> "/.../build/boards/qemu-m3/tty"   (a symlink to /dev/pts/N)
#   stop("qemu-m3"); status()
# A board is a small supervisor process (this file, run with --supervise) that owns the pty and
# relays it to the board proper: the unix port running firmware/boards/unix/repl.py, or QEMU running
# build/boards/<board>/firmware.elf with its UART on QEMU's stdio. The supervisor restarts the board
# when it ends (the unix board's soft reset; a QEMU exit), drops the board's output while no program
# has the pty open (a UART nobody listens to) and holds it back while the reader is slow, and, for the
# unix board, turns a Ctrl-C from the host into SIGINT. State in build/boards/<board>/:
#   tty (the device), state.json (pids, heap), supervisor.log, fs/ (the unix board's files).
import contextlib
import fcntl
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import termios
import time
import tty

if __package__ in (None, ""):  # run as a script (the supervisor): make tinyml_host importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
    from tinyml_host.board import profiles as boards
else:
    from tinyml_host.board import profiles as boards

REPO = pathlib.Path(__file__).resolve().parents[3]
STATE_ROOT = REPO / "build" / "boards"
UNIX_REPL = REPO / "firmware" / "boards" / "unix" / "repl.py"
BUILD_BOARD = REPO / "firmware" / "build_board.sh"
HEAP_MIN = 16 * 1024
HEAP_MAGIC = 0x50414548  # b"HEAP" little-endian: the word before the heap size the firmware reads
APT_HINT = {"qemu-system-arm": "qemu-system-arm", "qemu-system-riscv32": "qemu-system-misc"}


class EmulatorError(RuntimeError):
    pass


def state_dir(name):
    return STATE_ROOT / name


def device_path(name):
    """The serial device of an emulated board (stable across restarts)."""
    return str(state_dir(name) / "tty")


def _emulated(name):
    board = boards.load(name)
    if not board.emulated:
        raise EmulatorError("%s is a real board, not an emulated one; emulated boards: %s"
                            % (name, ", ".join(b.name for b in boards.all_boards() if b.emulated)))
    return board


def _supervisor_alive(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"--supervise" in f.read()
    except OSError:
        return False


def running(name):
    """The state of a running emulated board (dict: pid, child, device, pty, heap, started) or None."""
    try:
        st = json.loads((state_dir(name) / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return st if _supervisor_alive(st.get("pid", -1)) else None


def status():
    """Every emulated board: [{name, running, device, heap, pid, started}]."""
    out = []
    for b in boards.all_boards():
        if not b.emulated:
            continue
        st = running(b.name)
        out.append({"name": b.name, "running": st is not None, "device": st["device"] if st else None,
                    "heap": st["heap"] if st else b.heap, "pid": st["pid"] if st else None,
                    "started": st.get("started") if st else None})
    return out


def firmware_path(board):
    return STATE_ROOT / board.emulator["firmware"] / "firmware.elf"


def _firmware_stale(board, elf):
    if not elf.exists():
        return True
    built = elf.stat().st_mtime
    srcs = [BUILD_BOARD] + [p for d in ("qemu-common", board.emulator["firmware"])
                            for p in (REPO / "firmware" / "boards" / d).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in srcs)


def ensure_firmware(board, quiet=True):
    """Builds the board's firmware (firmware/build_board.sh) when missing or older than its sources."""
    if board.emulator["kind"] != "qemu":
        return None
    elf = firmware_path(board)
    if _firmware_stale(board, elf):
        p = subprocess.run(["bash", str(BUILD_BOARD), board.emulator["firmware"]], cwd=REPO,
                           capture_output=quiet, text=True)
        if p.returncode != 0 or not elf.exists():
            raise EmulatorError("building the %s firmware failed (bash firmware/build_board.sh %s):\n%s"
                                % (board.name, board.emulator["firmware"], (p.stdout or "")[-3000:] + (p.stderr or "")[-3000:]))
    return elf


def _micropython():
    here = pathlib.Path(sys.executable).parent / "micropython"
    for cand in (here, REPO / ".venv" / "bin" / "micropython"):
        if cand.exists():
            return str(cand)
    found = shutil.which("micropython")
    if not found:
        raise EmulatorError("the MicroPython unix port ('micropython') is not installed: run 'make setup'")
    return found


_systems = {}


def qemu_system(board):
    """The QEMU binary of an emulated board: [emulator] system on PATH, or the path printed by the
    script named in system_from (which builds that QEMU when needed, e.g. the ESP32 core's)."""
    emu = board.emulator
    script = emu.get("system_from")
    if not script:
        return emu["system"]
    if script not in _systems:
        p = subprocess.run(["bash", str(REPO / script)], capture_output=True, text=True, cwd=REPO)
        if p.returncode != 0 or not p.stdout.strip():
            raise EmulatorError("no %s for %s (bash %s):\n%s" % (emu["system"], board.name, script, p.stderr[-3000:]))
        _systems[script] = p.stdout.strip()
    return _systems[script]


def _check_tools(board):
    if board.emulator["kind"] == "qemu":
        system = qemu_system(board)
        if not shutil.which(system):
            raise EmulatorError("%s is not installed: apt-get install %s" % (system, APT_HINT.get(system, "qemu-system")))
    else:
        _micropython()


def child_command(board, heap, mode="friendly"):
    """The command line of the board proper (its stdin/stdout are the board's UART)."""
    emu = board.emulator
    if emu["kind"] == "unix":
        fs = state_dir(board.name) / "fs"
        return [_micropython(), "-X", "heapsize=%d" % heap, str(UNIX_REPL), str(fs), mode], str(fs)
    data = (heap << 32) | HEAP_MAGIC
    icount = ["-icount", "shift=%d" % emu["icount"]] if "icount" in emu else []
    return [qemu_system(board), "-machine", emu["machine"], "-display", "none", "-monitor", "none",
            "-chardev", "stdio,id=uart0,signal=off", "-serial", "chardev:uart0",
            "-semihosting-config", "enable=on,target=native",
            "-device", "loader,addr=0x%x,data=0x%x,data-len=8" % (emu["config_addr"], data),
            "-kernel", str(firmware_path(board))] + icount + list(emu.get("args", [])), str(REPO)


def start(board_name, heap=None, timeout=60):
    """Starts an emulated board in the background (or reuses it when it runs with this heap) and
    returns its serial device, once its REPL answers. heap: bytes or "140K"; default the profile's."""
    board = _emulated(board_name)
    heap = board.heap if heap is None else boards.parse_size(heap)
    top = board.emulator.get("heap_max")
    if heap < HEAP_MIN or (top and heap > top):
        raise EmulatorError("heap %d bytes: the %s board takes %d to %s bytes" % (heap, board_name, HEAP_MIN, top or "any"))
    with _locked(board_name):
        return _start(board, heap, timeout)


@contextlib.contextmanager
def _locked(name):
    """One start/stop of a board at a time, across processes."""
    sd = state_dir(name)
    sd.mkdir(parents=True, exist_ok=True)
    with open(sd / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _start(board, heap, timeout):
    board_name = board.name
    st = running(board_name)
    if st:
        if st["heap"] == heap:
            return st["device"]
        _stop(board_name)
    _check_tools(board)
    ensure_firmware(board)
    sd = state_dir(board_name)
    sd.mkdir(parents=True, exist_ok=True)
    if board.emulator["kind"] == "unix":
        (sd / "fs").mkdir(exist_ok=True)
    for f in ("state.json", "tty"):
        try:
            os.unlink(sd / f)
        except FileNotFoundError:
            pass
    with open(sd / "supervisor.log", "ab") as log:
        log.write(b"\n== %s start, heap %d\n" % (time.strftime("%Y-%m-%d %H:%M:%S").encode(), heap))
        log.flush()
        p = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).resolve()), "--supervise", board_name, str(heap)],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True, cwd=str(REPO))
    deadline = time.monotonic() + timeout
    while True:
        st = running(board_name)
        if st and st["pid"] == p.pid:
            break
        if p.poll() is not None or time.monotonic() > deadline:
            if p.poll() is None:
                p.kill()
            raise EmulatorError("the %s board did not start; %s:\n%s" % (board_name, sd / "supervisor.log", _log_tail(sd)))
        time.sleep(0.02)
    try:
        wait_repl(st["device"], max(5.0, deadline - time.monotonic()), alive=lambda: p.poll() is None)
    except EmulatorError as e:
        _stop(board_name)
        raise EmulatorError("%s: %s\n%s" % (board_name, e, _log_tail(sd))) from None
    return st["device"]


def _log_tail(sd, n=3000):
    try:
        return (sd / "supervisor.log").read_text(errors="replace")[-n:]
    except OSError:
        return ""


def wait_repl(device, timeout=30.0, alive=None):
    """Waits until the board on `device` answers at its friendly REPL (Ctrl-C, Ctrl-B: banner and
    prompt); returns the banner. alive(): False when waiting is pointless (the board went)."""
    import serial
    deadline = time.monotonic() + timeout
    got = b""
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise EmulatorError("the board stopped while starting")
        try:
            s = serial.Serial(device, 115200, timeout=0.05, exclusive=True)
        except (OSError, serial.SerialException):
            time.sleep(0.1)
            continue
        try:
            while time.monotonic() < deadline and (alive is None or alive()):
                s.write(b"\r\x03\x02")
                t = time.monotonic() + 2.0
                got = b""
                while time.monotonic() < t:
                    got += s.read(256)
                    i = got.rfind(b"MicroPython")
                    if i >= 0 and got.endswith(b"information.\r\n>>> "):
                        return got[i:].split(b"\r\n")[0].decode(errors="replace")
        except (OSError, serial.SerialException):  # the pty went away
            time.sleep(0.1)
        finally:
            s.close()
    if alive is not None and not alive():
        raise EmulatorError("the board stopped while starting")
    raise EmulatorError("no MicroPython REPL answered on %s within %.0f s (last output: %r)" % (device, timeout, got[-300:]))


def stop(board_name):
    """Stops an emulated board; True if it was running."""
    _emulated(board_name)
    with _locked(board_name):
        return _stop(board_name)


def _stop(board_name):
    sd = state_dir(board_name)
    try:
        st = json.loads((sd / "state.json").read_text())
    except (OSError, ValueError):
        st = None
    was = False
    if st:
        pid = st.get("pid", -1)
        if _supervisor_alive(pid):
            was = True
            os.kill(pid, signal.SIGTERM)
            t = time.monotonic() + 5
            while _supervisor_alive(pid) and time.monotonic() < t:
                time.sleep(0.02)
            if _supervisor_alive(pid):
                os.kill(pid, signal.SIGKILL)
        child = st.get("child")
        if child:
            _kill_child(child)
    for f in ("state.json", "tty"):
        try:
            os.unlink(sd / f)
        except FileNotFoundError:
            pass
    return was


def _kill_child(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read()
    except OSError:
        return
    if b"qemu-system" in cmd or b"repl.py" in cmd:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# ---- the supervisor (a background process per board) -------------------------------------------

SOFT_RESET_MODES = {3: "raw", 4: "friendly"}  # the unix board's exit status for a soft reset


class _Supervisor:
    def __init__(self, name, heap):
        self.board = boards.load(name)
        self.heap = heap
        self.sd = state_dir(name)
        self.is_unix = self.board.emulator["kind"] == "unix"
        self.child = None
        self.ready = False  # the child printed something: it is up (and handles SIGINT)
        self.quick_exits = 0  # consecutive unexpected exits soon after a start

    def log(self, msg):
        sys.stdout.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
        sys.stdout.flush()

    def write_state(self):
        st = {"pid": os.getpid(), "child": self.child.pid if self.child else None, "device": str(self.link),
              "pty": self.pts, "heap": self.heap, "board": self.board.name, "started": self.started}
        tmp = self.sd / "state.json.tmp"
        tmp.write_text(json.dumps(st))
        os.replace(tmp, self.sd / "state.json")

    def spawn(self, mode):
        cmd, cwd = child_command(self.board, self.heap, mode)

        def pdeathsig():  # the board goes when its supervisor goes, even on SIGKILL
            try:
                import ctypes
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            except Exception:
                pass
        self.child = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT if self.is_unix else sys.stdout,
                                      preexec_fn=pdeathsig, bufsize=0)
        os.set_blocking(self.child.stdin.fileno(), False)
        os.set_blocking(self.child.stdout.fileno(), False)
        self.ready = False
        self.spawned = time.monotonic()
        self.write_state()
        self.log("started %s (pid %d): %s" % (self.board.name, self.child.pid, " ".join(cmd)))

    def stop_child(self):
        c, self.child = self.child, None
        if c is None:
            return
        if c.poll() is None:
            c.terminate()
            try:
                c.wait(3)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
        for f in (c.stdin, c.stdout):
            try:
                f.close()
            except OSError:
                pass

    def run(self):
        self.started = time.time()
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~(termios.ECHO | termios.ECHONL)
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        self.pts = os.ttyname(slave)
        self.link = self.sd / "tty"
        tmp = self.sd / "tty.tmp"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(self.pts, tmp)
        os.replace(tmp, self.link)
        os.close(slave)  # from now on, POLLHUP on the master means nobody has the device open
        os.set_blocking(master, False)

        stopping = []

        def on_signal(signum, frame):
            stopping.append(signum)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, on_signal)

        self.spawn("friendly")
        to_child = bytearray()
        to_host = bytearray()
        connected = False
        last_check = 0.0
        poller = select.poll()
        try:
            while not stopping:
                rc = self.child.poll()
                if rc is not None:
                    # drain what it printed last (e.g. "MPY: soft reboot")
                    try:
                        tail = os.read(self.child.stdout.fileno(), 65536)
                    except OSError:
                        tail = b""
                    if connected:
                        to_host += tail
                    mode = SOFT_RESET_MODES.get(rc, "friendly") if self.is_unix else "friendly"
                    if not (self.is_unix and rc in SOFT_RESET_MODES):
                        self.log("%s ended with status %s; restarting it" % (self.board.name, rc))
                        quick = time.monotonic() - self.spawned < 2.0
                        self.quick_exits = self.quick_exits + 1 if quick else 0
                        if self.quick_exits >= 5:
                            self.log("%s keeps ending right after it starts: giving up" % self.board.name)
                            break
                        time.sleep(0.2 * self.quick_exits)
                    self.stop_child()
                    to_child.clear()
                    self.spawn(mode)
                now = time.monotonic()
                if not connected and now - last_check >= 0.05:
                    last_check = now
                    p = select.poll()
                    p.register(master, select.POLLIN)
                    ev = p.poll(0)
                    if not any(e & select.POLLHUP for _, e in ev):
                        connected = True
                cin, cout = self.child.stdin.fileno(), self.child.stdout.fileno()
                poller = select.poll()
                if len(to_host) < 65536 or not connected:
                    poller.register(cout, select.POLLIN)
                if to_child:
                    poller.register(cin, select.POLLOUT)
                if connected:
                    poller.register(master, select.POLLIN | (select.POLLOUT if to_host else 0))
                events = poller.poll(50 if not connected else 500)
                for fd, ev in events:
                    if fd == master:
                        if ev & select.POLLIN:
                            try:
                                data = os.read(master, 65536)
                            except BlockingIOError:
                                data = None
                            except OSError:  # EIO: the last reader closed the device
                                data = b""
                            if data:
                                if self.is_unix and self.ready and b"\x03" in data:
                                    try:
                                        self.child.send_signal(signal.SIGINT)
                                    except OSError:
                                        pass
                                to_child += data
                            elif data == b"":
                                connected = False
                        if ev & select.POLLOUT and to_host and connected:
                            try:
                                n = os.write(master, to_host)
                                del to_host[:n]
                            except BlockingIOError:
                                pass
                            except OSError:
                                connected = False
                        if ev & (select.POLLHUP | select.POLLERR) and not ev & select.POLLIN:
                            connected = False
                        if not connected:
                            to_host.clear()
                            try:
                                termios.tcflush(master, termios.TCIOFLUSH)
                            except termios.error:
                                pass
                    elif fd == cout:
                        try:
                            data = os.read(cout, 65536)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        if data:
                            self.ready = True
                            if connected:
                                to_host += data
                    elif fd == cin:
                        try:
                            n = os.write(cin, to_child)
                            del to_child[:n]
                        except BlockingIOError:
                            pass
                        except OSError:  # the child is going; poll() sees it next round
                            to_child.clear()
        finally:
            self.stop_child()
            for f in (self.sd / "tty", self.sd / "state.json"):
                try:
                    if f.name != "tty" or os.readlink(f) == self.pts:
                        os.unlink(f)
                except OSError:
                    pass
            os.close(master)
            self.log("stopped (signal %s)" % (stopping[0] if stopping else "-"))


def _main(argv):
    if len(argv) == 3 and argv[0] == "--supervise":
        _Supervisor(argv[1], int(argv[2])).run()
        return 0
    print("usage: emulators.py --supervise BOARD HEAP_BYTES   (use `tinyml board start BOARD`)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
