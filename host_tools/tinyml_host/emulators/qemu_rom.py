"""The ESP32 with Espressif's own ROM, in QEMU (`-M esp32`): the `esp32-rom` board for chips that
have a QEMU machine. The real ROM bootloader answers the real esptool; the flash is a file.

    device = start("esp32", "flash.bin")   # what `tinyml board start esp32-rom --chip esp32` calls
    stop(device)                           # (esp_rom.stop_rom() stops it too: same registry)

The board is a small supervisor process (main() here) that owns a pty (the board's USB serial
bridge, stable while the board runs) and relays it to QEMU's UART0 (QEMU's stdio), so QEMU can be
restarted behind it: a restart is the chip's reset, with the strapping pins read again. It registers
in the esp_rom registry with a control socket that stands for the auto-reset circuit (DTR/RTS) and
the BOOT and EN buttons: "auto-reset download" restarts QEMU with GPIO0 low (strap_mode 0x0f: the
ROM's serial download mode: "boot:0xf (UART_BOOT(UART0))") and answers once the ROM says so;
"auto-reset run" restarts it booting from flash (strap_mode 0x12). The flash file outlives every restart (QEMU
writes it through; a stop is a clean QEMU exit).

QEMU comes from firmware/qemu-esp32/qemu.sh (one on PATH with `-M esp32`, else built into build/).
"""

import os
import pathlib
import select
import signal
import subprocess
import sys
import time
import tty

if __package__ in (None, ""):  # run as a script (the supervisor)
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from tinyml_host.emulators.esp_rom.registry import ControlSocket, flash_file_path, registry_dir, running_emulators, stop_rom
from tinyml_host.errors import BoardError

from tinyml_host.paths import REPO  # noqa: E402
QEMU_SH = REPO / "firmware" / "qemu-esp32" / "qemu.sh"
MACHINES = {"esp32": "esp32"}  # chip -> QEMU machine with the chip's ROM (esp32c3: no machine here)
STRAP = {"download": "0x0f", "flash": "0x12"}  # GPIO0 low: serial download; high: SPI flash boot
FLASH_SIZE = 4 * 1024 * 1024
# What esptool can do with the ROM in this QEMU (seen with esptool 5.6): its flasher stub uploads
# (MEM_BEGIN/DATA/END acknowledged) but never says OHAI. A baud rate change fails: esptool's ESP32
# workaround scales the rate by the ROM's crystal calibration (TIMG0 RTCCALICFG1 times the CK8M
# eFuse), which reads 0 here, so it asks for 0 baud and the ROM answers no more ("Serial data stream
# stopped"); asked for 460800 itself, the ROM does switch, but QEMU's main loop, not the rate, then
# bounds the speed. So the ROM loader at 115200 is what works; `tinyml flash` takes these from the
# board's registry entry (esp_rom hooks: Hooks.link) and says so when asked otherwise.
LINK = {"stub": False, "baud": 115200, "run": "reset",
        "why": "esptool's stub does not start on the ESP32 ROM in QEMU, nor does a baud rate change"}
# QEMU's UART takes the host's bytes one at a time, a character time apart at the programmed baud
# rate (firmware/qemu-esp32/esp32-uart-rx-one-byte-at-a-time.patch): given bursts (up to its
# 128-byte FIFO at once, as the unpatched model does), the ROM loader corrupts long packets now and
# then: FLASH_DATA answered 0x0107 (checksum) then 0x0105, about one 1 KB block in 50 with 16-byte
# bursts, one in 350 with 4-byte bursts.
READY = {"download": b"boot:0xf (", "flash": b"boot:0x12 ("}  # the ROM's first line after a reset


class QemuRomError(BoardError):
    """The ESP32 in QEMU cannot start (no QEMU with the esp32 machine, a bad flash file)."""


def has_machine(chip):
    return chip in MACHINES


_qemu = None


