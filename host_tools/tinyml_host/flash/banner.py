"""After a flash: MicroPython's banner on the serial port, and what its REPL says about itself
(version, .mpy ABI and arch), so `make deploy` knows which native module the board takes."""
import re
import time

import serial

from tinyml_host.board import ports
from tinyml_host.board.diagnose import ARCHS  # MicroPython's MP_NATIVE_ARCH_* order (sys.implementation._mpy >> 10)

ROM_BAUD = 115200  # the ROM bootloader's rate, and MicroPython's UART REPL's


def read_for(ser, seconds, until=None):
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ser.timeout = max(0.01, min(0.1, deadline - time.monotonic()))
        part = ser.read(ser.in_waiting or 1)
        out += part
        if until and until in out:
            break
    return out


BANNER = re.compile(rb"MicroPython (v\S+) on ([\d-]+); ([^\r\n]+)")


def wait_for_micropython(ser, device, timeout=10.0):
    """(banner, version, .mpy ABI, arch) from the board's REPL, or None when none shows in time."""
    ser.baudrate = ROM_BAUD  # MicroPython's UART REPL rate, whatever the flash used
    seen = b""
    deadline = time.monotonic() + timeout
    poked = False
    while time.monotonic() < deadline:
        try:
            seen += read_for(ser, min(1.0, deadline - time.monotonic()), b">>> ")
        except (serial.SerialException, OSError):  # native USB re-enumerates after the reset
            ser.close()
            time.sleep(0.3)
            try:
                ser = ports.open_serial(device, ROM_BAUD)
            except ports.PortError:
                continue
        if b">>> " in seen:
            break
        if not poked and time.monotonic() > deadline - timeout / 2:
            try:
                ser.write(b"\r\x03")  # a banner printed before we listened: ask for a prompt
                poked = True
            except (serial.SerialException, OSError):
                pass
    if b">>> " not in seen:
        return None, ser
    m = BANNER.search(seen)
    banner = m.group(0).decode(errors="replace") if m else None
    try:
        ser.write(b"\r\x03\x03\x01")  # raw REPL
        read_for(ser, 2.0, b"raw REPL; CTRL-B to exit\r\n>")
        ser.write(b"import sys\nprint(sys.implementation.version, getattr(sys.implementation, '_mpy', 0), "
                  b"sys.platform)\x04")
        out = read_for(ser, 3.0, b"\x04>")
        ser.write(b"\x02")
        read_for(ser, 0.5, b">>> ")
    except (serial.SerialException, OSError):
        out = b""
    q = re.search(rb"OK\((\d+), (\d+), (\d+)[^)]*\) (\d+) (\w+)", out)
    if not q:
        return (banner, m.group(1).decode() if m else None, None, None), ser
    version = "%s.%s.%s" % (q.group(1).decode(), q.group(2).decode(), q.group(3).decode())
    mpy = int(q.group(4))
    abi = "%d.%d" % (mpy & 0xFF, mpy >> 8 & 3) if mpy else None
    arch_index = mpy >> 10 & 0x0F
    arch = ARCHS[arch_index] if mpy and arch_index < len(ARCHS) else None
    return (banner, version, abi, arch), ser
