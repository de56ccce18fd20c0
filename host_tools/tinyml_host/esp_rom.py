"""An emulated ESP32 / ESP32-C3 ROM serial bootloader on a pty, with file-backed flash.

The board without the board: a pseudo-terminal that answers like the ROM loader of an ESP32 (Xtensa)
or an ESP32-C3 (RISC-V) held in download mode, so the real esptool, driven by `tinyml flash`, can
flash, verify and reset it, and `make flash` can be rehearsed with no board attached.

    with EmulatedRom("esp32", "flash.bin") as rom:       # or start_rom("esp32", path) / stop_rom()
        print(rom.device)                                # /dev/pts/N: PORT= for esptool and tinyml

What it speaks: the ROM loader protocol esptool uses *without its stub* (we run no CPU, so there is
no stub to upload): SLIP framing; SYNC (eight replies, as the ROM sends); READ_REG / WRITE_REG over a
small register file (the chip-detect magic, eFuses for the revision and MAC, the clock calibration
esptool reads before CHANGE_BAUDRATE on the ESP32, and the SPI controller's user-command engine, so
esptool's JEDEC-ID, SFDP and status reads reach a real-looking flash chip); GET_SECURITY_INFO (how
esptool 5 tells the C3 from the others; the ESP32 ROM rejects it, as the real one does);
SPI_ATTACH; SPI_SET_PARAMS; FLASH_BEGIN / FLASH_DATA / FLASH_END and FLASH_DEFL_BEGIN / _DATA /
_END (erase on begin, NOR semantics: programming only clears bits; XOR checksum checked; zlib
stream inflated); SPI_FLASH_MD5 (32 hex digits, as the ROM answers); READ_FLASH_SLOW (64-byte
blocks); CHANGE_BAUDRATE (answered at the old rate, then switched). Replies carry the ROM's four
status bytes (status, error, 0, 0) and its error codes (0x05 invalid message, 0x06 failed to act,
0x07 checksum, 0x08 flash write, 0x0A read length, 0x0B inflate). RAM download (MEM_*) is refused:
no CPU. Only the esp32 ROM's FLASH_BEGIN takes four words; the C3's takes five.

The serial line: bytes are paced at the baud rate (8N1: ten bit times a byte) in both directions
unless pace=False; the ROM's baud is compared with the one the host set on its end of the pty (a
Linux pty master reports the slave's termios), and when they differ, or the ROM's exceeds
max_baud (a USB-serial bridge that cannot keep up), both directions turn to garbage, as on a wire.
After a reset the ROM auto-bauds on the first SYNC.

Resets: a pty has no DTR/RTS lines, so esptool's reset sequences do nothing there (it warns once).
The emulator takes resets from three places instead: (1) the protocol itself: FLASH_END /
FLASH_DEFL_END with "run user code" or "reboot" leave the loader and boot the flash, which is what
esptool's `after="soft-reset"` sends; (2) a control socket, registered beside the pty
(registry_dir()), standing for the board's auto-reset circuit (DTR/RTS) -- `tinyml flash` looks it
up by device path and uses it where it would toggle DTR/RTS -- and for its BOOT and EN buttons
(`press_buttons`), which always work, even with auto_reset=False (a board without the circuit);
(3) MicroPython's `machine.bootloader()` at the emulated REPL (C3 only: the ESP32 has no such
register, as in MicroPython itself).

Booting the flash: the ROM checks the second-stage bootloader image at the chip's bootloader offset
(magic, chip ID), the partition table at 0x8000, and the first app partition (magic, chip ID,
checksum, SHA-256): a partial write does not boot. An app whose esp_app_desc_t names "micropython"
prints the MicroPython banner, with the version and date from that descriptor, and answers a minimal
REPL (friendly and raw): `import sys`, `sys.implementation` (with `_mpy`: ABI 6.x and the chip's
arch), `sys.platform`, `os.uname()`, print(), getattr(), `machine.reset()`, Ctrl-A/B/C/D. Anything
else gets a NotImplementedError that says this is an emulated board.

Test hooks: `commands` (every command seen, by name), `drop_after_blocks` (the link drops after N
flash data blocks: "close" unplugs the device, "silent" leaves the chip hung until a reset), and
build_micropython_image(), which writes a MicroPython-like firmware image (bootloader, partition
table, app with its descriptor) through esptool's own image classes, for any chip.
"""

import ast
import dataclasses
import errno
import fcntl
import hashlib
import json
import mmap
import os
import pathlib
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import tty
import zlib

from esptool.bin_image import ELFSection, LoadFirmwareImage
from esptool.targets import CHIP_DEFS

KB = 1024
MB = 1024 * 1024
SECTOR = 0x1000
PARTITION_TABLE_OFFSET = 0x8000
APP_DESC_MAGIC = 0xABCD5432
ROM_BAUD = 115200

# ------------------------------------------------------------------------------------------------
# The protocol's numbers (esptool's docs/en/advanced-topics/serial-protocol.rst)

OPS = {
    0x02: "FLASH_BEGIN", 0x03: "FLASH_DATA", 0x04: "FLASH_END", 0x05: "MEM_BEGIN", 0x06: "MEM_END",
    0x07: "MEM_DATA", 0x08: "SYNC", 0x09: "WRITE_REG", 0x0A: "READ_REG", 0x0B: "SPI_SET_PARAMS",
    0x0D: "SPI_ATTACH", 0x0E: "READ_FLASH_SLOW", 0x0F: "CHANGE_BAUDRATE", 0x10: "FLASH_DEFL_BEGIN",
    0x11: "FLASH_DEFL_DATA", 0x12: "FLASH_DEFL_END", 0x13: "SPI_FLASH_MD5", 0x14: "GET_SECURITY_INFO",
}
SYNC_PAYLOAD = b"\x07\x07\x12\x20" + 32 * b"\x55"
# ROM error codes, sent after status byte 1
INVALID_MESSAGE, FAILED_TO_ACT, BAD_CHECKSUM, FLASH_WRITE_ERR, FLASH_READ_ERR, READ_LENGTH_ERR, INFLATE_ERR = (
    0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B)
# SPI flash commands the register engine answers
RDID, SFDP, RDSR, RDSR2, RDSR3 = 0x9F, 0x5A, 0x05, 0x35, 0x15
SPI_CMD_USR = 1 << 18
SPI_USR_ADDR = 1 << 30
SPI_USR_MISO = 1 << 28


