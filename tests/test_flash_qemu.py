"""`make flash BOARD=esp32` against Espressif's own ESP32 ROM, run by QEMU's `-M esp32` (the
`esp32-rom` board: firmware/qemu-esp32/qemu.sh, tinyml_host/emulators/qemu_rom.py): the real esptool
writes a MicroPython-shaped image into the emulated chip's flash, the ROM checks its MD5; after a
fresh start of the chip (QEMU started again on the same flash file) esptool's verify-flash confirms
it; wrong-chip, truncated and app-only images are refused with the flash file unchanged."""

import hashlib
import os
import pathlib
import subprocess
import time

import pytest

from tinyml_host.emulators import esp_rom
from tinyml_host.emulators.esp_rom.images import partition_table

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINYML = str(ROOT / ".venv" / "bin" / "tinyml")
ESPTOOL = str(ROOT / ".venv" / "bin" / "esptool")
KB = 1024
SLOW = 600  # seconds: a deadline for a flash on a loaded machine, never a measurement


@pytest.fixture(scope="module")
def qemu():
    """QEMU with the esp32 machine: `make boards` (run by `make test`) builds it; this only asks."""
    p = subprocess.run(["bash", str(ROOT / "firmware" / "qemu-esp32" / "qemu.sh")], capture_output=True, text=True)
    assert p.returncode == 0, "no QEMU with the esp32 machine (run `make boards`):\n" + p.stderr
    return p.stdout.strip()


@pytest.fixture
def env(tmp_path):
    """The CLI's environment: its own cache (registry of emulated boards), no default port."""
    e = dict(os.environ, TINYML_CACHE_DIR=str(tmp_path / "cache"), TINYML_CONFIG=str(tmp_path / "config.toml"))
    e.pop("TINYML_PORT", None)
    e["PATH"] = str(ROOT / ".venv" / "bin") + os.pathsep + e["PATH"]
    yield e
    subprocess.run([TINYML, "board", "stop", "esp32-rom"], env=e, capture_output=True, timeout=60)


def sh(args, env, ok=True, timeout=SLOW):
    p = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert p.returncode == 0, "%s failed (%d):\n%s\n%s" % (" ".join(args), p.returncode, p.stdout[-3000:],
                                                               p.stderr[-3000:])
    return p


def start(env, flash_file):
    device = sh([TINYML, "board", "start", "esp32-rom", "--chip", "esp32", "--flash", str(flash_file)],
                env).stdout.strip()
    assert os.path.exists(device)
    return device


def stop(env):
    sh([TINYML, "board", "stop", "esp32-rom"], env)


