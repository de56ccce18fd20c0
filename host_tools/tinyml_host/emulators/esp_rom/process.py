"""Running it by hand: start_rom() (and registry.stop_rom(): `tinyml board start|stop esp32-rom`), each
emulator in a background process of its own (`python -m tinyml_host.emulators.esp_rom`, main() here)."""

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import tinyml_host
from tinyml_host.emulators.esp_rom.chips import CHIPS, find_chip
from tinyml_host.emulators.esp_rom.emulator import DEAD, EmulatedRom
from tinyml_host.emulators.esp_rom.flash_file import MB
from tinyml_host.emulators.esp_rom.registry import flash_file_path, registry_dir, running_emulators


def start_rom(chip="esp32", flash_path=None, *, pace=True, max_baud=None, auto_reset=True, timeout=10.0):
    """Starts an emulated ROM bootloader in a background process, or reuses the one already running
    on the same flash file; returns its serial device. The flash persists in flash_path (default:
    <cache>/esp-rom/<chip>-flash.bin)."""
    find_chip(chip)
    flash_path = str(flash_file_path(chip, flash_path))
    for entry in running_emulators():
        if entry["flash"] == flash_path and entry["chip"] == chip and entry["pid"] != os.getpid():
            return entry["device"]
    cmd = [sys.executable, "-m", "tinyml_host.emulators.esp_rom", "--chip", chip, "--flash", flash_path]
    cmd += [] if pace else ["--no-pace"]
    cmd += ["--max-baud", str(max_baud)] if max_baud else []
    cmd += [] if auto_reset else ["--no-auto-reset"]
    env = dict(os.environ)
    here = str(pathlib.Path(tinyml_host.__file__).resolve().parents[1])  # host_tools/
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log = registry_dir() / ("%s.log" % chip)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in running_emulators():
            if entry["pid"] == proc.pid:
                return entry["device"]
        if proc.poll() is not None:
            raise RuntimeError("the emulated ROM exited at start (exit %s); see %s" % (proc.returncode, log))
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("the emulated ROM did not start within %.0f s; see %s" % (timeout, log))


def start_board(chip="esp32", flash_path=None, emulator=None):
    """The `esp32-rom` board (`tinyml board start esp32-rom`): Espressif's ROM in QEMU for a chip
    that has a QEMU machine (esp32), else this package's ROM emulation (esp32c3); emulator "qemu"
    or "python" chooses. Returns its serial device."""
    from tinyml_host.emulators import qemu_rom
    emulator = emulator or ("qemu" if qemu_rom.has_machine(chip) else "python")
    if emulator == "qemu":
        return qemu_rom.start(chip, flash_path)
    return start_rom(chip, flash_path)


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m tinyml_host.emulators.esp_rom",
                                description="An emulated ESP32 ROM serial bootloader on a pty.")
    p.add_argument("--chip", default="esp32", choices=sorted(CHIPS))
    p.add_argument("--flash", help="flash file (default: <cache>/esp-rom/<chip>-flash.bin)")
    p.add_argument("--flash-size", default="4MB", help="size of a new flash file (default 4MB)")
    p.add_argument("--no-pace", dest="pace", action="store_false", help="do not pace bytes at the baud rate")
    p.add_argument("--max-baud", type=int, help="above this rate the line garbles")
    p.add_argument("--no-auto-reset", dest="auto_reset", action="store_false",
                   help="a board whose DTR/RTS do not reach EN/BOOT")
    p.add_argument("--boot", choices=("download", "flash"), default="download")
    a = p.parse_args(argv)
    size = int(a.flash_size.upper().rstrip("B").rstrip("M")) * MB
    rom = EmulatedRom(a.chip, a.flash and os.path.abspath(a.flash), flash_size=size, pace=a.pace, max_baud=a.max_baud,
                      auto_reset=a.auto_reset, boot=a.boot)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with rom:
        print("emulated %s ROM bootloader on %s (flash %s)" % (rom.chip.name, rom.device, rom.flash.path), flush=True)
        while not done.is_set() and rom.state != DEAD:
            done.wait(0.2)
    return 0