def qemu():
    """(qemu-system-xtensa with the esp32 machine, the ROM directory for -L); builds it if needed."""
    global _qemu
    if _qemu is None:
        out = []
        for arg in ([], ["--rom-dir"]):
            p = subprocess.run(["bash", str(QEMU_SH)] + arg, capture_output=True, text=True)
            if p.returncode != 0:
                raise QemuRomError("no QEMU with the ESP32 machine (bash firmware/qemu-esp32/qemu.sh):\n%s"
                                   % p.stderr[-3000:])
            out.append(p.stdout.strip())
        _qemu = tuple(out)
    return _qemu


def qemu_command(chip, flash, mode):
    binary, rom_dir = qemu()
    return [binary, "-M", MACHINES[chip], "-L", rom_dir, "-display", "none", "-monitor", "none",
            "-nodefaults", "-chardev", "stdio,id=uart0,signal=off", "-serial", "chardev:uart0",
            "-drive", "file=%s,if=mtd,format=raw" % flash,
            "-global", "driver=%s.gpio,property=strap_mode,value=%s" % (MACHINES[chip], STRAP[mode])]


def start(chip="esp32", flash_path=None, timeout=120.0):
    """Starts the board (or reuses the one running on the same flash file); returns its serial
    device once the ROM waits in download mode. The flash (4 MB of 0xFF when new) persists in
    flash_path (default <cache>/esp-rom/<chip>-flash.bin)."""
    if chip not in MACHINES:
        raise QemuRomError("no QEMU machine for %s (QEMU machines: %s)" % (chip, ", ".join(MACHINES)))
    flash = str(flash_file_path(chip, flash_path))
    for entry in running_emulators():
        if entry["flash"] == flash and entry["chip"] == chip:
            return entry["device"]
    qemu()  # built (or the reason why not) here, not in the background process
    log = registry_dir() / ("qemu-%s.log" % chip)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO / "host_tools") + (os.pathsep + os.environ["PYTHONPATH"]
                                                                  if os.environ.get("PYTHONPATH") else ""))
    with open(log, "ab") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "tinyml_host.emulators.qemu_rom", "--chip", chip,
                                 "--flash", flash], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in running_emulators():
            if entry["pid"] == proc.pid:
                return entry["device"]
        if proc.poll() is not None:
            raise QemuRomError("the ESP32 in QEMU did not start (exit %s); %s:\n%s"
                               % (proc.returncode, log, log.read_text(errors="replace")[-2000:]))
        time.sleep(0.05)
    proc.terminate()
    raise QemuRomError("the ESP32 in QEMU did not reach its ROM's download mode within %.0f s; see %s" % (timeout, log))


def stop(device=None):
    """Stops the board(s) (all registered ROM boards when device is None); returns the devices."""
    return stop_rom(device)


# ---- the supervisor --------------------------------------------------------------------------------

