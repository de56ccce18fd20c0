"""What a board's answers mean, as errors with their cause and fix: the link's error classes, a
board that does not answer (bootloader, silence, wrong baud rate, another program on the port), a
.mpy the board cannot import (version, sub-version, arch), a MemoryError on the board. link.py and
deploy.py raise them; every name is also reachable as tinyml_host.board.link.<name>."""
import re

from tinyml_host.board import ports
from tinyml_host.errors import BoardError

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


def memory_error(traceback, free=None, heap=None, largest=None):
    """A DeviceMemoryError from a board's MemoryError traceback, with the heap as it is after a collection
    (free bytes, its size, the largest block one allocation gets): a heap in pieces (the block needed, or
    most of what is free, not in one piece) is told from a heap too small, each with its own fix."""
    m = re.search(r"allocating (\d+) bytes", traceback)
    needed = int(m.group(1)) if m else None
    parts = ["the board ran out of memory (MemoryError)"]
    if needed is not None:
        parts.append("it needed a block of %d bytes" % needed)
    if free is not None:
        parts.append("%d bytes are free%s after a collection%s" % (
            free, " of a %d-byte heap" % heap if heap else "",
            ", the largest free block %d bytes" % largest if largest is not None else ""))
    fragmented = largest is not None and free is not None and (
        largest < needed <= free if needed is not None else largest < free // 2)
    if fragmented:
        fix = (". The heap is in pieces (fragmented), not full: a soft reset gives it back in one piece "
               "(Ctrl-D at the REPL, or machine.soft_reset(); every tinyml command starts from one). In your "
               "own code load the model first, before other large allocations, and keep nothing else beside it")
    else:
        held = needed is not None and largest is not None and needed <= largest
        fix = ((". Those bytes were free only once the failed code's own objects (a model being loaded) were gone: "
                "together they need more than this heap" if held else ". The heap is too small for this") +
               ": use a smaller weight window (--window 2048; "
               "tinyml.load(path, window=2048)), another backend (--backend; tinyml bench MODEL shows each "
               "one's RAM), or a bigger heap (an emulated board: --heap) or a board with more RAM")
    msg = ", ".join(parts) + fix
    err = DeviceMemoryError(msg + "\n" + traceback.strip(), traceback, needed, free)
    err.largest, err.fragmented = largest, fragmented
    return err