def qemu_processes(flash_file):
    """The command lines of running QEMUs whose flash is flash_file."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = pathlib.Path("/proc", pid, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"qemu-system-xtensa") and \
                ("file=%s,if=mtd,format=raw" % flash_file).encode() in cmd:
            found.append([c.decode() for c in cmd if c])
    return found


def image(tmp_path, name, chip="esp32", size=128 * KB, seed=1):
    data = esp_rom.build_micropython_image(chip, size, seed=seed)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def digest(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def test_make_flash_into_the_esp32_rom_then_verify_after_a_fresh_start(tmp_path, env, qemu):
    flash_file = tmp_path / "flash.bin"
    fw, data = image(tmp_path, "firmware.bin")
    fw2, data2 = image(tmp_path, "firmware-2.bin", seed=2)
    device = start(env, flash_file)
    [cmd] = qemu_processes(flash_file)  # the board is Espressif's ROM in QEMU, in download mode
    assert cmd[0] == qemu and cmd[cmd.index("-M") + 1] == "esp32"
    assert "driver=esp32.gpio,property=strap_mode,value=0x0f" in cmd
    assert flash_file.stat().st_size == 4 * 1024 * KB and flash_file.read_bytes() == b"\xff" * (4 * 1024 * KB)

    out = sh(["make", "flash", "BOARD=esp32", "PORT=" + device, "FIRMWARE=" + str(fw), "WAIT=0"], env).stdout
    padded = data + b"\xff" * (-len(data) % 4)
    assert "chip: ESP32 on %s" % device in out
    assert "verified: MD5 %s over %d bytes at 0x1000" % (hashlib.md5(padded).hexdigest(), len(padded)) in out
    assert "erasing the whole flash" in out  # a blank chip: no MicroPython on it
    assert "at 115200 baud" in out  # what this ROM takes (no stub, no CHANGE_BAUDRATE)
    assert "starting the app (a reset into flash boot)" in out  # as EN with BOOT released
    [cmd] = qemu_processes(flash_file)
    assert "driver=esp32.gpio,property=strap_mode,value=0x12" in cmd

    # asked for the stub and a fast rate: told why not, and flashed through the ROM loader at 115200
    p = sh([TINYML, "flash", "--board", "esp32", "--port", device, "--firmware", str(fw2), "--stub",
            "--baud", "921600", "--no-wait"], env)
    assert "no flasher stub on this board" in p.stdout and "115200 baud on this board, not 921600" in p.stdout
    assert "MicroPython v1.25.0 is on it" in p.stdout and "erasing" not in p.stdout
    assert "verified: MD5 %s" % hashlib.md5(data2 + b"\xff" * (-len(data2) % 4)).hexdigest() in p.stdout
    stop(env)
    assert qemu_processes(flash_file) == []
    held = flash_file.read_bytes()
    assert held[0x1000:0x1000 + len(data2)] == data2 and held[:0x1000] == b"\xff" * 0x1000

    # a fresh start of the chip on the same flash file; the real esptool's verify-flash reads it back
    device = start(env, flash_file)
    assert len(qemu_processes(flash_file)) == 1
    p = sh([ESPTOOL, "--port", device, "--before", "no-reset", "--after", "no-reset", "--no-stub",
            "verify-flash", "0x1000", str(fw2)], env)
    assert "Verification successful (digest matched)" in p.stdout, p.stdout
    p = sh([ESPTOOL, "--port", device, "--before", "no-reset", "--after", "no-reset", "--no-stub",
            "verify-flash", "0x1000", str(fw)], env, ok=False)  # the first image is no longer there
    assert p.returncode != 0 and "Verification failed" in p.stdout + p.stderr


def test_refusals_write_nothing(tmp_path, env, qemu):
    flash_file = tmp_path / "flash.bin"
    device = start(env, flash_file)
    before = digest(flash_file)
    whole, data = image(tmp_path, "firmware.bin")
    c3, _ = image(tmp_path, "esp32c3.bin", chip="esp32c3")
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(data[:len(data) * 2 // 3])
    app_only = tmp_path / "micropython.bin"
    app_only.write_bytes(data[0x10000 - 0x1000:])

    def refused(board, fw, port=device):
        p = sh(["make", "flash", "BOARD=" + board, "FIRMWARE=" + str(fw), "WAIT=0"] + (["PORT=" + port] if port else []),
               env, ok=False)
        assert p.returncode != 0
        return p.stdout + p.stderr

    err = refused("esp32", c3, port=None)  # no PORT: the running board is found; it looks at the chip, refuses
    assert "port %s: emulated ESP32 ROM bootloader (Espressif's ROM in QEMU)" % device in err
    assert "built for ESP32-C3" in err and "is an ESP32" in err and "Nothing was written" in err
    err = refused("esp32c3", whole)  # an ESP32 image, BOARD says C3, the chip says ESP32
    assert "BOARD says ESP32-C3, but the board on %s is an ESP32" % device in err
    assert "truncated" in refused("esp32", truncated)
    assert "application image alone" in refused("esp32", app_only)
    stop(env)
    assert digest(flash_file) == before  # 0 bytes written
    assert flash_file.read_bytes() == b"\xff" * (4 * 1024 * KB)


def test_flash_then_boot_from_flash(tmp_path, env, qemu, monkeypatch):
    """The ROM loads what `make flash` wrote: a small program in the bootloader's place (0x1000,
    firmware/qemu-esp32/flash_boot) that names the app it finds at 0x10000, read from the flash."""
    import serial
    boot = pathlib.Path(sh(["bash", str(ROOT / "firmware" / "qemu-esp32" / "flash_boot" / "build.sh")],
                           env).stdout.strip()).read_bytes()
    app = esp_rom.build_micropython_image("esp32", 128 * KB, version="v1.25.0-flash-boot")[0x10000 - 0x1000:]
    fw = tmp_path / "firmware.bin"
    fw.write_bytes((boot.ljust(0x8000 - 0x1000, b"\xff") + partition_table()).ljust(0x10000 - 0x1000, b"\xff") + app)
    flash_file = tmp_path / "flash.bin"
    device = start(env, flash_file)
    out = sh(["make", "flash", "BOARD=esp32", "PORT=" + device, "FIRMWARE=" + str(fw), "WAIT=0"], env).stdout
    assert "verified: MD5" in out and "starting the app (a reset into flash boot)" in out
    # a serial monitor on the port, then EN pressed (BOOT released): the ROM boots from the flash
    with serial.Serial(device, 115200, timeout=0.2) as port:
        monkeypatch.setenv("TINYML_CACHE_DIR", env["TINYML_CACHE_DIR"])  # the registry the CLI's board is in
        assert esp_rom.control(device, "buttons run", timeout=SLOW) == "ok flash"
        seen = b""
        deadline = time.monotonic() + SLOW
        while b"app at 0x10000: " not in seen or not seen.endswith(b"\r\n"):
            assert time.monotonic() < deadline, seen
            seen += port.read(256)
    text = seen.decode(errors="replace")
    assert "boot:0x12 (SPI_FAST_FLASH_BOOT)" in text and "entry 0x40080" in text  # the ROM's own words
    assert "tinyml flash boot: started by the ESP32 ROM from flash at 0x1000" in text
    assert "app at 0x10000: micropython v1.25.0-flash-boot\r\n" in text
