"""Which serial port a board is on: explicit PORT, else TINYML_PORT, else the config file
(~/.config/tinyml/config.toml: `port = "/dev/ttyUSB0"`), else the USB serial devices whose
vendor:product IDs are the bridges ESP32 boards use (and running emulated boards). Several
matches: a choice at a terminal, otherwise an error that lists them.

Also the diagnosis of a port that cannot be used, as cause and fix: no such device, permission
denied (the dialout group), busy (which program holds it)."""

import dataclasses
import errno
import grp
import os
import pwd
import stat
import sys

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


class PortError(Exception):
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


def candidates(usb_ids=None, board=None):
    """Serial devices that look like an ESP32 board: the USB bridges ESP32 boards use, and those
    the board's profile names (boards/<name>.toml usb_ids), then running emulated boards."""
    from serial.tools import list_ports
    usb_ids = usb_ids or USB_SERIAL_IDS
    found = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        name = _usb_match(p.vid, p.pid, usb_ids)
        if not name and board is not None and p.vid is not None and board.matches_usb(p.vid, p.pid):
            name = "USB serial of %s" % board.name
        if name:
            desc = name + (" (%s)" % p.product if p.product and p.product not in name else "")
            found.append(Candidate(p.device, desc, p.vid, p.pid))
    try:
        from tinyml_host import esp_rom
        for e in esp_rom.running_emulators():
            found.append(Candidate(e["device"], "emulated %s ROM bootloader (pid %d)" % (e["chip"].upper(), e["pid"]),
                                   emulated=True))
    except Exception:
        pass
    return found


def resolve_port(port=None, usb_ids=None, interactive=None, say=print, board=None):
    """The port to use: explicit, TINYML_PORT, the config file, or the one USB serial board
    plugged in (a choice at a terminal when there are several). board: a boards.Board profile."""
    if port:
        return port
    port, source = default_port()
    if port:
        say("port %s (from %s)" % (port, source))
        return port
    found = candidates(usb_ids, board)
    if len(found) == 1:
        say("port %s: %s" % (found[0].device, found[0].description))
        return found[0].device
    if not found:
        raise PortError(no_port_message())
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


def no_port_message(device=None):
    from serial.tools import list_ports
    others = [p.device for p in list_ports.comports()]
    head = ("there is no serial device %s" % device) if device else "no ESP32 board found on USB"
    return ("%s.\n  cause: the board is not plugged in, its cable carries power only, or it is on another "
            "port.\n  fix: plug it in with a data USB cable (the board's power LED is not enough: `ls "
            "/dev/ttyUSB* /dev/ttyACM*` should show a new device), or say which port with PORT=/dev/ttyUSB0 "
            "(make), --port (tinyml) or TINYML_PORT.%s"
            % (head, ("\n  serial devices now: " + ", ".join(others)) if others else ""))


def holders(device, exclude=()):
    """(pid, command line) of the other processes that have device open."""
    try:
        target = os.path.realpath(device)
    except (TypeError, ValueError):
        return []
    found = []
    skip = {os.getpid(), *exclude}
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit() or int(pid) in skip:
            continue
        fd_dir = "/proc/%s/fd" % pid
        try:
            for fd in os.listdir(fd_dir):
                if os.path.realpath(os.path.join(fd_dir, fd)) == target:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                    found.append((int(pid), cmd or "?"))
                    break
        except OSError:
            continue
    return found


def busy_message(device, who=None):
    who = who if who is not None else holders(device)
    if who:
        names = "; ".join("pid %d: %s" % (pid, cmd[:80]) for pid, cmd in who)
        cause = "it is open in another program (%s)" % names
        fix = "close that program (a serial monitor, mpremote, screen, minicom, another flash) or `kill %s`, " \
              "then run again" % " ".join(str(pid) for pid, _ in who)
    else:
        cause = "another program holds it (one this user cannot see, or a lock)"
        fix = "close serial monitors, mpremote, screen, minicom or another flash, then run again"
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


def open_error_message(device, exc):
    """Cause and fix for an exception raised opening device (pyserial SerialException / OSError)."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text or "could not open port" in text and "Errno 2]" in text:
        return no_port_message(device)
    if code == errno.EACCES or "Permission denied" in text or "Errno 13]" in text:
        return permission_message(device)
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text \
            or "Resource busy" in text or "Errno 11]" in text or "Errno 16]" in text:
        return busy_message(device)
    return "cannot open %s: %s" % (device, text)


def open_serial(device, baud=115200, exclusive=True):
    """Opens the port with pyserial, turning failures into PortError with cause and fix."""
    import serial
    try:
        ser = serial.serial_for_url(device, baudrate=baud, exclusive=exclusive, do_not_open=True)
        ser.open()
        return ser
    except (serial.SerialException, OSError, ValueError) as e:
        raise PortError(open_error_message(device, e)) from e


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
