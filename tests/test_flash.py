"""Flashing MicroPython onto ESP32 boards: the real esptool, driven by tinyml_host.flash.esp, against the
emulated ROM serial bootloader (tinyml_host.emulators.esp_rom) on a pty; port detection and errors.
The firmware cache and `make firmware`: test_flash_firmware.py; Espressif's ROM in QEMU: test_flash_qemu.py."""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from serial.tools import list_ports_common

from tinyml_host.apps.flash_bench import bench_flash
from tinyml_host.cli import main as cli
from tinyml_host.emulators import esp_rom
from tinyml_host.flash import esp as flash
from tinyml_host.board import ports
from esptool import cmds
from esptool.targets import CHIP_DEFS
from esptool.util import FatalError

ROOT = pathlib.Path(__file__).resolve().parents[1]
KB = 1024
WRITES = {"FLASH_BEGIN", "FLASH_DEFL_BEGIN", "FLASH_DATA", "FLASH_DEFL_DATA"}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No user cache, config or default port leaks in; emulators register under tmp_path."""
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TINYML_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("TINYML_PORT", raising=False)
    monkeypatch.delenv("TINYML_FIRMWARE_URL", raising=False)
    yield


_images = {}


def image(chip="esp32", size=200 * KB, **kw):
    key = (chip, size, tuple(sorted(kw.items())))
    if key not in _images:
        _images[key] = esp_rom.build_micropython_image(chip, size, **kw)
    return _images[key]


def firmware_file(tmp_path, chip="esp32", size=200 * KB, name=None, **kw):
    path = tmp_path / (name or "%s-firmware.bin" % chip)
    path.write_bytes(image(chip, size, **kw))
    return str(path)


def digest(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def run(*args, **kw):
    kw.setdefault("quiet_esptool", True)
    kw.setdefault("hooks", esp_rom.flash_hooks())  # as the CLI hands them down
    kw.setdefault("say", lambda m: None)
    return flash.flash(*args, **kw)


# ------------------------------------------------------------------------------------------------
# End to end: esptool writes the image, the bytes stand in the emulated flash, verified, booted

@pytest.mark.parametrize("chip,compress", [("esp32", True), ("esp32", False), ("esp32c3", True), ("esp32c3", False)])
def test_flash_end_to_end(tmp_path, chip, compress):
    fw = firmware_file(tmp_path, chip)
    data = image(chip)
    with esp_rom.EmulatedRom(chip, tmp_path / "flash.bin", pace=False) as rom:
        r = run(chip, rom.device, fw, compress=compress)
        offset = CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET
        assert r.offset == offset == {"esp32": 0x1000, "esp32c3": 0x0}[chip]
        assert rom.flash.read(offset, len(data)) == data
        assert r.md5 == hashlib.md5(data + b"\xff" * (-len(data) % 4)).hexdigest() == rom.flash.md5(offset, len(data))
        assert r.erased  # a blank board has no MicroPython: erased first
        assert rom.flash.read(0x300000, 16) == b"\xff" * 16
        assert r.version == "1.25.0" and r.mpy_abi == "6.3"
        assert r.mpy_arch == {"esp32": "xtensawin", "esp32c3": "rv32imc"}[chip]
        assert r.banner.startswith("MicroPython v1.25.0 on 2025-04-15; ")
        assert rom.state == esp_rom.APP
        seen = set(rom.commands)
        assert {"SYNC", "READ_REG", "WRITE_REG", "GET_SECURITY_INFO", "SPI_ATTACH", "SPI_SET_PARAMS",
                "CHANGE_BAUDRATE", "READ_FLASH_SLOW", "SPI_FLASH_MD5", "FLASH_END"} <= seen
        assert (({"FLASH_DEFL_BEGIN", "FLASH_DEFL_DATA"} if compress else {"FLASH_DATA"}) <= seen)
        assert not {"MEM_BEGIN", "MEM_DATA", "MEM_END"} & seen  # no stub uploaded
        # a second flash finds MicroPython there and does not erase
        r2 = run(chip, rom.device, fw)
        assert not r2.erased and r2.md5 == r.md5


def test_stub_refused_falls_back_to_the_rom_loader(tmp_path):
    """The emulated ROM refuses RAM downloads (no CPU to run esptool's stub): --stub still flashes."""
    said = []
    with esp_rom.EmulatedRom("esp32c3", tmp_path / "flash.bin", pace=False) as rom:
        r = flash.flash("esp32c3", rom.device, firmware_file(tmp_path, "esp32c3"), stub=True, quiet_esptool=True,
                        hooks=esp_rom.flash_hooks(),
                        say=said.append)
        assert "MEM_BEGIN" in rom.commands and rom.flash.read(0, r.size) == image("esp32c3")
    assert any("stub did not start" in s and "ROM bootloader" in s for s in said), said


def test_offsets_come_from_esptool(tmp_path):
    """0x1000 on ESP32 and S2, 0x0 on S3, C3, C6: the images say so, and esptool's chip data agree."""
    expected = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0, "esp32c6": 0x0}
    for chip, offset in expected.items():
        info = flash.inspect_firmware(image(chip, 96 * KB), chip)
        assert info.chip == chip
        assert info.bootloader_offset == CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET == offset
        assert info.app_offset == 0x10000 and info.project == "micropython" and info.version == "v1.25.0"


