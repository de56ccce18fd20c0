"""Flashing MicroPython onto ESP32 boards (esp32, esp32s2, esp32s3, esp32c3, esp32c6), through
esptool's Python API (esptool >= 5: esptool.cmds, the chip classes in esptool.targets and
esptool.bin_image; never by parsing its output).

    flash(board="esp32", port=None, firmware=None, version=None, erase=False, baud=460800)

1. The firmware: a local .bin, or the official MicroPython release for the board and version
   (firmware_cache: downloaded once, checksummed). It must be a whole firmware image: magic 0xE9,
   a chip ID, the second-stage bootloader, the partition table at 0x8000 and the app, each image
   complete, its checksum and SHA-256 digest right. Anything else is refused before the port is
   touched: a file that is not an image, a truncated one, an app-only one.
2. The port: PORT, else TINYML_PORT or ~/.config/tinyml/config.toml, else the USB serial bridges
   ESP32 boards use (ports.py). A port that cannot be opened, or that another program holds, is an
   error with its cause and fix.
3. The board into its ROM bootloader: esptool's DTR/RTS reset where the port has modem lines
   (USB bridges; esptool picks the USB-Serial/JTAG sequence itself), the emulated board's control
   socket for an emulated one (esp_rom), nothing on a port without modem lines. Then esptool detects
   the chip (GET_SECURITY_INFO or the chip-detect magic register). A board that does not answer,
   but runs MicroPython, is sent there with `machine.bootloader()` where that exists (S2, S3, C3);
   otherwise the error says to hold BOOT while pressing EN.
4. The image's chip ID against the detected chip, and the board's: a mismatch is refused before
   anything is written. The flash offset is esptool's own for the chip (BOOTLOADER_FLASH_OFFSET:
   0x1000 on ESP32 and ESP32-S2, 0x0 on S3, C3 and C6).
5. The stub flasher for real boards, none for the emulated ROM (it runs no CPU); CHANGE_BAUDRATE to
   the fast rate; SPI attach; flash size detection; a whole-chip erase when asked, or when the board
   holds no MicroPython (its partition table and app descriptor say so); the write, compressed
   unless told not to, with esptool's progress; MD5 verification; a reset into the app (DTR/RTS, a
   watchdog reset on native USB, or the ROM's "run user code" where there are no modem lines).
6. The MicroPython banner on the serial port, then its version and .mpy ABI from the REPL, so
   `make deploy` knows which native module the board takes.

When the fast baud rate fails (a bridge or cable that cannot keep up), the whole flash is done
again at 115200. A link that drops mid-write ends with what happened and what to do; the next run
starts over and completes.
"""

import dataclasses
import hashlib
import os
import pathlib
import re
import select
import time
import zlib

import serial
from esptool import cmds
from esptool.logger import log as esptool_log
from esptool.targets import CHIP_DEFS
from esptool.util import FatalError, NotImplementedInROMError, flash_size_bytes

from tinyml_host.flash import firmware_cache
from tinyml_host.flash.banner import ROM_BAUD, read_for as _read_for, wait_for_micropython  # noqa: F401
from tinyml_host.board import ports
from tinyml_host.flash.image import (CHIPS, FirmwareInfo, FirmwareRefused, FlashError, LinkDropped,  # noqa: F401
                                     NotInBootloader, PARTITION_TABLE_OFFSET, WrongChip, inspect_firmware,
                                     parse_app_desc, parse_partitions, PARTITION_TABLE_SIZE, partition_table_problems,
                                     refuse_partition_table)

DEFAULT_BAUD = 460800
KB = 1024
from tinyml_host.paths import REPO  # noqa: E402


@dataclasses.dataclass
class FlashResult:
    port: str
    chip: str
    offset: int
    size: int
    md5: str
    erased: bool
    baud: int
    compressed: bool
    write_seconds: float
    total_seconds: float
    wire_bytes: int
    banner: str = None
    version: str = None
    mpy_abi: str = None
    mpy_arch: str = None


# ------------------------------------------------------------------------------------------------
# Boards

def board_profile(board):
    """The board's profile (boards/<board>.toml, from tinyml_host.board.profiles) or None when it has none."""
    try:
        from tinyml_host.board import profiles as boards
        return boards.load(board)
    except Exception:
        return None


