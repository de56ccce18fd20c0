"""The flash chip: NOR flash in a file (erased bytes are 0xFF, programming only clears bits), and
what it answers on the SPI bus (JEDEC ID, SFDP)."""

import hashlib
import mmap
import pathlib

KB = 1024
MB = 1024 * 1024
SECTOR = 0x1000


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
