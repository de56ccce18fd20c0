"""Serial ports, for every caller (esptool flashing and the MicroPython link alike).

Which port a board is on: explicit PORT, else TINYML_PORT, else the config file
(~/.config/tinyml/config.toml: `port = "/dev/ttyUSB0"`), else the USB serial devices whose
vendor:product IDs are the board profile's, or for ESP32 boards the bridges they use (and running
emulated ROM bootloaders). Several matches: a choice at a terminal, otherwise an error that lists
them.

Also the diagnosis of a port that cannot be used, as cause and fix: no such device (with the ports
there are), permission denied (the dialout group), busy (which program holds it), not a serial
port, vanished."""

import dataclasses
import errno
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys

from tinyml_host.errors import BoardError

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

# vendor ID, product ID (None: any) -> what it is
USB_SERIAL_IDS = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x10C4, 0xEA70): "Silicon Labs CP2105",
    (0x10C4, 0xEA71): "Silicon Labs CP2108",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x5523): "WCH CH341",
    (0x1A86, 0x55D3): "WCH CH343",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x0403, 0x6011): "FTDI FT4232",
    (0x0403, 0x6014): "FTDI FT232H",
    (0x0403, 0x6015): "FTDI FT231X",
    (0x303A, 0x1001): "Espressif USB-Serial/JTAG",
    (0x303A, None): "Espressif native USB",
}
WHICH_PORT = "PORT=/dev/ttyUSB0 (make), --port (tinyml) or TINYML_PORT"


class PortError(BoardError):
    """A port that cannot be found or used; the message says why and what to do."""


@dataclasses.dataclass
class Candidate:
    device: str
    description: str
    vid: int = None
    pid: int = None
    emulated: bool = False

    def __str__(self):
        ids = " [%04X:%04X]" % (self.vid, self.pid) if self.vid is not None else ""
        return "%s  %s%s" % (self.device, self.description, ids)


# ---------------------------------------------------------------- finding the port

def config_path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return os.environ.get("TINYML_CONFIG") or os.path.join(base, "tinyml", "config.toml")


def read_config():
    """The tinyml config file as a dict ({} when there is none)."""
    path = config_path()
    if not os.path.exists(path) or tomllib is None:
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, ValueError) as e:
        raise PortError("cannot read %s: %s" % (path, e))


def default_port():
    """(port, where it came from) from TINYML_PORT or the config file, or (None, None)."""
    if os.environ.get("TINYML_PORT"):
        return os.environ["TINYML_PORT"], "TINYML_PORT"
    port = read_config().get("port")
    if port:
        return str(port), config_path()
    return None, None


def _usb_match(vid, pid, usb_ids):
    if vid is None:
        return None
    for (v, p), name in usb_ids.items():
        if v == vid and (p is None or p == pid):
            return name
    return None


def _esp(board):
    return board is None or board.is_esp


def candidates(usb_ids=None, board=None, extra=()):
    """Serial devices that may be the board: those the board's profile names (boards/<name>.toml
    usb_ids); for ESP32 boards (or no board) also the USB bridges ESP32 boards use, then `extra`
    (Candidates the caller knows of: running emulated ROM bootloaders)."""
    from serial.tools import list_ports
    if usb_ids is None:
        usb_ids = USB_SERIAL_IDS if _esp(board) else {}
    found = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        name = _usb_match(p.vid, p.pid, usb_ids)
        if not name and board is not None and p.vid is not None and board.matches_usb(p.vid, p.pid):
            name = "USB serial of %s" % board.name
        if name:
            desc = name + (" (%s)" % p.product if p.product and p.product not in name else "")
            found.append(Candidate(p.device, desc, p.vid, p.pid))
    if _esp(board):
        found += list(extra)
    return found