def board_chip(board):
    """The chip a tinyml board name stands for: its profile's esptool chip, or the chip's own name."""
    profile = board_profile(board)
    chip = getattr(profile, "chip", None)
    key = (chip or board).lower().replace("-", "").replace("_", "")
    if key in CHIPS:
        return key
    raise FlashError("BOARD=%s is not an ESP32 board; `make flash` takes BOARD=%s" % (board, "|".join(CHIPS)))


def _chip_key(esp):
    return {cls.CHIP_NAME: key for key, cls in CHIP_DEFS.items()}[esp.CHIP_NAME]


# ------------------------------------------------------------------------------------------------
# Getting the board into its bootloader

@dataclasses.dataclass
class Hooks:
    """What the caller knows of emulated boards, handed down: flash never imports an emulator.
    reset(device): a function standing in for DTR/RTS ("download" or "run") on an emulated board,
    None on a real one; ports(): more ports.Candidate to choose from when no port is given; pids():
    processes that may hold a port without being in the way (the emulators themselves); link(device):
    what an emulated board's link takes, {} for a real one, else {"stub": False, "baud": 115200,
    "why": "...", "run": "reset"} (QEMU's ESP32 ROM runs no esptool stub, keeps 115200, and starts the
    app through a reset into flash boot)."""
    reset: object = lambda device: None
    ports: object = lambda: []
    pids: object = lambda: []
    link: object = lambda device: {}


def _repl_to_bootloader(device, say):
    """(text seen, True if a MicroPython REPL took the board into its bootloader)."""
    try:
        ser = ports.open_serial(device, ROM_BAUD)
    except ports.PortError:
        return "", False
    try:
        ser.write(b"\r\x03\x03")
        seen = _read_for(ser, 0.6, b">>> ")
        if b">>> " not in seen:
            return seen.decode("ascii", "replace"), False
        say("MicroPython answers on %s; asking it for the bootloader (machine.bootloader())" % device)
        ser.write(b"import machine\r")
        _read_for(ser, 0.3, b">>> ")
        ser.write(b"machine.bootloader()\r")
        after = _read_for(ser, 1.0, b"waiting for download")
        text = (seen + after).decode("ascii", "replace")
        return text, b"Error" not in after and b">>> " not in after.split(b"bootloader()")[-1]
    finally:
        ser.close()


def _not_in_bootloader(device, error, seen, modem, repl_tried):
    what = str(error).split("\n")[0]
    if "Wrong boot mode" in what:
        cause = "the reset through DTR/RTS left it booting from flash instead (%s)" % what
    elif "MicroPython" in seen or ">>>" in seen:
        cause = ("MicroPython runs there, and has no machine.bootloader() on this chip"
                 if repl_tried else "MicroPython runs there")
    elif not modem:
        cause = "this port has no DTR/RTS lines to reset the board with, and the board is not waiting in download mode"
    elif seen.strip():
        cause = "something other than the ROM bootloader answers"
    else:
        cause = "nothing answered: the board is in its app, unpowered, or on another port"
    glimpse = re.sub(r"[^\x20-\x7e]+", " ", seen).strip()[-120:]
    return NotInBootloader(
        "the board on %s is not in its bootloader (download mode): %s.\n  cause: %s%s.\n"
        "  fix: hold the BOOT (IO0) button, press and release EN (RST), release BOOT, then run again "
        "(boards with an auto-reset circuit do this by themselves; without one, or through a port with "
        "no DTR/RTS, you do it by hand)." % (device, what, cause, (' (the port shows: "%s")' % glimpse) if glimpse else ""))


def _connect(device, hook, say, attempts=None):
    """An esptool loader for the chip on device, in its ROM bootloader at 115200."""
    ser = ports.open_serial(device, ROM_BAUD)
    modem = ports.has_modem_lines(ser)
    if hook is not None:
        hook("download")
        before = "no-reset"
    else:
        before = "default-reset" if modem else "no-reset"
    try:
        return cmds.detect_chip(ser, ROM_BAUD, before, connect_attempts=attempts or (7 if modem else 2)), modem
    except LINE_ERRORS as e:
        ser.close()
        if not os.path.exists(device) and "://" not in device:
            raise LinkDropped("the board on %s went away while connecting (%s).\n  fix: plug it back in "
                              "and run again." % (device, e))
        first_error = e
    seen, entered = _repl_to_bootloader(device, say)
    if entered:
        deadline = time.monotonic() + 5  # native USB re-enumerates as the ROM's own USB device
        while "://" not in device and not os.path.exists(device) and time.monotonic() < deadline:
            time.sleep(0.1)
        ser = ports.open_serial(device, ROM_BAUD)
        try:
            return cmds.detect_chip(ser, ROM_BAUD, "no-reset", connect_attempts=3), modem
        except LINE_ERRORS as e:
            ser.close()
            first_error = e
    raise _not_in_bootloader(device, first_error, seen, modem, repl_tried=">>>" in seen)