# ------------------------------------------------------------------------------------------------
# Refusals before anything is written

def _refused(tmp_path, fw, board="esp32", chip="esp32"):
    flash_file = tmp_path / "flash.bin"
    with esp_rom.EmulatedRom(chip, flash_file, pace=False) as rom:
        before = digest(flash_file)
        with pytest.raises(flash.FlashError) as e:
            run(board, rom.device, fw)
        assert not WRITES & set(rom.commands), rom.commands
    assert digest(flash_file) == before
    return str(e.value), rom.commands


def test_refuses_image_for_another_chip(tmp_path):
    msg, commands = _refused(tmp_path, firmware_file(tmp_path, "esp32c3"))
    assert "built for ESP32-C3" in msg and "is an ESP32" in msg and "Nothing was written" in msg
    assert "SYNC" in commands  # it did look at the chip


def test_refuses_truncated_image(tmp_path):
    data = image("esp32")
    fw = tmp_path / "truncated.bin"
    fw.write_bytes(data[:len(data) * 2 // 3])
    msg, commands = _refused(tmp_path, str(fw))
    assert "truncated" in msg and commands == []


def test_refuses_a_file_that_is_no_image(tmp_path):
    fw = tmp_path / "model.tml"
    fw.write_bytes(b"TML1" + bytes(5000))
    msg, commands = _refused(tmp_path, str(fw))
    assert "not an ESP32 firmware image" in msg and "0xE9" in msg and commands == []
    app_only = tmp_path / "micropython.bin"
    app_only.write_bytes(image("esp32")[0x10000 - 0x1000:])
    msg, _ = _refused(tmp_path, str(app_only))
    assert "application image alone" in msg


def test_corrupted_image_refused():
    data = bytearray(image("esp32"))
    data[0x20000] ^= 0xFF  # inside the app
    with pytest.raises(flash.FirmwareRefused, match="damaged"):
        flash.inspect_firmware(bytes(data))


def with_table(tmp_path, rows, name="table.bin", md5=True):
    """The test firmware with its partition table replaced by these (type, subtype, offset, size, label)
    rows, and an MD5 row computed here as gen_esp32part.py does."""
    import struct
    table = b"".join(struct.pack("<HBBII16sI", 0x50AA, t, s, o, n, label.ljust(16, b"\0"), 0)
                     for t, s, o, n, label in rows)
    if md5:
        table += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(table).digest()
    data = bytearray(image("esp32"))
    data[0x7000:0x7C00] = table.ljust(0xC00, b"\xff")
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


NVS, PHY = (1, 0x02, 0x9000, 0x6000, b"nvs"), (1, 0x01, 0xF000, 0x1000, b"phy_init")


def test_partition_table_md5_mismatch_refused_before_any_write(tmp_path):
    for at in (0x7028, 0x702C):  # phy_init's size (as in the issue), then a byte of its label alone
        data = bytearray(image("esp32"))
        data[at] ^= 0x01
        fw = tmp_path / ("md5-%x.bin" % at)
        fw.write_bytes(bytes(data))
        msg, commands = _refused(tmp_path, str(fw))
        assert "partition table's MD5 row (at 0x8080) does not match" in msg, msg
        assert "Partition table MD5 mismatch" in msg and "Nothing was written" in msg and "fix: " in msg
        assert commands == []  # refused before the port was opened
    with pytest.raises(flash.FirmwareRefused, match="MD5 row"):
        flash.inspect_firmware(bytes(data))
    assert flash.inspect_firmware(image("esp32")).app_offset == 0x10000  # the unchanged table passes


def test_overlapping_partitions_refused(tmp_path):
    fw = with_table(tmp_path, [NVS, PHY, (0, 0, 0x10000, 0x1F0000, b"factory"), (1, 0x81, 0x180000, 0x200000, b"vfs")])
    msg, commands = _refused(tmp_path, fw)
    assert ('app partition "factory" (0x10000..0x200000) and data partition "vfs" (0x180000..0x380000) overlap'
            in msg), msg
    assert "separate ranges in partitions.csv" in msg and commands == []
    fw = with_table(tmp_path, [(1, 0x02, 0x7000, 0x6000, b"nvs"), PHY, (0, 0, 0x10000, 0x1F0000, b"factory")])
    msg, _ = _refused(tmp_path, fw)
    assert 'data partition "nvs" (0x7000..0xd000) starts below 0x9000' in msg, msg


def test_partition_beyond_the_boards_flash_refused_before_any_write(tmp_path):
    fw = with_table(tmp_path, [NVS, PHY, (0, 0, 0x10000, 0x1F0000, b"factory"), (1, 0x81, 0x200000, 0x600000, b"vfs")])
    assert flash.inspect_firmware(pathlib.Path(fw).read_bytes())  # fine on an 8 MB board: the file alone is no fault
    msg, commands = _refused(tmp_path, fw)  # the emulated board has 4 MB
    assert 'data partition "vfs" (0x200000..0x800000) ends beyond the board\'s 4 MB of flash (0x400000)' in msg, msg
    assert "built for 4 MB of flash" in msg and "Nothing was written" in msg
    assert "SYNC" in commands and not {"ERASE_FLASH", "ERASE_REGION"} & set(commands)  # it asked the chip, erased nothing


def test_app_partition_too_small_for_the_app_refused(tmp_path):
    fw = with_table(tmp_path, [NVS, PHY, (0, 0, 0x10000, 0x20000, b"factory"), (1, 0x81, 0x30000, 0x200000, b"vfs")])
    msg, commands = _refused(tmp_path, fw)
    app = len(image("esp32")) - 0xF000
    assert 'its app (%d bytes) does not fit its app partition "factory" (0x10000..0x30000) (131072 bytes)' % app in msg
    assert "make the app partition at least %d bytes" % app in msg and commands == []


def test_cli_names_a_bad_partition_table(tmp_path, capsys):
    data = bytearray(image("esp32"))
    data[0x7028] ^= 0x01
    fw = tmp_path / "bad.bin"
    fw.write_bytes(bytes(data))
    flash_file = tmp_path / "flash.bin"
    with esp_rom.EmulatedRom("esp32", flash_file, pace=False) as rom:
        before = digest(flash_file)
        assert cli.main(["flash", "--port", rom.device, "--firmware", str(fw)]) == 2
        assert rom.commands == []
    assert digest(flash_file) == before
    err = capsys.readouterr().err
    assert "tinyml: error: refusing to flash" in err and "MD5 row" in err and "fix: " in err, err


# ------------------------------------------------------------------------------------------------
# The link

def test_link_drop_mid_write_then_second_run_completes(tmp_path):
    fw = firmware_file(tmp_path, "esp32", 300 * KB)
    data = image("esp32", 300 * KB)
    flash_file = tmp_path / "flash.bin"
    with esp_rom.EmulatedRom("esp32", flash_file, pace=False, drop_after_blocks=30, drop_mode="close") as rom:
        device = rom.device
        with pytest.raises(flash.LinkDropped) as e:
            run("esp32", device, fw)
    msg = str(e.value)
    assert "interrupted after 30 of" in msg and "dropped" in msg and "partial image" in msg
    assert "run the same command again" in msg
    with esp_rom.EmulatedRom("esp32", flash_file, pace=False, boot="flash") as rom:
        assert rom.state == esp_rom.HALTED  # the partial image does not boot
        r = run("esp32", rom.device, fw)  # plugged back in (a new device node), run again
        assert rom.flash.read(0x1000, len(data)) == data and r.mpy_abi == "6.3"


def test_link_drop_while_another_program_takes_the_device_name(tmp_path, monkeypatch):
    """A busy machine reuses a pty's number as soon as it is free: here another program takes it the
    moment esptool's port is closed after the drop. The drop is told from the port we held (it hung
    up), not from whether a device of that name exists, so no retry goes to someone else's port."""
    import serial
    fw = firmware_file(tmp_path, "esp32", 300 * KB)
    taken = []
    close = serial.Serial.close

    def close_then_taken(port):
        close(port)
        if rom.state == esp_rom.DEAD:
            while not os.path.exists(rom.device) and len(taken) < 16:  # the lowest free number: at once
                taken.append(os.openpty())
    monkeypatch.setattr(serial.Serial, "close", close_then_taken)
    try:
        with esp_rom.EmulatedRom("esp32", tmp_path / "flash.bin", pace=False, drop_after_blocks=30,
                                 drop_mode="close") as rom:
            with pytest.raises(flash.LinkDropped) as e:
                run("esp32", rom.device, fw)
        assert "dropped" in str(e.value) and "interrupted after 30 of" in str(e.value)
    finally:
        for fds in taken:
            for fd in fds:
                os.close(fd)


def test_chip_hanging_mid_write_is_reported(tmp_path):
    fw = firmware_file(tmp_path, "esp32c3")
    with esp_rom.EmulatedRom("esp32c3", tmp_path / "flash.bin", pace=False, drop_after_blocks=5,
                             drop_mode="silent") as rom:
        with pytest.raises(flash.LinkDropped) as e:
            run("esp32c3", rom.device, fw, baud=115200)
        assert "stopped answering" in str(e.value) and "partial image" in str(e.value)
        r = run("esp32c3", rom.device, fw)  # the next run resets it and completes
        assert rom.flash.read(0, len(image("esp32c3"))) == image("esp32c3") and r.version == "1.25.0"


def test_fast_baud_failure_retries_at_115200(tmp_path):
    fw = firmware_file(tmp_path, "esp32")
    said = []
    with esp_rom.EmulatedRom("esp32", tmp_path / "flash.bin", pace=False, max_baud=230400) as rom:
        r = flash.flash("esp32", rom.device, fw, baud=460800, quiet_esptool=True, say=said.append,
                        hooks=esp_rom.flash_hooks())
        assert r.baud == 115200 and rom.flash.read(0x1000, len(image("esp32"))) == image("esp32")
    assert any("460800 baud failed" in s and "again at 115200" in s for s in said), said


def test_pacing_follows_the_baud_rate(tmp_path):
    """The emulator paces bytes at the line rate: the bench's figures track the baud rate."""
    lines = []
    rows = bench_flash(size=80 * KB, bauds=(230400, 921600), out=lines.append)
    times = {(baud, compress): (wire, write) for baud, compress, wire, write, _ in rows}
    for (baud, compress), (wire, write) in times.items():
        assert write >= wire * 10 / baud  # never faster than the wire
        assert write < wire * 10 / baud * 2.5 + 1.0  # plus esptool's own per-block work
    assert times[(230400, False)][1] > 2 * times[(921600, False)][1]
    assert times[(230400, True)][1] < times[(230400, False)][1]
    assert "compressed" in "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Port and board errors: cause and fix

def test_board_not_in_bootloader(tmp_path):
    fw = firmware_file(tmp_path, "esp32")
    with esp_rom.EmulatedRom("esp32", tmp_path / "flash.bin", pace=False, auto_reset=False, boot="flash") as rom:
        assert rom.state == esp_rom.HALTED  # blank flash: "invalid header"
        with pytest.raises(flash.NotInBootloader) as e:
            run("esp32", rom.device, fw)
        msg = str(e.value)
        assert "not in its bootloader" in msg and "hold the BOOT" in msg and "press and release EN" in msg
        assert not WRITES & set(rom.commands)
        rom.press_buttons(download=True)  # what the message says to do
        assert run("esp32", rom.device, fw).version == "1.25.0"
        # MicroPython runs now; the ESP32's MicroPython has no machine.bootloader()
        with pytest.raises(flash.NotInBootloader, match="MicroPython runs there"):
            run("esp32", rom.device, fw)


def test_micropython_c3_enters_its_bootloader_by_itself(tmp_path):
    fw = firmware_file(tmp_path, "esp32c3")
    said = []
    with esp_rom.EmulatedRom("esp32c3", tmp_path / "flash.bin", pace=False) as rom:
        run("esp32c3", rom.device, fw)
        rom.auto_reset = False  # no DTR/RTS path now: only machine.bootloader() can do it
        r = flash.flash("esp32c3", rom.device, fw, quiet_esptool=True, say=said.append,
                        hooks=esp_rom.flash_hooks())
        assert r.version == "1.25.0"
    assert any("machine.bootloader()" in s for s in said)


def test_no_port(tmp_path, monkeypatch):
    fw = firmware_file(tmp_path, "esp32")
    with pytest.raises(ports.PortError) as e:
        run("esp32", "/dev/ttyUSB_tinyml_nothing", fw)
    assert "no serial device /dev/ttyUSB_tinyml_nothing" in str(e.value) and "data USB cable" in str(e.value)
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [])
    with pytest.raises(ports.PortError) as e:
        run("esp32", None, fw)
    assert "no ESP32 board found" in str(e.value) and "PORT=" in str(e.value)


def test_port_busy(tmp_path):
    fw = firmware_file(tmp_path, "esp32")
    with esp_rom.EmulatedRom("esp32", tmp_path / "flash.bin", pace=False) as rom:
        holder = subprocess.Popen([sys.executable, "-c", "import serial, sys, time; s = serial.Serial(sys.argv[1], "
                                   "exclusive=True); print('held', flush=True); time.sleep(60)", rom.device],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(ports.PortError) as e:
                run("esp32", rom.device, fw)
            msg = str(e.value)
            assert "is busy" in msg and "pid %d" % holder.pid in msg and "close that program" in msg
            with pytest.raises(ports.PortError) as e:  # the lock itself, as esptool would meet it
                ports.open_serial(rom.device)
            assert "is busy" in str(e.value) and "pid %d" % holder.pid in str(e.value)
            assert not WRITES & set(rom.commands)
        finally:
            holder.kill()
            holder.wait()


def test_permission_denied(tmp_path):
    with esp_rom.EmulatedRom("esp32", tmp_path / "flash.bin", pace=False) as rom:
        if os.geteuid() != 0:
            os.chmod(rom.device, 0)
            with pytest.raises(ports.PortError) as e:
                ports.open_serial(rom.device)
            msg = str(e.value)
        else:  # root opens anything: ask as nobody, who is not in the pty's group
            if not shutil.which("setpriv"):
                pytest.skip("running as root without setpriv")
            code = ("import sys; sys.path.insert(0, %r)\nfrom tinyml_host.board import ports\ntry:\n"
                    "    ports.open_serial(%r)\nexcept ports.PortError as e:\n    print(e)\n"
                    % (str(ROOT / "host_tools"), rom.device))
            msg = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                  sys.executable, "-c", code], capture_output=True, text=True,
                                 env=dict(os.environ, HOME="/tmp")).stdout
    assert "permission denied opening %s" % rom.device in msg
    assert "usermod -aG" in msg and "log out and back in" in msg


