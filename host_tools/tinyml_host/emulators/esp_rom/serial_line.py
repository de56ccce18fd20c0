"""The UART between host and chip, on the pty's master end.

Bytes are paced at the baud rate (8N1: ten bit times a byte) in both directions unless pace=False.
The ROM's baud is compared with the one the host set on its end of the pty (a Linux pty master
reports the slave's termios), and when they differ, or the ROM's exceeds max_baud (a USB-serial
bridge that cannot keep up), both directions turn to garbage, as on a wire.
"""

import errno
import fcntl
import os
import struct
import termios
import time

ROM_BAUD = 115200

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