class RomError(Exception):
    """A command the ROM answers with status 1 and this error code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


# ------------------------------------------------------------------------------------------------
# The chips

@dataclasses.dataclass(frozen=True)
class Chip:
    """What differs between the emulated ROMs. Register addresses come from esptool's chip classes
    (the same hardware facts esptool itself uses); the values are those of a common part."""
    key: str
    registers: dict            # address -> initial value (eFuses, magic, calibration)
    security_info: bytes       # GET_SECURITY_INFO payload; None: the ROM does not know the command
    flash_begin_words: int     # FLASH_BEGIN / FLASH_DEFL_BEGIN parameter words
    download_log: str          # what the ROM prints on a reset into download mode
    flash_boot_log: str        # ... and on a reset that boots the flash
    board_name: str            # MicroPython's MICROPY_HW_BOARD_NAME for the generic board
    mcu_name: str
    build: str                 # MicroPython's board (sys.implementation._build)
    mpy_arch: int              # MP_NATIVE_ARCH_* of the chip's CPU
    has_bootloader_register: bool  # machine.bootloader() exists (RTC_CNTL_FORCE_DOWNLOAD_BOOT)

    @property
    def loader(self):
        return CHIP_DEFS[self.key]

    @property
    def name(self):
        return self.loader.CHIP_NAME


def _esp32():
    L = CHIP_DEFS["esp32"]
    efuse = lambda n: L.EFUSE_RD_REG_BASE + 4 * n  # noqa: E731
    regs = {
        L.CHIP_DETECT_MAGIC_REG_ADDR: L.MAGIC_VALUE,
        efuse(1): 0xC4123456, efuse(2): 0x0000240A,  # MAC 24:0a:c4:12:34:56
        efuse(3): (1 << 9) | (1 << 15),              # package D0WD, revision bit 0
        efuse(4): 64,                                # 8 MHz clock calibration (read by change_baud)
        efuse(5): 1 << 20,                           # revision bit 1 -> with APB_CTL_DATE: v3.0
        L.APB_CTL_DATE_ADDR: (1 << 31) | 0x16042000,
        L.RTCCALICFG1: 1600 << 7,                    # so the ROM's crystal estimate is 40 MHz
    }
    return Chip(
        key="esp32", registers=regs, security_info=None, flash_begin_words=4,
        download_log="ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 "
                     "(DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n",
        flash_boot_log="ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 "
                       "(SPI_FAST_FLASH_BOOT)\r\nconfigsip: 0, SPIWP:0xee\r\n"
                       "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
                       "mode:DIO, clock div:2\r\n",
        board_name="Generic ESP32 module", mcu_name="ESP32", build="ESP32_GENERIC", mpy_arch=10,
        has_bootloader_register=False)


def _esp32c3():
    L = CHIP_DEFS["esp32c3"]
    block1 = lambda n: L.EFUSE_BLOCK1_ADDR + 4 * n  # noqa: E731
    regs = {
        L.CHIP_DETECT_MAGIC_REG_ADDR: 0x1B31506F,
        L.MAC_EFUSE_REG: 0x79123456, L.MAC_EFUSE_REG + 4: 0x000058CF,  # MAC 58:cf:79:12:34:56
        block1(3): 4 << 18,                                            # revision v0.4
    }
    info = struct.pack("<IBBBBBBBBII", 0, 0, *(7 * [0]), L.IMAGE_CHIP_ID, 3)
    return Chip(
        key="esp32c3", registers=regs, security_info=info, flash_begin_words=5,
        download_log="ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\nrst:0x1 (POWERON),"
                     "boot:0x5 (DOWNLOAD(USB/UART0/1))\r\nwaiting for download\r\n",
        flash_boot_log="ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\nrst:0x1 (POWERON),"
                       "boot:0xc (SPI_FAST_FLASH_BOOT)\r\nSPIWP:0xee\r\nmode:DIO, clock div:1\r\n",
        board_name="ESP32C3 module", mcu_name="ESP32C3", build="ESP32_GENERIC_C3", mpy_arch=11,
        has_bootloader_register=True)


CHIPS = {"esp32": _esp32(), "esp32c3": _esp32c3()}


# ------------------------------------------------------------------------------------------------
# SLIP

def slip_encode(packet):
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class SlipDecoder:
    """Turns a byte stream into SLIP frames; bytes outside a frame (a REPL probe, noise) are dropped.
    An escape byte always starts a pair, so unescaping by replacement is exact."""

    def __init__(self):
        self._frame = bytearray()
        self._in_frame = False

    def feed(self, data):
        frames = []
        for i, part in enumerate(data.split(b"\xc0")):
            if i:  # a delimiter came before this part
                if self._in_frame and self._frame:
                    frames.append(bytes(self._frame).replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb"))
                    self._frame.clear()
                    self._in_frame = False
                else:
                    self._in_frame = True
            if self._in_frame:
                self._frame += part
        return frames

    def reset(self):
        self._frame.clear()
        self._in_frame = False


# ------------------------------------------------------------------------------------------------
# The flash chip

class Flash:
    """A NOR flash chip in a file: erased bytes are 0xFF, programming only clears bits."""

    def __init__(self, path, size=4 * MB):
        self.path = pathlib.Path(path)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(b"\xff" * size)
        self.size = self.path.stat().st_size
        if self.size & (self.size - 1) or not 256 * KB <= self.size <= 16 * MB:
            raise ValueError("%s: a flash file is a power of two from 256 KB to 16 MB, not %d bytes"
                             % (path, self.size))
        self._file = open(self.path, "r+b")
        self._map = mmap.mmap(self._file.fileno(), self.size)

    def close(self):
        if self._map is not None:
            self._map.flush()
            self._map.close()
            self._file.close()
            self._map = None

    def jedec_id(self):
        """Winbond W25Q-like: manufacturer 0xEF, type 0x40, capacity code log2(size)."""
        return bytes([0xEF, 0x40, self.size.bit_length() - 1])

    def erase(self, offset, size):
        """Erases the sectors that [offset, offset + size) touches."""
        start = offset - offset % SECTOR
        end = min(self.size, -(-(offset + size) // SECTOR) * SECTOR)
        if start < end:
            self._map[start:end] = b"\xff" * (end - start)

    def program(self, offset, data):
        """Writes data; False when a bit would have to go from 0 to 1 (not erased first)."""
        if offset + len(data) > self.size:
            return False
        old = self._map[offset:offset + len(data)]
        new = (int.from_bytes(old, "little") & int.from_bytes(data, "little")).to_bytes(len(data), "little")
        self._map[offset:offset + len(data)] = new
        return new == data

    def read(self, offset, size):
        return bytes(self._map[offset:offset + size])

    def md5(self, offset, size):
        return hashlib.md5(self._map[offset:offset + size]).hexdigest()


def sfdp_table():
    """A JEDEC SFDP header (signature, one parameter header); the rest reads 0xFF."""
    return b"SFDP" + bytes([0x06, 0x01, 0x00, 0xFF]) + bytes([0x00, 0x06, 0x01, 0x10, 0x30, 0x00, 0x00, 0xFF])


# ------------------------------------------------------------------------------------------------
# The serial line

_SPEEDS = {getattr(termios, n): int(n[1:]) for n in dir(termios) if n[:1] == "B" and n[1:].isdigit()}


def _termios_baud(fd):
    """The baud rate set on the pty's slave end (Linux reports it on the master), or None."""
    try:
        speed = termios.tcgetattr(fd)[5]
    except termios.error:
        return None
    if speed in _SPEEDS:
        return _SPEEDS[speed]
    try:  # BOTHER: an arbitrary rate, in struct termios2 (TCGETS2)
        buf = fcntl.ioctl(fd, 0x802C542A, bytes(44))
        return struct.unpack_from("<I", buf, 40)[0]
    except OSError:
        return None