# ------------------------------------------------------------------------------------------------
# Port selection

def _fake_port(device, vid, pid, product=""):
    p = list_ports_common.ListPortInfo(device, skip_link_detection=True)
    p.vid, p.pid, p.product = vid, pid, product
    return p


def test_port_detection_by_usb_ids(monkeypatch, tmp_path):
    fakes = [_fake_port("/dev/ttyS0", None, None), _fake_port("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102N"),
             _fake_port("/dev/ttyACM3", 0x2E8A, 0x0005, "Pico")]
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: fakes)
    assert ports.resolve_port(say=lambda m: None) == "/dev/ttyUSB0"
    fakes.append(_fake_port("/dev/ttyACM0", 0x303A, 0x1001, "USB JTAG/serial debug unit"))
    fakes.append(_fake_port("/dev/ttyUSB1", 0x1A86, 0x55D4, "USB Single Serial"))
    with pytest.raises(ports.PortError) as e:
        ports.resolve_port(interactive=False, say=lambda m: None)
    msg = str(e.value)
    assert "/dev/ttyUSB0" in msg and "/dev/ttyACM0" in msg and "/dev/ttyUSB1" in msg and "/dev/ttyS0" not in msg
    assert "Espressif USB-Serial/JTAG" in msg and "WCH CH9102" in msg
    monkeypatch.setattr("builtins.input", lambda prompt: "1")
    assert ports.resolve_port(interactive=True, say=lambda m: None) == "/dev/ttyACM0"
    # a default from the config file, then TINYML_PORT over it, then PORT over both
    (tmp_path / "config.toml").write_text('port = "/dev/ttyUSB1"\n')
    assert ports.resolve_port(say=lambda m: None) == "/dev/ttyUSB1"
    monkeypatch.setenv("TINYML_PORT", "/dev/ttyUSB0")
    assert ports.resolve_port(say=lambda m: None) == "/dev/ttyUSB0"
    assert ports.resolve_port("/dev/ttyACM0", say=lambda m: None) == "/dev/ttyACM0"