# ------------------------------------------------------------------------------------------------
# On the board

def micropython_on_board(esp):
    """The MicroPython version in the board's flash (partition table + app descriptor), or None."""
    try:
        table = esp.read_flash(PARTITION_TABLE_OFFSET, 0xC0)
        apps = [p for p in parse_partitions(table) if p[0] == 0]
        if not apps:
            return None
        desc = parse_app_desc(esp.read_flash(apps[0][2], 0x100))
        return desc[0] if desc and desc[1] == "micropython" else None
    except (FatalError, NotImplementedInROMError):
        return None


def _erase_all(esp, flash_size, say):
    say("erasing the whole flash (%d KB)" % (flash_size // KB))
    if esp.IS_STUB:
        cmds.erase_flash(esp)
    else:
        esp.flash_begin(flash_size, 0, logging=False)  # the ROM erases the region on FLASH_BEGIN


@dataclasses.dataclass
class _Progress:
    blocks: int = 0
    total_blocks: int = 0
    wire_bytes: int = 0
    started: float = None
    ended: float = None
    switched: bool = False   # the line went above 115200
    erased: bool = False
    hung_up: bool = False    # the port we held hung up: the board went away (unplugged, its emulator gone)


def _track(esp, progress):
    """Counts the flash data blocks esptool sends (for timing, and to say where a write stopped)."""
    for name in ("flash_block", "flash_defl_block"):
        original = getattr(esp, name)

        def block(data, seq, *args, _original=original, **kw):
            if progress.started is None:
                progress.started = time.monotonic()
            result = _original(data, seq, *args, **kw)
            progress.blocks, progress.ended = seq + 1, time.monotonic()
            progress.wire_bytes += len(data)
            return result
        setattr(esp, name, block)


def _reset_into_app(esp, modem, hook, link, say):
    emulated = hook is not None
    if emulated and link.get("run") == "reset":  # a reset with BOOT released, as EN through DTR/RTS
        say("starting the app (a reset into flash boot)")
        esp._port.reset_input_buffer()
        hook("run")
    elif not esp.IS_STUB and (emulated or not modem):
        say("starting the app (the ROM's \"run user code\": this port has no DTR/RTS)"
            if not emulated else "starting the app (the ROM's \"run user code\")")
        cmds.reset_chip(esp, "soft-reset")
    elif esp.uses_usb_otg() and esp.WATCHDOG_RESET_SUPPORTED:
        cmds.reset_chip(esp, "watchdog-reset")
    else:
        cmds.reset_chip(esp, "hard-reset")
        if not modem:
            say("this port has no DTR/RTS: press EN (RST) on the board to start MicroPython")


# ------------------------------------------------------------------------------------------------
# The flash

def _session(device, data, info, chip, baud, erase, compress, stub, say, progress, hook, link):
    """One attempt: connect, check, write, verify, reset. Returns (esp, offset, md5, erased)."""
    esp, modem = _connect(device, hook, say)
    ok = False
    watch = _watch(esp._port)
    try:
        detected = _chip_key(esp)
        say("chip: %s on %s" % (esp.CHIP_NAME, device))
        if detected != info.chip:
            raise WrongChip("refusing to flash: the firmware is built for %s (chip ID %d in its header), but the "
                            "board on %s is an %s. Nothing was written.\n  fix: use a firmware for %s "
                            "(BOARD=%s)." % (CHIP_DEFS[info.chip].CHIP_NAME, CHIP_DEFS[info.chip].IMAGE_CHIP_ID,
                                             device, esp.CHIP_NAME, esp.CHIP_NAME, detected))
        if detected != chip:
            raise WrongChip("refusing to flash: BOARD says %s, but the board on %s is an %s. Nothing was written.\n"
                            "  fix: BOARD=%s (and its firmware), or PORT= the %s board."
                            % (CHIP_DEFS[chip].CHIP_NAME, device, esp.CHIP_NAME, detected, CHIP_DEFS[chip].CHIP_NAME))
        offset = esp.BOOTLOADER_FLASH_OFFSET  # esptool's own chip data
        use_stub = stub if stub is not None else hook is None
        if use_stub:
            try:
                esp = cmds.run_stub(esp)
            except FatalError as e:  # e.g. a ROM that refuses RAM downloads: the ROM loader can do it all
                say("esptool's flasher stub did not start (%s); flashing through the ROM bootloader"
                    % str(e).split("\n")[0])
        if baud != ROM_BAUD:
            progress.switched = True
            esp.change_baud(baud)
        cmds.attach_flash(esp)
        size_name = cmds.detect_flash_size(esp) or "4MB"
        flash_size = flash_size_bytes(size_name)
        esp.flash_set_parameters(flash_size)  # the ROM loader's own idea of the size bounds its erases
        if offset + len(data) > flash_size:
            raise FirmwareRefused("refusing to flash: the firmware (%d bytes at 0x%x) does not fit the board's "
                                  "%s of flash. Nothing was written." % (len(data), offset, size_name))
        table_at = PARTITION_TABLE_OFFSET - offset
        problems = partition_table_problems(data[table_at:table_at + PARTITION_TABLE_SIZE], flash_size=flash_size)
        if problems:  # the ends of its partitions against this board's flash, before any erase or write
            raise refuse_partition_table("this firmware onto %s" % device, problems)
        present = micropython_on_board(esp)
        say("flash chip: %s; %s" % (size_name, ("MicroPython %s is on it" % present) if present else "no MicroPython on it"))
        erased = erase or not present
        if erased:
            progress.erased = True
            _erase_all(esp, flash_size, say)
        _track(esp, progress)
        padded = data + b"\xff" * (-len(data) % 4)
        payload = zlib.compress(padded, 9) if compress else padded
        progress.total_blocks = -(-len(payload) // esp.FLASH_WRITE_SIZE)
        say("writing %d bytes at 0x%x (%s, %d blocks) at %d baud"
            % (len(data), offset, "compressed to %d" % len(payload) if compress else "uncompressed",
               progress.total_blocks, baud))
        cmds.write_flash(esp, [(offset, data)], flash_size="keep", compress=compress, no_compress=not compress)
        md5 = esp.flash_md5sum(offset, len(padded))
        if md5 != hashlib.md5(padded).hexdigest():
            raise FlashError("the flash does not hold what was written (MD5 %s, expected %s)"
                             % (md5, hashlib.md5(padded).hexdigest()))
        say("verified: MD5 %s over %d bytes at 0x%x" % (md5, len(padded), offset))
        _reset_into_app(esp, modem, hook, link, say)
        esp._port.baudrate = ROM_BAUD  # MicroPython's REPL rate: listen from the first byte of its boot
        ok = True
        return esp, offset, md5, erased
    finally:
        if not ok:
            progress.hung_up = _hung_up(watch)
            try:
                esp._port.close()
            except Exception:
                pass
        if watch is not None:
            os.close(watch)


# What a serial line that fails mid-command raises through esptool and pyserial (termios.error is no
# OSError: pyserial setting the port of a board that has just gone away)
try:
    from termios import error as _termios_error
except ImportError:  # Windows
    _termios_error = OSError
LINE_ERRORS = (FatalError, serial.SerialException, OSError, _termios_error)


def _watch(port):
    """A file descriptor of our own on the open port (pyserial closes its own when the line fails)."""
    try:
        return os.dup(port.fileno())
    except (OSError, ValueError, AttributeError, serial.SerialException):
        return None


def _hung_up(fd):
    """Whether the port we held hung up (POLLHUP: the USB device or the pty's other end went away).
    Asked of the file we hold, not of the device's path: another program may have a new device of
    the same name by now (a pty number is reused at once on a busy machine)."""
    if fd is None:
        return False
    p = select.poll()
    p.register(fd, select.POLLIN)
    return any(ev & (select.POLLHUP | select.POLLERR) for _, ev in p.poll(0))


def _gone(device, progress):
    return progress.hung_up or ("://" not in device and not os.path.exists(device))


def _interrupted(device, progress, error):
    where = ("after %d of %d blocks (%d%%)" % (progress.blocks, progress.total_blocks,
                                               100 * progress.blocks // max(1, progress.total_blocks))
             if progress.started else "before the write began")
    if _gone(device, progress):
        cause = "the serial link dropped: the board was unplugged or reset, or the USB cable or hub let go (%s)" % error
    else:
        cause = "the board stopped answering (%s)" % str(error).split("\n")[0]
    now = ("the flash holds a partial image: the board will not start MicroPython until a write completes"
           if progress.started else "the flash was erased: the board will not start MicroPython until a write "
           "completes" if progress.erased else "nothing was written")
    return LinkDropped("the flash was interrupted %s on %s.\n  cause: %s.\n  now: %s.\n  fix: reconnect the board "
                       "(a short data cable, straight into the computer), then run the same command again: it "
                       "starts over and completes." % (where, device, cause, now))


def flash(board="esp32", port=None, firmware=None, version=None, *, erase=False, baud=None, compress=True,
          stub=None, wait_banner=True, banner_timeout=10.0, interactive=None, say=None, quiet_esptool=False,
          hooks=None):
    """Flashes MicroPython onto an ESP32 board; returns a FlashResult, raises FlashError (with the
    cause and the fix) or ports.PortError / firmware_cache.FirmwareError. hooks: Hooks, for
    emulated boards (given by the caller that started them)."""
    hooks = hooks or Hooks()
    say = say or (lambda msg: print("flash: " + msg, flush=True))
    t0 = time.monotonic()
    chip = board_chip(board)
    if firmware:
        path = pathlib.Path(firmware)
        if not path.is_file():
            raise FirmwareRefused("there is no firmware file %s" % firmware)
    else:
        path = firmware_cache.fetch(board, version, say=say)
    data = path.read_bytes()
    info = inspect_firmware(data, str(path))
    say("firmware %s: %s %s for %s, %d bytes" % (path, info.project, info.version,
                                                  CHIP_DEFS[info.chip].CHIP_NAME, len(data)))
    profile = board_profile(board)
    device = ports.resolve_port(port, interactive=interactive, say=say, board=profile,
                                extra=() if port else hooks.ports())
    held = ports.holders(device, exclude=hooks.pids())
    if held:
        raise ports.PortError(ports.busy_message(device, held))
    link = hooks.link(device) or {}
    if link.get("stub") is False and stub is not False:
        if stub:
            say("no flasher stub on this board: %s" % link.get("why", "it cannot run one"))
        stub = False
    if link.get("baud") and baud != link["baud"]:
        if baud:
            say("%d baud on this board, not %d: %s" % (link["baud"], baud, link.get("why", "")))
        baud = link["baud"]
    baud = baud or DEFAULT_BAUD
    bauds = [baud] + ([ROM_BAUD] if baud > ROM_BAUD else [])
    if quiet_esptool:
        esptool_log.set_verbosity("silent")
    try:
        for attempt, rate in enumerate(bauds):
            progress = _Progress()
            try:
                esp, offset, md5, erased = _session(device, data, info, chip, rate, erase, compress, stub, say,
                                                    progress, hooks.reset(device), link)
                break
            except (FlashError, ports.PortError):
                raise
            except LINE_ERRORS as e:
                if progress.switched and not _gone(device, progress) and attempt + 1 < len(bauds):
                    say("%d baud failed (%s); flashing again at %d" % (rate, str(e).split("\n")[0], bauds[attempt + 1]))
                    continue
                raise _interrupted(device, progress, e) from e
            except KeyboardInterrupt:
                raise _interrupted(device, progress, "interrupted by the user")
    finally:
        if quiet_esptool:
            esptool_log.set_verbosity("auto")
    result = FlashResult(device, chip, offset, len(data), md5, erased, rate, compress,
                         (progress.ended or t0) - (progress.started or t0), 0.0, progress.wire_bytes)
    ser = esp._port
    try:
        if wait_banner:
            found, ser = wait_for_micropython(ser, device, banner_timeout)
            if found is None:
                raise FlashError("flashed and verified, but no MicroPython prompt appeared on %s within %.0f s.\n"
                                 "  fix: press EN (RST) on the board and watch the port (`mpremote connect %s`); "
                                 "if it still stays silent, flash again with ERASE=1." % (device, banner_timeout, device))
            result.banner, result.version, result.mpy_abi, result.mpy_arch = found
    finally:
        try:
            ser.close()
        except Exception:
            pass
    result.total_seconds = time.monotonic() - t0
    if result.banner:
        say(result.banner)
    if result.mpy_abi:
        natmod = REPO / "dist" / ("%s_%s" % (result.mpy_arch, result.mpy_abi)) / "tinyml_kernels.mpy"
        say("ready for `make deploy`: MicroPython %s, .mpy ABI %s, arch %s (native kernels %s)"
            % (result.version, result.mpy_abi, result.mpy_arch,
               natmod.relative_to(REPO) if natmod.exists() else "not built for it: the viper backend will be used"))
    say("done in %.1f s" % result.total_seconds)
    return result