def resolve_port(port=None, usb_ids=None, interactive=None, say=print, board=None, extra=()):
    """The port to use: explicit, TINYML_PORT, the config file, or the one USB serial board
    plugged in (a choice at a terminal when there are several). board: a boards.Board profile."""
    if port:
        return port
    port, source = default_port()
    if port:
        say("port %s (from %s)" % (port, source))
        return port
    found = candidates(usb_ids, board, extra)
    if len(found) == 1:
        say("port %s: %s" % (found[0].device, found[0].description))
        return found[0].device
    if not found:
        raise PortError(no_port_message(board=board))
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    listing = "\n".join("  %d) %s" % (i + 1, c) for i, c in enumerate(found))
    if not interactive:
        raise PortError("several serial ports could be the board:\n%s\nsay which: PORT=<device> (make), "
                        "--port (tinyml), or TINYML_PORT / `port = ...` in %s" % (listing, config_path()))
    print("several serial ports could be the board:\n" + listing)
    while True:
        answer = input("which one [1-%d]? " % len(found)).strip()
        if answer.isdigit() and 1 <= int(answer) <= len(found):
            return found[int(answer) - 1].device
        if answer in [c.device for c in found]:
            return answer


# ---------------------------------------------------------------- what is wrong with a port

def port_list():
    """The serial ports this machine has, one line each (device, USB id, description)."""
    from serial.tools import list_ports
    rows = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        usb = " %04x:%04x" % (p.vid, p.pid) if p.vid is not None and p.pid is not None else ""
        desc = p.description if p.description and p.description != "n/a" else ""
        rows.append(("%s%s %s" % (p.device, usb, desc)).strip())
    return rows


def ports_here():
    """The serial ports there are, as a line to end a message with."""
    rows = port_list()
    if not rows:
        return ("no serial ports at all here: a board in its USB bootloader (RP2040 BOOTSEL: a drive named "
                "RPI-RP2; STM32 DFU) has no serial port until it is reset without the boot button")
    return "serial ports here: " + "; ".join(rows)


def no_port_message(device=None, board=None):
    """Cause and fix for a port that does not exist (device), or no board found on USB."""
    if device:
        head = "there is no serial device %s" % device
        cause = ("%s does not exist: the board is not plugged in, its cable carries power only, it is on "
                 "another port, or the name is mistyped" % device)
    else:
        ids = "" if _esp(board) else " (USB ids %s)" % (", ".join(board.usb_ids) or "none in its profile")
        head = "no %s board found on USB%s" % ("ESP32" if _esp(board) else board.name, ids)
        cause = "the board is not plugged in, its cable carries power only, or it is on another port"
    return ("%s.\n  cause: %s.\n  fix: plug it in with a data USB cable (the board's power LED is not enough: "
            "`ls /dev/ttyUSB* /dev/ttyACM*` should show a new device), or say which port with %s.\n  %s."
            % (head, cause, WHICH_PORT, ports_here()))


def _describe_pid(pid):
    """'NAME (command line)' of a process, or '?'."""
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = " ".join(c.decode("utf-8", "replace") for c in f.read().split(b"\0") if c)
        with open("/proc/%s/comm" % pid) as f:
            name = f.read().strip()
    except OSError:
        return "?"
    return "%s (%s)" % (name, cmd[:120])


def _opens(fd_link, target):
    try:
        return os.path.realpath(os.readlink(fd_link)) == target
    except OSError:
        return False


