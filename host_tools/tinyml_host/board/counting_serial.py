# The serial port under the link (board/link.py): pyserial's Serial wrapped to count the bytes on the
# wire, with a push-back buffer, and a read that never waits (another program on the port may take
# the bytes select() announced).
import os

import serial


class WireCounter:
    """Bytes on the wire: tx sent to the board, rx received from it."""

    def __init__(self):
        self.tx = 0
        self.rx = 0


class CountingSerial:
    """A serial port that counts the bytes written and read (wraps pyserial's Serial), with a
    push-back buffer so that bytes read ahead by the Link are seen first by the next reader
    (mpremote's own functions included)."""

    def __init__(self, port, counter):
        self._port = port
        self.counter = counter
        self.pending = bytearray()

    def write(self, data):
        self.counter.tx += len(data)
        return self._port.write(data)

    def read(self, size=1):
        if self.pending:
            data = bytes(self.pending[:size])
            del self.pending[:size]
            return data
        data = self._port.read(size)
        self.counter.rx += len(data)
        return data

    def unread(self, data):
        self.pending[:0] = data

    def read_available(self, size):
        """What the port holds now, up to size bytes, never waiting: b"" when another program
        reading the same port took the bytes select() saw (pyserial's read would wait for them forever)."""
        if self.pending:
            return self.read(size)
        try:
            data = os.read(self._port.fileno(), size)
        except BlockingIOError:
            return b""
        except OSError as e:
            raise serial.SerialException(str(e))
        if not data:  # a pty whose other end is gone
            raise serial.SerialException("the port was closed (end of file)")
        self.counter.rx += len(data)
        return data

    @property
    def in_waiting(self):
        return len(self.pending) + self._port.in_waiting

    def inWaiting(self):
        return self.in_waiting

    def __getattr__(self, name):
        return getattr(self._port, name)
