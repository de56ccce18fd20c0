"""Which board a command talks to when it is given neither --board nor --port, as mpremote does:
the port named by TINYML_PORT or the config file, else the one USB serial port whose USB ids a real
board's profile names (boards/*.toml usb_ids, read through pyserial's list_ports), said aloud;
several: a choice at a terminal, else an error listing them; none: an error naming the emulated
boards. The emulated unix board is used only when asked for (--board unix)."""
import dataclasses
import sys

from tinyml_host.board import ports, profiles
from tinyml_host.errors import BoardError


class NoBoardError(BoardError):
    pass


@dataclasses.dataclass
class Attached:
    device: str
    description: str
    vid: int
    pid: int
    boards: list  # the names of the profiles whose USB ids match

    def __str__(self):
        return "%s  %s [%04X:%04X]: %s" % (self.device, self.description, self.vid, self.pid, ", ".join(self.boards))


def attached():
    """The USB serial ports here that a real board's profile matches by its USB ids."""
    from serial.tools import list_ports
    real = [b for b in profiles.all_boards() if not b.emulated and b.usb_ids]
    found = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is None or p.pid is None:
            continue
        names = [b.name for b in real if b.matches_usb(p.vid, p.pid)]
        if names:
            desc = p.product or (p.description if p.description not in (None, "n/a") else "USB serial")
            found.append(Attached(p.device, desc, p.vid, p.pid, names))
    return found


def _emulated_hint():
    emulated = [b.name for b in profiles.all_boards() if b.emulated]
    return ("for an emulated board say which: --board unix (MicroPython's unix port on this machine), "
            "--board qemu-m3 (a Cortex-M3 under QEMU)%s" % (
                "; also " + ", ".join(n for n in emulated if n not in ("unix", "qemu-m3")) if len(emulated) > 2 else ""))


def default_board(say=print, interactive=None):
    """(profile or None, port) of the board to use when none is named. The profile is the one whose
    USB ids match, None when several profiles share the ids (a USB bridge many ESP32 boards use): the
    board's arch is then read from the board itself."""
    port, source = ports.default_port()
    if port:
        say("board: the one on %s (from %s)" % (port, source))
        return None, port
    found = attached()
    if not found:
        raise NoBoardError("no board given (--board, --port) and none found on USB.\n  fix: plug a board in with a "
                           "data USB cable (the USB ids tinyml knows are in `tinyml board list`), or give --port; "
                           "%s.\n  %s." % (_emulated_hint(), ports.ports_here()))
    if len(found) > 1:
        listing = "\n".join("  %d) %s" % (i + 1, c) for i, c in enumerate(found))
        if interactive is None:
            interactive = sys.stdin.isatty() and sys.stdout.isatty()
        if not interactive:
            raise NoBoardError("several USB boards are attached:\n%s\nsay which with --port DEVICE (or --board NAME "
                               "--port DEVICE)" % listing)
        print("several USB boards are attached:\n" + listing)
        while True:
            answer = input("which one [1-%d]? " % len(found)).strip()
            if answer.isdigit() and 1 <= int(answer) <= len(found):
                found = [found[int(answer) - 1]]
                break
    one = found[0]
    prof = profiles.load(one.boards[0]) if len(one.boards) == 1 else None
    say("board: %s on %s (%s [%04X:%04X]; --board/--port choose another)" % (
        prof.name if prof else "the USB board", one.device, one.description, one.vid, one.pid))
    return prof, one.device