class Board:
    def __init__(self, chip, flash):
        self.chip, self.flash = chip, flash
        self.child = None
        self.mode = None
        self.seen = b""  # the UART's output since the last (re)start, up to the ready line

    def log(self, msg):
        print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)

    def power_on(self, mode):
        self.power_off()
        cmd = qemu_command(self.chip, self.flash, mode)
        self.child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stdout,
                                      bufsize=0, preexec_fn=_die_with_parent)
        os.set_blocking(self.child.stdout.fileno(), False)
        self.mode, self.seen = mode, b""
        self.log("QEMU started (pid %d, %s): %s" % (self.child.pid, mode, " ".join(cmd)))

    def power_off(self):
        c, self.child = self.child, None
        if c is None:
            return
        if c.poll() is None:
            c.terminate()  # QEMU exits cleanly on SIGTERM: the flash file is flushed
            try:
                c.wait(10)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
        for f in (c.stdin, c.stdout):
            f.close()

    def run(self, mode="download"):
        master, slave = os.openpty()
        tty.setraw(slave)
        device = os.ttyname(slave)
        self.master = master
        os.close(slave)  # from now on POLLHUP on the master: nobody has the device open
        os.set_blocking(master, False)
        stopping = []
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, lambda signum, frame: stopping.append(signum))
        self.power_on(mode)
        control = None
        try:
            while not stopping:
                if self.child.poll() is not None:
                    self.log("QEMU ended (status %s); starting it again" % self.child.returncode)
                    time.sleep(1)
                    self.power_on(self.mode)
                fds = [master, self.child.stdout] + ([control] if control else [])
                ready, _, _ = select.select(fds, [], [], 0.2)
                if self.child.stdout in ready:
                    data = os.read(self.child.stdout.fileno(), 65536)
                    if len(self.seen) < 4096:
                        self.seen += data
                    if control is None and READY[self.mode] in self.seen:
                        control = ControlSocket(device, self.chip, self.flash, True,  # registered: ready
                                                {"kind": "qemu", "link": LINK})
                        self.log("%s ROM ready on %s" % (self.chip, device))
                    _to_host(master, data)
                if master in ready:
                    try:
                        data = os.read(master, 65536)
                    except (BlockingIOError, OSError):
                        data = b""
                    if data:
                        try:
                            self.child.stdin.write(data)  # QEMU takes it a byte per character time
                        except OSError:  # QEMU ended: the loop starts it again
                            pass
                    else:
                        time.sleep(0.02)  # nobody has the device open (EIO)
                if control is not None and control in ready:
                    control.serve_one(self._request)
        finally:
            self.power_off()  # QEMU has written the flash file back before the board leaves the registry
            if control is not None:
                control.close()
            os.close(master)
            self.log("stopped")

    def _request(self, words):
        if words[:1] == ["status"]:
            return "ok " + self.mode
        if len(words) == 2 and words[0] in ("auto-reset", "buttons") and words[1] in ("download", "run"):
            mode = "download" if words[1] == "download" else "flash"
            self.power_on(mode)
            if not self._wait_ready(60.0):
                return "error: the ROM did not start in %s mode within 60 s: %r" % (mode, self.seen[-200:])
            if mode == "flash":  # booting: the host sees it all from the reset on, as on a board
                _to_host(self.master, self.seen)
            return "ok " + mode
        return "unknown request; say: status | auto-reset download|run | buttons download|run"

    def _wait_ready(self, seconds):
        """Reads QEMU's UART until the ROM's ready line (dropped: nobody listens during a reset)."""
        deadline = time.monotonic() + seconds
        while READY[self.mode] not in self.seen and time.monotonic() < deadline and self.child.poll() is None:
            if select.select([self.child.stdout], [], [], 0.2)[0]:
                self.seen += os.read(self.child.stdout.fileno(), 65536)
        return READY[self.mode] in self.seen


def _to_host(master, data):
    """Writes to the pty when someone has it open; otherwise the bytes go nowhere, as on a UART."""
    p = select.poll()
    p.register(master, select.POLLOUT)
    if any(e & select.POLLHUP for _, e in p.poll(0)):
        return
    try:
        os.write(master, data)
    except (BlockingIOError, OSError):
        pass


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def new_flash_file(path, size=FLASH_SIZE):
    path = pathlib.Path(path)
    if not path.exists() or path.stat().st_size == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff" * size)
    elif path.stat().st_size not in (2 * 1024 * 1024, 4 * 1024 * 1024, 8 * 1024 * 1024, 16 * 1024 * 1024):
        raise QemuRomError("%s: QEMU's ESP32 flash is a file of 2, 4, 8 or 16 MB, not %d bytes"
                           % (path, path.stat().st_size))


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m tinyml_host.emulators.qemu_rom",
                                description="The ESP32 with Espressif's ROM in QEMU, on a pty.")
    p.add_argument("--chip", default="esp32", choices=sorted(MACHINES))
    p.add_argument("--flash", required=True)
    p.add_argument("--boot", choices=("download", "flash"), default="download")
    a = p.parse_args(argv)
    new_flash_file(a.flash)
    Board(a.chip, os.path.abspath(a.flash)).run(a.boot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