def holders(device, exclude=()):
    """(pid, 'NAME (command line)') of the other processes that have device open: from /proc/*/fd
    (other users' processes are visible to root only), else from `fuser`."""
    try:
        target = os.path.realpath(device)
    except (TypeError, ValueError, OSError):
        return []
    skip = {os.getpid(), *exclude}
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        pids = []
    found = []
    for pid in pids:
        if pid in skip:
            continue
        fd_dir = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        if any(_opens(os.path.join(fd_dir, fd), target) for fd in fds):
            found.append((pid, _describe_pid(pid)))
    if not found and shutil.which("fuser"):
        try:
            out = subprocess.run(["fuser", target], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for word in out.split():
            word = word.rstrip("cefFrm")
            if word.isdigit() and int(word) not in skip:
                found.append((int(word), _describe_pid(word)))
    return found


def describe_holders(who):
    """'pid 123 NAME (command line); ...' of holders()."""
    return "; ".join("pid %d %s" % (pid, what) for pid, what in who)


def busy_message(device, who=None):
    who = who if who is not None else holders(device)
    if who:
        cause = "it is open in another program (%s)" % describe_holders(who)
        fix = ("close that program (a serial monitor or terminal, mpremote, Thonny, an IDE's serial monitor, "
               "screen, minicom, another flash) or `kill %s`, then run again"
               % " ".join(str(pid) for pid, _ in who))
    else:
        cause = ("another program holds it, one this user cannot see (another user's, or ModemManager "
                 "probing a new device), or a lock")
        fix = ("close serial monitors, mpremote, Thonny, screen, minicom or another flash (`sudo fuser -v %s` "
               "names it), then run again" % device)
    return "the port %s is busy.\n  cause: %s.\n  fix: %s." % (device, cause, fix)


def permission_message(device):
    try:
        st = os.stat(device)
        group = grp.getgrgid(st.st_gid).gr_name
        owner = pwd.getpwuid(st.st_uid).pw_name
        mode = stat.filemode(st.st_mode)
    except (OSError, KeyError):
        group, owner, mode = "dialout", "root", "?"
    user = pwd.getpwuid(os.getuid()).pw_name
    return ("permission denied opening %s (%s %s:%s).\n  cause: your user %s is not in the group %s, "
            "which may read and write serial ports.\n  fix: `sudo usermod -aG %s %s`, then log out and back "
            "in (or run `newgrp %s` in this shell)."
            % (device, mode, owner, group, user, group, group, user, group))


def open_error_message(device, exc, baud=None):
    """Cause and fix for an exception raised opening device (pyserial SerialException / OSError;
    the errno in .errno or args[0], or only in the text)."""
    code = getattr(exc, "errno", None)
    if code is None and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text or "Errno 2]" in text:
        return no_port_message(device)
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text or "Errno 13]" in text:
        return permission_message(device)
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text \
            or "busy" in text or "Errno 11]" in text or "Errno 16]" in text:
        return busy_message(device)
    if code == errno.ENOTTY or "Inappropriate ioctl" in text:
        return ("%s is not a serial port.\n  cause: it does not answer terminal ioctls (a file, or a device of "
                "another kind).\n  fix: give the board's serial port: %s.\n  %s." % (device, WHICH_PORT, ports_here()))
    if code in (errno.ENXIO, errno.ENODEV, errno.EIO):
        return ("the serial port %s vanished or does not answer (%s).\n  cause: the board was unplugged, or "
                "reset into its bootloader.\n  fix: reconnect it, then run again.\n  %s." % (device, text, ports_here()))
    return "cannot open %s%s: %s" % (device, " at %d baud" % baud if baud else "", text)


def open_serial(device, baud=115200, exclusive=True):
    """Opens the port with pyserial, turning failures into PortError with cause and fix."""
    import serial
    try:
        ser = serial.serial_for_url(device, baudrate=baud, exclusive=exclusive, do_not_open=True)
        ser.open()
        return ser
    except (serial.SerialException, OSError, ValueError) as e:
        raise PortError(open_error_message(device, e, baud)) from e


def has_modem_lines(ser):
    """Whether DTR/RTS can be driven (a USB bridge: yes; a pty, socket or pipe: no)."""
    if not hasattr(ser, "fileno"):
        return False
    try:
        import fcntl
        import termios
        fcntl.ioctl(ser.fileno(), termios.TIOCMGET, b"\0\0\0\0")
        return True
    except (OSError, AttributeError, NotImplementedError):
        return False
