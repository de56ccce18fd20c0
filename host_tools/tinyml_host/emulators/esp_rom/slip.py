"""SLIP framing, as the ESP ROM loader uses it: 0xC0 around each packet, 0xDB escapes."""


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