class Line:
    """The UART between host and chip: the pty's master end, the chip's baud rate, pacing."""

    def __init__(self, fd, pace=True, max_baud=None):
        self.fd = fd
        self.pace = pace
        self.max_baud = max_baud
        self.baud = ROM_BAUD
        self._rx_until = 0.0

    def host_baud(self):
        return _termios_baud(self.fd)

    def in_step(self):
        """Whether bytes get through: both ends at one rate, and a rate the bridge can carry."""
        return self.host_baud() == self.baud and (self.max_baud is None or self.baud <= self.max_baud)

    def _byte_time(self):
        return 10.0 / self.baud

    def received(self, data):
        """Bytes the host sent, after they have taken their time on the wire; b"" when garbled."""
        if self.pace:
            self._rx_until = max(time.monotonic(), self._rx_until) + len(data) * self._byte_time()
            _sleep_until(self._rx_until)
        return data if self.in_step() else b""

    def send(self, data):
        """Sends bytes, each appearing when it has been on the wire; garbage when out of step."""
        if not self.in_step():
            data = bytes((b >> 1) | 0x80 for b in data)
        chunk = max(1, self.baud // 2000) if self.pace else len(data) or 1  # 5 ms of bytes
        start = time.monotonic()
        for i in range(0, len(data), chunk):
            part = data[i:i + chunk]
            if self.pace:
                _sleep_until(start + (i + len(part)) * self._byte_time())
            self._write_all(part)

    def _write_all(self, part):
        """Writes into the pty; when nobody drains it for half a second, the rest is lost, as
        a UART's bytes are when nobody listens."""
        give_up = time.monotonic() + 0.5
        while part:
            try:
                part = part[os.write(self.fd, part):]
            except BlockingIOError:
                if time.monotonic() > give_up:
                    return
                time.sleep(0.001)
            except OSError as e:
                if e.errno in (errno.EIO, errno.EBADF):
                    return
                raise


def _sleep_until(t):
    dt = t - time.monotonic()
    if dt > 0:
        time.sleep(dt)


# ------------------------------------------------------------------------------------------------
# The flash image: what the ROM and the second-stage bootloader check before running an app

@dataclasses.dataclass
class AppInfo:
    project: str
    version: str
    date: str      # "Apr 15 2025"
    offset: int


def parse_app_desc(app):
    """esp_app_desc_t at the start of an app image's first segment, or None."""
    if len(app) < 0x20 + 0x70 or app[0] != 0xE9:
        return None
    magic, = struct.unpack_from("<I", app, 0x20)
    if magic != APP_DESC_MAGIC:
        return None
    text = lambda off, n: app[0x20 + off:0x20 + off + n].split(b"\0")[0].decode("ascii", "replace")  # noqa: E731
    return text(0x10, 32), text(0x30, 32), text(0x60, 16)  # version, project, date


def parse_partitions(table):
    """(type, subtype, offset, size, label) for each entry of an ESP-IDF partition table."""
    entries = []
    for i in range(0, min(len(table), 0xC00) - 31, 32):
        magic, ptype, subtype, offset, size, label, _ = struct.unpack_from("<HBBII16sI", table, i)
        if magic != 0x50AA:
            break
        entries.append((ptype, subtype, offset, size, label.split(b"\0")[0].decode("ascii", "replace")))
    return entries


def image_problem(chip_key, data):
    """Why an ESP image (bootloader or app) starting at data[0] would not be loaded, or None."""
    if not data or data[0] != 0xE9:
        return "invalid header: 0x%08x" % (struct.unpack_from("<I", data)[0] if len(data) >= 4 else 0xFFFFFFFF)
    try:
        image = LoadFirmwareImage(chip_key, data)
    except Exception as e:
        return "%s (%s)" % ("truncated" if "End of file" in str(e) or isinstance(e, struct.error) else "malformed", e)
    if image.chip_id != CHIP_DEFS[chip_key].IMAGE_CHIP_ID:
        return "Invalid chip id. Expected %d read %d. Bootloader for wrong chip?" % (
            CHIP_DEFS[chip_key].IMAGE_CHIP_ID, image.chip_id)
    if image.checksum != image.calculate_checksum():
        return "Checksum failed. Calculated 0x%02x read 0x%02x" % (image.calculate_checksum(), image.checksum)
    if image.append_digest and image.stored_digest != image.calc_digest:
        return "Image hash failed - image is corrupt"
    return None


# ------------------------------------------------------------------------------------------------
# The emulated MicroPython REPL (only what `tinyml flash` and a curious user ask)

class _Record:
    """A MicroPython attrtuple / module: attributes plus MicroPython's repr."""

    def __init__(self, name, fields, as_tuple=True):
        self._name, self._fields, self._as_tuple = name, fields, as_tuple
        for k, v in fields.items():
            setattr(self, k, v)

    def __repr__(self):
        if self._as_tuple:
            return "(" + ", ".join("%s=%s" % (k, _mp_repr(v)) for k, v in self._fields.items()) + ")"
        return "<module '%s'>" % self._name


def _mp_repr(v):
    return repr(v)


class _Call:
    def __init__(self, fn):
        self.fn = fn


class MicroPythonRepl:
    """MicroPython's REPL as the emulated board shows it: banner, friendly and raw modes."""

    KNOWN_MODULES = ("sys", "os", "gc", "machine", "time", "micropython", "esp", "esp32")

    def __init__(self, chip, app, send, on_bootloader, on_reset):
        self.chip, self.app, self.send = chip, app, send
        self.on_bootloader, self.on_reset = on_bootloader, on_reset
        self.raw = False
        self.line = bytearray()
        self._paste_probe = b""
        self.names = {}
        v = app.version.lstrip("v").split("-")[0].split(".")
        nums = tuple(int(x) for x in (v + ["0", "0", "0"])[:3] if x.isdigit())
        self.version = (nums + (0, 0, 0))[:3] + ("" if "-" not in app.version else app.version.split("-")[1].split(".")[0],)
        major, minor = self.version[0], self.version[1]
        sub = 3 if (major, minor) >= (1, 23) else 2 if minor == 22 else 1 if minor >= 20 else 0
        self.mpy = 6 | (sub << 8) | (chip.mpy_arch << 10)

    # what the board prints
    def date_iso(self):
        try:
            return time.strftime("%Y-%m-%d", time.strptime(self.app.date, "%b %d %Y"))
        except ValueError:
            return self.app.date

    def banner(self):
        return ('MicroPython %s on %s; %s with %s\r\nType "help()" for more information.\r\n'
                % (self.app.version, self.date_iso(), self.chip.board_name, self.chip.mcu_name))

    def start(self):
        self.send((self.banner() + ">>> ").encode())

    def modules(self):
        c = self.chip
        machine = "%s with %s" % (c.board_name, c.mcu_name)
        impl = _Record("implementation", {"name": "micropython", "version": self.version, "_machine": machine,
                                          "_mpy": self.mpy, "_build": c.build})
        sys_ = _Record("sys", {"implementation": impl, "platform": "esp32", "byteorder": "little",
                               "version": "3.4.0; MicroPython %s on %s" % (self.app.version, self.date_iso()),
                               "path": ["", ".frozen", "/lib"], "maxsize": 2147483647}, as_tuple=False)
        uname = _Record("uname_result", {"sysname": "esp32", "nodename": "esp32",
                                         "release": "%d.%d.%d" % self.version[:3],
                                         "version": "%s on %s" % (self.app.version, self.date_iso()),
                                         "machine": machine})
        os_ = _Record("os", {"uname": _Call(lambda: uname)}, as_tuple=False)
        gc = _Record("gc", {"mem_free": _Call(lambda: 112000), "collect": _Call(lambda: None)}, as_tuple=False)
        mach = {"reset": _Call(self._machine_reset), "soft_reset": _Call(self._machine_reset),
                "freq": _Call(lambda: 160000000)}
        if c.has_bootloader_register:
            mach["bootloader"] = _Call(self._machine_bootloader)
        return {"sys": sys_, "os": os_, "gc": gc, "machine": _Record("machine", mach, as_tuple=False)}

    def _machine_reset(self):
        raise _Leave(self.on_reset)

    def _machine_bootloader(self):
        raise _Leave(self.on_bootloader)

    # input
    def feed(self, data):
        for b in data:
            try:
                if self.raw:
                    self._raw_byte(b)
                else:
                    self._friendly_byte(b)
            except _Leave as leave:
                leave.then()
                return

    def _friendly_byte(self, b):
        if b == 0x01:  # Ctrl-A: raw REPL
            self.raw, self.line = True, bytearray()
            self.send(b"\r\nraw REPL; CTRL-B to exit\r\n>")
        elif b == 0x02:
            self.send(("\r\n" + self.banner() + ">>> ").encode())
        elif b == 0x03:
            self.line = bytearray()
            self.send(b"\r\n>>> ")
        elif b == 0x04:
            self.line = bytearray()
            self.send(("\r\nMPY: soft reboot\r\n" + self.banner() + ">>> ").encode())
        elif b in (0x0D, 0x0A):
            code, self.line = self.line.decode("utf-8", "replace"), bytearray()
            out, err = self.execute(code, echo_values=True) if code.strip() else ("", "")
            self.send(("\r\n" + out + err + ">>> ").encode())
        elif b in (0x08, 0x7F):
            if self.line:
                self.line = self.line[:-1]
                self.send(b"\x08 \x08")
        elif b >= 0x20:
            self.line.append(b)
            self.send(bytes([b]))

    def _raw_byte(self, b):
        if self._paste_probe or (b == 0x05 and not self.line):  # raw-paste request "\x05A\x01"
            self._paste_probe += bytes([b])
            if self._paste_probe == b"\x05A\x01":
                self._paste_probe = b""
                self.send(b"R\x00")  # raw-paste not supported: the host falls back to plain raw mode
            elif not b"\x05A\x01".startswith(self._paste_probe):
                self._paste_probe = b""
            return
        if b == 0x02:  # Ctrl-B: back to the friendly REPL
            self.raw, self.line = False, bytearray()
            self.send(("\r\n" + self.banner() + ">>> ").encode())
        elif b == 0x03:
            self.line = bytearray()
        elif b == 0x04:
            code, self.line = self.line.decode("utf-8", "replace"), bytearray()
            if not code:
                self.send(b"OK\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>")
                return
            self.send(b"OK")
            out, err = self.execute(code, echo_values=False)
            self.send((out + "\x04" + err + "\x04>").encode())
        else:
            self.line.append(b)

    # execution: a tiny interpreter over a few fake modules (parsed with ast, never eval'd)
    def execute(self, code, echo_values):
        out = []
        try:
            tree = ast.parse(code.replace("\r", "\n"))
            for stmt in tree.body:
                self._statement(stmt, out, echo_values)
        except _Leave:
            raise
        except _MpError as e:
            return "".join(out), ('Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n'
                                  "%s: %s\r\n" % (e.kind, e.message))
        except SyntaxError:
            return "".join(out), "Traceback (most recent call last):\r\nSyntaxError: invalid syntax\r\n"
        return "".join(out), ""

    def _statement(self, stmt, out, echo_values):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name not in self.KNOWN_MODULES:
                    raise _MpError("ImportError", "no module named '%s'" % alias.name)
                self.names[alias.asname or alias.name] = self.modules().get(alias.name, _Record(alias.name, {}, False))
        elif isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            value = self._eval(stmt.value, out)
            for t in stmt.targets:
                self.names[t.id] = value
        elif isinstance(stmt, ast.Expr):
            value = self._eval(stmt.value, out)
            if echo_values and value is not None:
                out.append(_mp_repr(value) + "\r\n")
        elif isinstance(stmt, ast.Pass):
            pass
        else:
            raise _MpError("NotImplementedError", "this emulated board only answers imports, names, "
                                                  "attributes, print() and getattr()")

    def _eval(self, node, out):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Tuple):
            return tuple(self._eval(e, out) for e in node.elts)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            raise _MpError("NameError", "name '%s' isn't defined" % node.id)
        if isinstance(node, ast.Attribute):
            obj = self._eval(node.value, out)
            if not hasattr(obj, node.attr) or node.attr.startswith("__"):
                kind = "module" if isinstance(obj, _Record) and not obj._as_tuple else type(obj).__name__
                raise _MpError("AttributeError", "'%s' object has no attribute '%s'" % (kind, node.attr))
            return getattr(obj, node.attr)
        if isinstance(node, ast.Subscript):
            return self._eval(node.value, out)[self._eval(node.slice, out)]
        if isinstance(node, ast.Call) and not node.keywords:
            args = [self._eval(a, out) for a in node.args]
            if isinstance(node.func, ast.Name) and node.func.id == "print":
                out.append(" ".join(a if isinstance(a, str) else _mp_repr(a) for a in args) + "\r\n")
                return None
            if isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
                obj, attr = args[0], args[1]
                found = hasattr(obj, attr) and not attr.startswith("__")
                if node.func.id == "hasattr":
                    return found
                if found:
                    return getattr(obj, attr)
                if len(args) > 2:
                    return args[2]
                raise _MpError("AttributeError", "no attribute '%s'" % attr)
            if isinstance(node.func, ast.Name) and node.func.id in ("repr", "str", "len"):
                return {"repr": _mp_repr, "str": str, "len": len}[node.func.id](args[0])
            fn = self._eval(node.func, out)
            if isinstance(fn, _Call):
                return fn.fn(*args)
        raise _MpError("NotImplementedError", "this emulated board does not evaluate '%s'"
                       % ast.unparse(node)[:60])


