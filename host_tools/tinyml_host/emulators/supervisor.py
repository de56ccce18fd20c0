# Emulated boards, each running in the background behind a pseudo-terminal, so the very code that
# talks to a real board over its USB serial port (mpremote's raw REPL) talks to them:
#   start("qemu-m3") -> "/.../build/boards/qemu-m3/tty"   (a symlink to /dev/pts/N)
#   stop("qemu-m3"); status()
# A board is a small supervisor process (relay.py, run with --supervise) that owns the pty and
# relays it to the board proper: the unix port running firmware/boards/unix/repl.py, or QEMU running
# build/boards/<board>/firmware.elf with its UART on QEMU's stdio. The supervisor restarts the board
# when it ends (the unix board's soft reset; a QEMU exit), drops the board's output while no program
# has the pty open (a UART nobody listens to) and holds it back while the reader is slow, and, for the
# unix board, turns a Ctrl-C from the host into SIGINT. State in build/boards/<board>/:
#   tty (the device), state.json (pids, heap), supervisor.log, fs/ (the unix board's files), ram.bin
#   (a QEMU board's RAM with its RAM disk, when the profile gives [emulator] ram: files survive a kill).
import contextlib
import fcntl
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

from tinyml_host.board import profiles as boards
from tinyml_host.errors import TinymlError

from tinyml_host.paths import BUILD, REPO
STATE_ROOT = BUILD / "boards"  # in a checkout build/boards; installed: the user's cache
UNIX_REPL = REPO / "firmware" / "boards" / "unix" / "repl.py"
BUILD_BOARD = REPO / "firmware" / "build_board.sh"
HEAP_MIN = 16 * 1024
HEAP_MAGIC = 0x50414548  # b"HEAP" little-endian: the word before the heap size the firmware reads
APT_HINT = {"qemu-system-arm": "qemu-system-arm", "qemu-system-riscv32": "qemu-system-misc"}


class EmulatorError(TinymlError):
    pass


ICOUNT = "+icount"  # an instance of an emulated board counting instructions: its own state, its own QEMU


def instance(name, icount=False):
    """The instance of emulated board `name` to start: with icount, one that runs QEMU with -icount
    shift=0 (virtual time = executed instructions, deterministic) beside the usual one, so counting
    never restarts a board someone else is using (nor changes its heap), even a board that always counts."""
    return name + ICOUNT if icount else name


def counts_instructions(name):
    """ns of board time per instruction when this instance runs with -icount (2**shift), else None."""
    base = name[:-len(ICOUNT)] if name.endswith(ICOUNT) else name
    emu = boards.load(base).emulator or {}
    if "icount" in emu:
        return 2 ** emu["icount"]
    return 1 if name.endswith(ICOUNT) else None


def state_dir(name):
    return STATE_ROOT / name


def device_path(name):
    """The serial device of an emulated board (stable across restarts)."""
    return str(state_dir(name) / "tty")


def _emulated(name):
    board = boards.load(name[:-len(ICOUNT)] if name.endswith(ICOUNT) else name)
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
    if not BUILD_BOARD.exists():  # an installed wheel carries no firmware sources
        raise EmulatorError("the %s board's firmware is built from MicroPython's source and tinyml's board files, "
                            "which a pip installation does not carry: use a checkout of tinyml (make boards) for "
                            "the QEMU boards; installed, tinyml runs the unix board (--board unix) and real boards"
                            % board.name)
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


def child_command(board, heap, mode="friendly", icount=False):
    """The command line of the board proper (its stdin/stdout are the board's UART); icount: run
    QEMU with -icount shift=0 even when the profile does not ask for it."""
    emu = board.emulator
    if emu["kind"] == "unix":
        fs = state_dir(board.name) / "fs"
        return [_micropython(), "-X", "heapsize=%d" % heap, str(UNIX_REPL), str(fs), mode], str(fs)
    data = (heap << 32) | HEAP_MAGIC
    shift = emu["icount"] if "icount" in emu else (0 if icount else None)
    machine, ram = emu["machine"], []
    if "ram" in emu:  # the RAM (with the RAM disk) a file QEMU maps shared: what the board wrote outlives QEMU
        machine += ",memory-backend=ram"
        ram = ["-m", emu["ram"], "-object", "memory-backend-file,id=ram,size=%s,mem-path=%s,share=on"
               % (emu["ram"], ram_file(instance(board.name, icount)))]
    icount = ["-icount", "shift=%d" % shift] if shift is not None else []
    return [qemu_system(board), "-machine", machine, "-display", "none", "-monitor", "none",
            "-chardev", "stdio,id=uart0,signal=off", "-serial", "chardev:uart0",
            "-semihosting-config", "enable=on,target=native",
            "-device", "loader,addr=0x%x,data=0x%x,data-len=8" % (emu["config_addr"], data),
            "-kernel", str(firmware_path(board))] + ram + icount + list(emu.get("args", [])), str(REPO)


def ram_file(name):
    """The file holding a QEMU board's RAM (its profile's [emulator] ram): the RAM disk's files stay
    when QEMU ends (a reset, a kill, a stop), as a real board's flash keeps them; erase() empties it."""
    return state_dir(name) / "ram.bin"


def erase(board_name):
    """The emulated board's filesystem emptied (the unix board's folder, a QEMU board's RAM file):
    it starts as a new board, formatting its RAM disk. Stops the board first."""
    board = _emulated(board_name)
    for name in (board_name, instance(board_name, True)):
        with _locked(name):
            _stop(name)
            shutil.rmtree(state_dir(name) / "fs", ignore_errors=True)
            try:
                os.unlink(ram_file(name))
            except FileNotFoundError:
                pass
    return board


def start(board_name, heap=None, timeout=60, icount=False):
    """Starts an emulated board in the background (or reuses it when it runs with this heap, or with
    any heap when none is asked for: a board the user started with --heap keeps it) and returns its
    serial device, once its REPL answers. heap: bytes or "140K"; default the profile's.
    icount: the instance that counts instructions (instance()), a QEMU board only."""
    board = _emulated(board_name)
    if icount and board.emulator["kind"] != "qemu":
        raise EmulatorError("--icount counts instructions in QEMU: %s is not a QEMU board (qemu-m3, qemu-rv32, "
                            "qemu-esp32 are)" % board_name)
    board_name = instance(board_name, icount)
    asked, heap = heap is not None, board.heap if heap is None else boards.parse_size(heap)
    top = board.emulator.get("heap_max")
    if heap < HEAP_MIN or (top and heap > top):
        raise EmulatorError("heap %d bytes: the %s board takes %d to %s bytes" % (heap, board_name, HEAP_MIN, top or "any"))
    with _locked(board_name):
        return _start(board, heap, timeout, board_name, asked)


@contextlib.contextmanager
def _locked(name):
    """One start/stop of a board at a time, across processes."""
    sd = state_dir(name)
    sd.mkdir(parents=True, exist_ok=True)
    with open(sd / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _start(board, heap, timeout, board_name, asked=True):
    st = running(board_name)
    if st:
        if st["heap"] == heap or not asked:
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
        p = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).resolve().parent / "relay.py"), "--supervise",
                              board_name, str(heap)],
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