def test_running_emulator_is_a_candidate(monkeypatch, tmp_path):
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [])
    with esp_rom.EmulatedRom("esp32c3", tmp_path / "flash.bin", pace=False) as rom:
        assert ports.candidates() == []  # the real discovery knows no emulator...
        found = ports.candidates(extra=esp_rom.port_candidates())  # ...the CLI hands them down
        assert [c.device for c in found] == [rom.device] and found[0].emulated
        r = run("esp32c3", None, firmware_file(tmp_path, "esp32c3"))
        assert r.port == rom.device and r.version == "1.25.0"


# ------------------------------------------------------------------------------------------------
# The emulated ROM by hand, and the CLI

def test_start_rom_stop_rom(tmp_path):
    device = esp_rom.start_rom("esp32", tmp_path / "flash.bin", pace=False)
    try:
        assert os.path.exists(device)
        assert esp_rom.start_rom("esp32", tmp_path / "flash.bin") == device  # reused, not a second one
        entry = esp_rom.find_emulator(device)
        assert entry["chip"] == "esp32" and entry["pid"] != os.getpid()
        # another process's emulator: reset through its control socket, flash, boot
        r = run("esp32", device, firmware_file(tmp_path, "esp32"))
        assert r.banner and r.mpy_arch == "xtensawin"
    finally:
        assert esp_rom.stop_rom() == [device]
    assert not os.path.exists(device) and esp_rom.find_emulator(device) is None