class _MpError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind, self.message = kind, message


class _Leave(Exception):
    """The REPL hands the board back: a reset, or the bootloader."""

    def __init__(self, then):
        super().__init__()
        self.then = then


# ------------------------------------------------------------------------------------------------
# The registry: where a running emulator says which device it serves and how to press its buttons

def registry_dir():
    base = os.environ.get("TINYML_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tinyml")
    return pathlib.Path(base) / "esp-rom"


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def running_emulators():
    """The registry entries of running emulators (dicts: pid, device, chip, flash, control)."""
    found = []
    d = registry_dir()
    for f in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            entry = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if _alive(entry.get("pid", -1)) and os.path.exists(entry.get("device", "")):
            found.append(entry)
        elif not _alive(entry.get("pid", -1)):
            for stale in (f, pathlib.Path(entry.get("control", ""))):
                try:
                    stale.unlink()
                except OSError:
                    pass
    return found


def find_emulator(device):
    """The registry entry of the emulator serving this device path, or None."""
    try:
        real = os.path.realpath(device)
    except (TypeError, ValueError):
        return None
    for entry in running_emulators():
        if os.path.realpath(entry["device"]) == real:
            return entry
    return None


def control(device, request, timeout=5.0):
    """Sends a control request ("auto-reset download|run", "buttons download|run", "status") to the
    emulator serving device; returns its one-line answer, or None when no emulator serves it."""
    entry = find_emulator(device)
    if entry is None:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(entry["control"])
        s.sendall(request.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            part = s.recv(4096)
            if not part:
                break
            answer += part
    return answer.decode().strip()


# ------------------------------------------------------------------------------------------------
# The emulated chip

DOWNLOAD, APP, HALTED, DEAD = "download", "app", "halted", "dead"


class EmulatedRom:
    """An ESP32 or ESP32-C3 in its ROM serial bootloader, on a pty, with flash in a file.

    chip: "esp32" or "esp32c3"; flash_path: the flash file (created erased, flash_size bytes);
    pace: bytes take their time at the baud rate; max_baud: above it the line garbles; auto_reset:
    False for a board whose DTR/RTS do not reach EN/BOOT (only press_buttons resets it);
    boot: "download" (held in the bootloader) or "flash" (booted from flash) at start;
    drop_after_blocks / drop_mode: the link drops after that many flash data blocks, "close"
    (unplugged: the device goes away) or "silent" (hung until a reset)."""

    def __init__(self, chip="esp32", flash_path=None, *, flash_size=4 * MB, pace=True, max_baud=None,
                 auto_reset=True, boot="download", drop_after_blocks=None, drop_mode="close", register=True):
        if chip not in CHIPS:
            raise ValueError("no emulated ROM for %r; choose one of %s" % (chip, ", ".join(CHIPS)))
        self.chip = CHIPS[chip]
        self.flash = Flash(pathlib.Path(flash_path or registry_dir() / ("%s-flash.bin" % chip)).resolve(), flash_size)
        self.auto_reset = auto_reset
        self.drop_after_blocks, self.drop_mode = drop_after_blocks, drop_mode
        self.commands = []
        self.state = DOWNLOAD
        self._boot_at_start = boot
        self._use_registry = register
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or line editing before a client sets its own mode
        os.set_blocking(self._master, False)
        self.device = os.ttyname(self._slave)
        self.line = Line(self._master, pace, max_baud)
        self._slip = SlipDecoder()
        self._regs = dict(self.chip.registers)
        self._write = None        # the FLASH_BEGIN / FLASH_DEFL_BEGIN in progress
        self._blocks_seen = 0
        self._autobaud = True
        self._repl = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._ctl = None
        self._entry_path = None

    # ---- life cycle
    def start(self):
        if self._use_registry:
            self._open_control()
        if self._boot_at_start == "flash":
            self._boot_flash(self.chip.flash_boot_log)
        else:
            self._enter_download()
        self._thread = threading.Thread(target=self._serve, name="esp-rom " + self.device, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._close_line()
        self._close_control()
        self.flash.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _close_line(self):
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._master = self._slave = -1

    # ---- control socket and registry
    def _open_control(self):
        d = registry_dir()
        d.mkdir(parents=True, exist_ok=True)
        stem = "%d-%s" % (os.getpid(), os.path.basename(self.device))
        path = d / (stem + ".sock")
        try:
            path.unlink()
        except OSError:
            pass
        self._ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._ctl.bind(str(path))
        self._ctl.listen(4)
        self._ctl.setblocking(False)
        self._entry_path = d / (stem + ".json")
        entry = {"pid": os.getpid(), "device": self.device, "chip": self.chip.key,
                 "flash": str(self.flash.path), "control": str(path), "auto_reset": self.auto_reset}
        tmp = self._entry_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry))
        os.replace(tmp, self._entry_path)

    def _close_control(self):
        if self._ctl is not None:
            path = self._ctl.getsockname()
            self._ctl.close()
            self._ctl = None
            for p in (path, self._entry_path):
                try:
                    os.unlink(p)
                except (OSError, TypeError):
                    pass

    def _handle_control(self):
        try:
            conn, _ = self._ctl.accept()
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(2)
            request = b""
            while not request.endswith(b"\n"):
                part = conn.recv(256)
                if not part:
                    break
                request += part
            words = request.decode(errors="replace").split()
            answer = self._control_request(words)
            conn.sendall(answer.encode() + b"\n")

    def _control_request(self, words):
        if words[:1] == ["status"]:
            return json.dumps({"state": self.state, "chip": self.chip.key, "baud": self.line.baud})
        if len(words) == 2 and words[0] in ("auto-reset", "buttons") and words[1] in ("download", "run"):
            if words[0] == "auto-reset" and not self.auto_reset:
                return "ignored: this board's DTR/RTS do not reach EN and BOOT"
            (self.press_buttons if words[0] == "buttons" else self.pulse_dtr_rts)(words[1] == "download")
            return "ok " + self.state
        return "unknown request; say: status | auto-reset download|run | buttons download|run"

    # ---- resets
    def pulse_dtr_rts(self, download):
        """What esptool's DTR/RTS sequences do through a board's auto-reset circuit."""
        if self.auto_reset:
            self.press_buttons(download)

    def press_buttons(self, download):
        """Holding BOOT (when download) while pressing and releasing EN."""
        with self._lock:
            if self.state == DEAD:
                return
            if download:
                self._enter_download()
            else:
                self._boot_flash(self.chip.flash_boot_log, delay=0.1)

    def _enter_download(self):
        self.state = DOWNLOAD
        self._slip.reset()
        self._write = None
        self._autobaud = True
        self._repl = None
        self.line.baud = ROM_BAUD
        self._send_text(self.chip.download_log)

    def _boot_flash(self, log, delay=0.0):
        """A reset without BOOT held: the ROM loads the flash; MicroPython's REPL if it is there."""
        time.sleep(delay)  # a real chip takes a moment to come out of reset
        self._repl = None
        self._write = None
        self.line.baud = ROM_BAUD
        lines, app = self._load_from_flash()
        self._send_text(log + "".join(lines))
        self.state = APP if app else HALTED
        if app and app.project == "micropython":
            self._repl = MicroPythonRepl(self.chip, app, self._send_bytes, on_bootloader=self._enter_download,
                                         on_reset=lambda: self._boot_flash(self._software_reset_log()))
            self._repl.start()

    def _load_from_flash(self):
        """What the ROM and the second-stage bootloader check and print: the bootloader image at the
        chip's offset, the partition table, the first app. Returns (log lines, AppInfo or None)."""
        chip = self.chip
        bootloader = self.flash.read(chip.loader.BOOTLOADER_FLASH_OFFSET, 64 * KB)
        problem = image_problem(chip.key, bootloader)
        if problem:
            return [problem + "\r\n"], None
        image = LoadFirmwareImage(chip.key, bootloader)
        out = ["load:0x%08x,len:%d\r\n" % (s.addr, len(s.data)) for s in image.segments]
        out += ["entry 0x%08x\r\n" % image.entrypoint, "I (31) boot: ESP-IDF 2nd stage bootloader (emulated)\r\n"]
        apps = [p for p in parse_partitions(self.flash.read(PARTITION_TABLE_OFFSET, 0xC00)) if p[0] == 0]
        if not apps:
            return out + ["E (40) boot: No bootable app partitions in the partition table\r\n"], None
        _, _, offset, size, label = apps[0]
        app = self.flash.read(offset, size)
        problem = image_problem(chip.key, app)
        if problem:
            return out + ["E (52) esp_image: %s\r\nE (53) boot: %s app partition is not bootable\r\n"
                          "E (54) boot: No bootable app partitions in the partition table\r\n" % (problem, label)], None
        version, project, date = parse_app_desc(app) or ("?", "?", "?")
        out.append("I (60) boot: Loaded app from partition at offset 0x%x\r\n" % offset)
        if project != "micropython":
            out.append("I (80) app_start: Starting app: %s %s (not MicroPython: it prints nothing more "
                       "on the emulated board)\r\n" % (project, version))
        return out, AppInfo(project, version, date, offset)

    def _software_reset_log(self):
        return self.chip.flash_boot_log.replace("rst:0x1 (POWERON_RESET)", "rst:0xc (SW_CPU_RESET)").replace(
            "rst:0x1 (POWERON)", "rst:0x3 (RTC_SW_SYS_RST)")

    def _send_text(self, text):
        self._send_bytes(text.encode())

    def _send_bytes(self, data):
        if self._master >= 0:
            self.line.send(data)

    # ---- the serial loop
    def _serve(self):
        while not self._stop.is_set() and self._master >= 0:
            fds = [self._master] + ([self._ctl] if self._ctl is not None else [])
            try:
                ready, _, _ = select.select(fds, [], [], 0.05)
            except (OSError, ValueError):
                break
            if self._ctl is not None and self._ctl in ready:
                self._handle_control()
            if self._master in ready:
                try:
                    data = os.read(self._master, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    time.sleep(0.05)  # EIO: nobody has the port open
                    continue
                with self._lock:
                    try:
                        self._on_bytes(data)
                    except Exception:  # a bug here must not look like a dead board
                        import traceback
                        traceback.print_exc()

    def _on_bytes(self, data):
        if self.state == DOWNLOAD and self._autobaud:
            host = self.line.host_baud()
            if host:
                self.line.baud = host  # the ROM measures the SYNC pulses and follows
        data = self.line.received(data)
        if not data or self.state in (HALTED, DEAD):
            return
        if self.state == APP:
            if self._repl is not None:
                self._repl.feed(data)
            return
        for frame in self._slip.feed(data):
            if self.state != DOWNLOAD:
                break
            self._on_frame(frame)

    def _on_frame(self, frame):
        if len(frame) < 8 or frame[0] != 0x00:
            return  # not a request: the ROM ignores it
        _, op, size, checksum = struct.unpack_from("<BBHI", frame)
        payload = frame[8:]
        self.commands.append(OPS.get(op, "0x%02x" % op))
        after = None
        try:
            if size != len(payload):
                raise RomError(INVALID_MESSAGE)
            handler = self.HANDLERS.get(op)
            if handler is None:
                raise RomError(INVALID_MESSAGE)
            value, data, after = (handler(self, payload, checksum) + (None,))[:3]
            status = b"\x00\x00\x00\x00"
        except RomError as e:
            value, data, status = 0, b"", bytes([1, e.code, 0, 0])
        if self.state != DOWNLOAD:
            return  # the link dropped, or the chip hung, while handling it
        body = data + status
        reply = slip_encode(struct.pack("<BBHI", 0x01, op, len(body), value) + body)
        for _ in range(8 if op == 0x08 else 1):  # the ROM answers a SYNC eight times
            self._send_bytes(reply)
        if after is not None:
            after()
        if op == 0x08:
            self._autobaud = False

    # ---- command handlers: (value, data[, then]) or RomError
    def _sync(self, payload, _):
        if payload != SYNC_PAYLOAD:
            raise RomError(INVALID_MESSAGE)
        return struct.unpack("<I", payload[:4])[0], b""

    def _read_reg(self, payload, _):
        if len(payload) != 4:
            raise RomError(INVALID_MESSAGE)
        addr, = struct.unpack("<I", payload)
        return self._register(addr), b""

    def _write_reg(self, payload, _):
        if not payload or len(payload) % 16:
            raise RomError(INVALID_MESSAGE)
        for i in range(0, len(payload), 16):
            addr, value, mask, _delay = struct.unpack_from("<IIII", payload, i)
            self._regs[addr] = (self._regs.get(addr, 0) & ~mask) | (value & mask)
            if addr == self._spi("CMD") and value & SPI_CMD_USR:
                self._spi_user_command()
        return 0, b""

    def _get_security_info(self, payload, _):
        if self.chip.security_info is None:
            raise RomError(INVALID_MESSAGE)  # not in this ROM
        return 0, self.chip.security_info

    def _spi_attach(self, payload, _):
        if len(payload) != 8:
            raise RomError(INVALID_MESSAGE)
        return 0, b""

    def _spi_set_params(self, payload, _):
        if len(payload) != 24:
            raise RomError(INVALID_MESSAGE)
        _id, total, _block, _sector, _page, _mask = struct.unpack("<6I", payload)
        if total > self.flash.size:
            raise RomError(FAILED_TO_ACT)
        return 0, b""

    def _change_baudrate(self, payload, _):
        if len(payload) != 8:
            raise RomError(INVALID_MESSAGE)
        new, _old = struct.unpack("<II", payload)
        if not 300 <= new <= 5_000_000:
            raise RomError(INVALID_MESSAGE)

        def switch():
            self.line.baud = new
        return 0, b"", switch

    def _flash_begin(self, payload, _, compressed=False):
        if len(payload) != 4 * self.chip.flash_begin_words:
            raise RomError(INVALID_MESSAGE)
        erase_size, blocks, block_size, offset = struct.unpack_from("<IIII", payload)
        if offset + erase_size > self.flash.size or block_size > 0x4000:
            raise RomError(FAILED_TO_ACT)
        self.flash.erase(offset, erase_size)
        self._write = {"offset": offset, "blocks": blocks, "block_size": block_size, "next": 0,
                       "pos": offset, "end": offset + erase_size, "compressed": compressed,
                       "inflate": zlib.decompressobj() if compressed else None}
        return 0, b""

    def _flash_defl_begin(self, payload, checksum):
        return self._flash_begin(payload, checksum, compressed=True)

    def _flash_data(self, payload, checksum, compressed=False):
        w = self._write
        if w is None or w["compressed"] != compressed or len(payload) < 16:
            raise RomError(FAILED_TO_ACT if w is None else INVALID_MESSAGE)
        size, seq, _, _ = struct.unpack_from("<IIII", payload)
        data = payload[16:]
        if size != len(data) or (not compressed and size != w["block_size"]):
            raise RomError(INVALID_MESSAGE)
        if (0xEF ^ _xor(data)) != checksum & 0xFF:
            raise RomError(BAD_CHECKSUM)
        self._count_block()
        if self.state != DOWNLOAD:
            return 0, b""
        if compressed:
            try:
                data = w["inflate"].decompress(data)
            except zlib.error:
                raise RomError(INFLATE_ERR)
            pos = w["pos"]
        else:
            pos = w["offset"] + seq * w["block_size"]
        if not self.flash.program(pos, data):  # beyond the chip, or onto bytes not erased
            raise RomError(FLASH_WRITE_ERR)
        w["pos"] = pos + len(data)
        w["next"] = seq + 1
        return 0, b""

    def _flash_defl_data(self, payload, checksum):
        return self._flash_data(payload, checksum, compressed=True)

    def _flash_end(self, payload, _):
        if len(payload) != 4:
            raise RomError(INVALID_MESSAGE)
        run_user_code, = struct.unpack("<I", payload)
        self._write = None
        log = "" if run_user_code else self._software_reset_log()
        return 0, b"", lambda: self._boot_flash(log, delay=0.1)

    def _spi_flash_md5(self, payload, _):
        if len(payload) != 16:
            raise RomError(INVALID_MESSAGE)
        addr, size, _, _ = struct.unpack("<IIII", payload)
        if addr + size > self.flash.size:
            raise RomError(FLASH_READ_ERR)
        return 0, self.flash.md5(addr, size).encode()

    def _read_flash_slow(self, payload, _):
        if len(payload) != 8:
            raise RomError(INVALID_MESSAGE)
        addr, size = struct.unpack("<II", payload)
        if size > 64:
            raise RomError(READ_LENGTH_ERR)
        if addr + size > self.flash.size:
            raise RomError(FLASH_READ_ERR)
        return 0, self.flash.read(addr, size).ljust(64, b"\0")

    def _mem_refused(self, payload, _):
        raise RomError(INVALID_MESSAGE)  # RAM download: there is no CPU to run what is loaded

    HANDLERS = {0x02: _flash_begin, 0x03: _flash_data, 0x04: _flash_end, 0x05: _mem_refused,
                0x06: _mem_refused, 0x07: _mem_refused, 0x08: _sync, 0x09: _write_reg, 0x0A: _read_reg,
                0x0B: _spi_set_params, 0x0D: _spi_attach, 0x0E: _read_flash_slow,
                0x0F: _change_baudrate, 0x10: _flash_defl_begin, 0x11: _flash_defl_data,
                0x12: _flash_end, 0x13: _spi_flash_md5, 0x14: _get_security_info}

    # ---- the link dropping mid-transfer
    def _count_block(self):
        self._blocks_seen += 1
        if self.drop_after_blocks is not None and self._blocks_seen > self.drop_after_blocks:
            if self.drop_mode == "close":
                self.state = DEAD
                self._stop.set()
                self._close_line()   # the USB cable pulled: the device node goes away
                self._close_control()
            else:
                self.state = HALTED  # hung until EN
            self.drop_after_blocks = None

    # ---- registers
    def _spi(self, name):
        L = self.chip.loader
        return L.SPI_REG_BASE + {"CMD": 0, "ADDR": 4, "USR": L.SPI_USR_OFFS, "USR1": L.SPI_USR1_OFFS,
                                 "USR2": L.SPI_USR2_OFFS, "MISO_DLEN": L.SPI_MISO_DLEN_OFFS,
                                 "W0": L.SPI_W0_OFFS}[name]

    def _register(self, addr):
        L = self.chip.loader
        if addr == L.UART_CLKDIV_REG:  # the divider the ROM set for this baud from its 40 MHz clock
            return (40_000_000 // self.line.baud) & L.UART_CLKDIV_MASK
        return self._regs.get(addr, 0)

    def _spi_user_command(self):
        """The SPI controller's user command: what esptool's run_spiflash_command triggers."""
        L = self.chip.loader
        usr = self._regs.get(self._spi("USR"), 0)
        command = self._regs.get(self._spi("USR2"), 0) & 0xFFFF
        address = None
        if usr & SPI_USR_ADDR:
            addr_len = ((self._regs.get(self._spi("USR1"), 0) >> 26) & 0x3F) + 1
            address = self._regs.get(self._spi("ADDR"), 0)
            if L.SPI_ADDR_REG_MSB:
                address >>= 32 - addr_len
        miso_bits = (self._regs.get(self._spi("MISO_DLEN"), 0) + 1) if usr & SPI_USR_MISO else 0
        if command == RDID:
            reply = self.flash.jedec_id()
        elif command == SFDP:
            table = sfdp_table()
            a = address or 0
            reply = bytes(table[a + i] if a + i < len(table) else 0xFF for i in range(4))
        elif command in (RDSR, RDSR2, RDSR3):
            reply = b"\x00"
        else:
            reply = b""  # write enable, reset, power-down...: accepted, nothing to read
        if miso_bits:
            value = int.from_bytes(reply.ljust(4, b"\0")[:4], "little") & ((1 << min(miso_bits, 32)) - 1)
            self._regs[self._spi("W0")] = value
        self._regs[self._spi("CMD")] = 0  # done at once


def _xor(data):
    """XOR of all bytes (the ROM's block checksum before its 0xEF seed)."""
    n = int.from_bytes(data, "little")
    x = 0
    while n:
        x ^= n & 0xFFFFFFFFFFFFFFFF
        n >>= 64
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    return x & 0xFF


# ------------------------------------------------------------------------------------------------
# A MicroPython-like firmware image, for tests, the benchmark and rehearsals

_SEGMENTS = {  # (bootloader DRAM, bootloader IRAM, entry, app DROM, app IROM, app DRAM, app IRAM)
    "esp32": (0x3FFF0030, 0x40078000, 0x40080400, 0x3F400020, 0x400D0020, 0x3FFB0000, 0x40080000),
    "esp32s2": (0x3FFE6100, 0x4004C000, 0x4004C000, 0x3F000020, 0x40080020, 0x3FFBE000, 0x40022000),
    "esp32s3": (0x3FCE3818, 0x403C9700, 0x403C9908, 0x3C000020, 0x42000020, 0x3FC88000, 0x40374000),
    "esp32c3": (0x3FCD5820, 0x403CC710, 0x403CC71A, 0x3C000020, 0x42000020, 0x3FC88000, 0x40380000),
    "esp32c6": (0x4086C410, 0x4086E610, 0x4086E61A, 0x42800020, 0x42000020, 0x40800000, 0x40810000),
}


def _bulk(rng, n, compressible):
    """n bytes that deflate to roughly the share given (firmware code deflates to about 0.6)."""
    if compressible is None:
        return rng.randbytes(n)
    out = bytearray()
    words = [rng.randbytes(4) for _ in range(64)]
    while len(out) < n:
        if rng.random() < compressible:
            out += rng.randbytes(16)
        else:
            out += b"".join(rng.choice(words) for _ in range(4))
    return bytes(out[:n])


def _app_desc(version, project, date):
    desc = struct.pack("<III", APP_DESC_MAGIC, 0, 0) + bytes(4)
    desc += version.encode().ljust(32, b"\0") + project.encode().ljust(32, b"\0")
    desc += b"12:00:00".ljust(16, b"\0") + date.encode().ljust(16, b"\0")
    desc += b"v5.2.2".ljust(32, b"\0") + hashlib.sha256(version.encode()).digest()
    return desc.ljust(256, b"\0")


def _esp_image(chip, segments, entry):
    """segments: (address, bytes, section name); .flash.appdesc goes first in the file."""
    cls = CHIP_DEFS[chip].BOOTLOADER_IMAGE
    image = cls()
    image.flash_mode = 2  # DIO
    image.flash_size_freq = CHIP_DEFS[chip].FLASH_SIZES["4MB"]
    image.entrypoint = entry
    image.min_rev_full, image.max_rev_full = 0, 399
    image.segments = [ELFSection(name.encode(), addr, data, 0) for addr, data, name in segments]
    return image.save(None)


def partition_table(app_offset=0x10000, app_size=0x1F0000):
    """MicroPython's default table for 4 MB: nvs, phy_init, factory app, vfs; with its MD5 entry."""
    rows = [(1, 0x02, 0x9000, 0x6000, b"nvs"), (1, 0x01, 0xF000, 0x1000, b"phy_init"),
            (0, 0x00, app_offset, app_size, b"factory"), (1, 0x81, app_offset + app_size, 0x200000, b"vfs")]
    table = b"".join(struct.pack("<HBBII16sI", 0x50AA, t, s, o, n, label.ljust(16, b"\0"), 0)
                     for t, s, o, n, label in rows)
    table += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(table).digest()
    return table.ljust(0xC00, b"\xff")


def build_micropython_image(chip="esp32", size=256 * KB, version="v1.25.0", date="Apr 15 2025",
                            project="micropython", compressible=0.5, seed=1):
    """A firmware .bin shaped like MicroPython's (bootloader at the chip's offset, partition table
    at 0x8000, app with esp_app_desc_t at 0x10000), about `size` bytes from the bootloader offset,
    built with esptool's image classes (checksums, SHA-256 digests, chip ID). compressible: the
    share of incompressible 16-byte runs (None: all random)."""
    boot_off = CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET
    dram, iram, entry, drom, irom, app_dram, app_iram = _SEGMENTS[chip]
    rng = random.Random(seed)
    bootloader = _esp_image(chip, [(dram, rng.randbytes(0x1000), ".dram0.data"),
                                   (iram, rng.randbytes(0x3000), ".iram_loader.text")], entry)
    head = bootloader.ljust(PARTITION_TABLE_OFFSET - boot_off, b"\xff") + partition_table()
    head = head.ljust(0x10000 - boot_off, b"\xff")
    app_room = max(size - len(head), 16 * KB)

    def app_of(body):
        r = random.Random(seed + 1)
        rodata = _app_desc(version, project, date) + _bulk(r, body // 3 // 4 * 4, compressible)
        text = _bulk(r, (body - body // 3) // 4 * 4, compressible)
        return _esp_image(chip, [(drom, rodata, ".flash.appdesc"), (irom, text, ".flash.text"),
                                 (app_dram, r.randbytes(0x800), ".dram0.data"),
                                 (app_iram, r.randbytes(0x1000), ".iram0.text")], app_iram)

    body = max(app_room - 0x3000, 4 * KB)
    app = app_of(body)
    app = app_of(max(body - (len(app) - app_room), 4 * KB))  # one correction for the fixed overheads
    return head + app


# ------------------------------------------------------------------------------------------------
# Running it by hand: start_rom() / stop_rom() (what `tinyml board start esp32-rom` calls)

def start_rom(chip="esp32", flash_path=None, *, pace=True, max_baud=None, auto_reset=True, timeout=10.0):
    """Starts an emulated ROM bootloader in a background process, or reuses the one already running
    on the same flash file; returns its serial device. The flash persists in flash_path (default:
    <cache>/esp-rom/<chip>-flash.bin)."""
    if chip not in CHIPS:
        raise ValueError("no emulated ROM for %r; choose one of %s" % (chip, ", ".join(CHIPS)))
    flash_path = str(pathlib.Path(flash_path or registry_dir() / ("%s-flash.bin" % chip)).resolve())
    for entry in running_emulators():
        if entry["flash"] == flash_path and entry["chip"] == chip and entry["pid"] != os.getpid():
            return entry["device"]
    cmd = [sys.executable, "-m", "tinyml_host.esp_rom", "--chip", chip, "--flash", flash_path]
    cmd += [] if pace else ["--no-pace"]
    cmd += ["--max-baud", str(max_baud)] if max_baud else []
    cmd += [] if auto_reset else ["--no-auto-reset"]
    env = dict(os.environ)
    here = str(pathlib.Path(__file__).resolve().parents[1])
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


def stop_rom(device=None):
    """Stops the emulated ROM(s) that start_rom() started (the one serving device, or all);
    returns the devices stopped."""
    stopped = []
    for entry in running_emulators():
        if entry["pid"] == os.getpid():
            continue  # in-process emulators belong to their caller
        if device is None or os.path.realpath(entry["device"]) == os.path.realpath(device):
            try:
                os.kill(entry["pid"], signal.SIGTERM)
                stopped.append(entry["device"])
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(e["device"] in stopped for e in running_emulators()):
        time.sleep(0.05)
    return stopped


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m tinyml_host.esp_rom",
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


if __name__ == "__main__":
    sys.exit(main())