def test_cli_flash(tmp_path, capsys):
    fw = firmware_file(tmp_path, "esp32c3")
    with esp_rom.EmulatedRom("esp32c3", tmp_path / "flash.bin", pace=False) as rom:
        assert cli.main(["flash", "--board", "esp32c3", "--port", rom.device, "--firmware", fw]) == 0
        out = capsys.readouterr().out
        assert "MicroPython v1.25.0" in out and ".mpy ABI 6.3" in out and "verified: MD5" in out
        assert cli.main(["flash", "--board", "esp32", "--port", rom.device, "--firmware", fw]) == 2
    assert "BOARD says ESP32, but the board on %s is an ESP32-C3" % rom.device in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# The emulator's protocol, seen from esptool's side

def test_rom_protocol_details(tmp_path):
    with esp_rom.EmulatedRom("esp32", tmp_path / "flash.bin", pace=False) as rom:
        rom.flash.program(0x2000, bytes(range(200)))
        esp = cmds.detect_chip(rom.device, 115200, "no-reset", connect_attempts=2)
        try:
            assert esp.CHIP_NAME == "ESP32" and esp.get_chip_description() == "ESP32-D0WD-V3 (revision v3.0)"
            assert esp.read_mac() == (0x24, 0x0A, 0xC4, 0x12, 0x34, 0x56)
            cmds.attach_flash(esp)
            assert cmds.detect_flash_size(esp) == "4MB"
            assert esp.read_flash(0x2000, 200) == bytes(range(200))  # READ_FLASH_SLOW, 64 bytes a command
            with pytest.raises(FatalError, match="0106|0105"):  # FLASH_DATA without FLASH_BEGIN
                esp.flash_block(b"\0" * 1024, 0)
            esp.flash_begin(1024, 0x10000)
            with pytest.raises(FatalError, match="Checksum error"):
                esp.check_command("write", 0x03, (1024).to_bytes(4, "little") + bytes(12) + b"\x01" * 1024, chk=0)
            with pytest.raises(FatalError, match="Flash read length error"):
                esp.check_command("read", 0x0E, (0).to_bytes(4, "little") + (65).to_bytes(4, "little"),
                                  resp_data_len=64)
            with pytest.raises(FatalError, match="0105"):  # RAM download: refused, there is no CPU
                esp.mem_begin(16, 1, 16, 0x3FFB0000)
            # the host changing its rate without telling the ROM: the line garbles
            esp._port.baudrate = 230400
            with pytest.raises(FatalError):
                esp.read_reg(0x40001000)
        finally:
            esp._port.close()


def test_slip_round_trip():
    payload = bytes([0xC0, 0xDB, 0xDC, 0xDD, 0x00, 0xDB, 0xC0])
    d = esp_rom.SlipDecoder()
    framed = esp_rom.slip_encode(payload)
    assert d.feed(b"noise" + framed[:3]) == [] and d.feed(framed[3:] + framed) == [payload, payload]
