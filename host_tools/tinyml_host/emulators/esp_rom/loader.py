"""The ROM loader's commands: one request frame in, its reply frames out.

What it speaks: the ROM loader protocol esptool uses *without its stub* (we run no CPU, so there is
no stub to upload; esptool's docs/en/advanced-topics/serial-protocol.rst): SYNC (eight replies, as
the ROM sends); READ_REG / WRITE_REG (registers.py); GET_SECURITY_INFO (how esptool 5 tells the C3
from the others; the ESP32 ROM rejects it, as the real one does); SPI_ATTACH; SPI_SET_PARAMS;
FLASH_BEGIN / FLASH_DATA / FLASH_END and FLASH_DEFL_BEGIN / _DATA / _END (erase on begin, NOR
semantics: programming only clears bits; XOR checksum checked; zlib stream inflated); SPI_FLASH_MD5
(32 hex digits, as the ROM answers); READ_FLASH_SLOW (64-byte blocks); CHANGE_BAUDRATE (answered at
the old rate, then switched). Replies carry the ROM's four status bytes (status, error, 0, 0) and
its error codes. RAM download (MEM_*) is refused: no CPU. Only the esp32 ROM's FLASH_BEGIN takes
four words; the C3's takes five.
"""

import struct
import zlib

from tinyml_host.emulators.esp_rom.registers import Registers
from tinyml_host.emulators.esp_rom.slip import slip_encode

OPS = {
    0x02: "FLASH_BEGIN", 0x03: "FLASH_DATA", 0x04: "FLASH_END", 0x05: "MEM_BEGIN", 0x06: "MEM_END",
    0x07: "MEM_DATA", 0x08: "SYNC", 0x09: "WRITE_REG", 0x0A: "READ_REG", 0x0B: "SPI_SET_PARAMS",
    0x0D: "SPI_ATTACH", 0x0E: "READ_FLASH_SLOW", 0x0F: "CHANGE_BAUDRATE", 0x10: "FLASH_DEFL_BEGIN",
    0x11: "FLASH_DEFL_DATA", 0x12: "FLASH_DEFL_END", 0x13: "SPI_FLASH_MD5", 0x14: "GET_SECURITY_INFO",
}
SYNC = 0x08
SYNC_PAYLOAD = b"\x07\x07\x12\x20" + 32 * b"\x55"
# ROM error codes, sent after status byte 1
INVALID_MESSAGE, FAILED_TO_ACT, BAD_CHECKSUM, FLASH_WRITE_ERR, FLASH_READ_ERR, READ_LENGTH_ERR, INFLATE_ERR = (
    0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B)


class RomError(Exception):
    """A command the ROM answers with status 1 and this error code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Loader:
    """The ROM in download mode. on_data_block() is called for each flash data block and returns
    False when the link dropped on it; on_flash_end(run_user_code) leaves the loader."""

    def __init__(self, chip, flash, line, on_data_block, on_flash_end):
        self.chip, self.flash, self.line = chip, flash, line
        self.registers = Registers(chip, flash, line)
        self.on_data_block, self.on_flash_end = on_data_block, on_flash_end
        self.commands = []  # every command seen, by name
        self.reset()

    def reset(self):
        """A chip reset: no write in progress, and the baud rate measured again on the next SYNC."""
        self._write = None  # the FLASH_BEGIN / FLASH_DEFL_BEGIN in progress
        self.autobaud = True

    def request(self, frame):
        """One SLIP frame from the host: returns (reply frames, then), then being what to do once
        they are sent (or None). Not a request: no reply, the ROM ignores it."""
        if len(frame) < 8 or frame[0] != 0x00:
            return [], None
        _, op, size, checksum = struct.unpack_from("<BBHI", frame)
        payload = frame[8:]
        self.commands.append(OPS.get(op, "0x%02x" % op))
        then = None
        try:
            if size != len(payload) or op not in self.HANDLERS:
                raise RomError(INVALID_MESSAGE)
            value, data, then = (self.HANDLERS[op](self, payload, checksum) + (None,))[:3]
            status = b"\x00\x00\x00\x00"
        except RomError as e:
            value, data, status = 0, b"", bytes([1, e.code, 0, 0])
        body = data + status
        reply = slip_encode(struct.pack("<BBHI", 0x01, op, len(body), value) + body)
        if op == SYNC:
            self.autobaud = False  # the rate is the one the SYNC came at, from now on
            return 8 * [reply], then  # the ROM answers a SYNC eight times
        return [reply], then

    # ---- command handlers: (value, data[, then]) or RomError
    def _sync(self, payload, _):
        if payload != SYNC_PAYLOAD:
            raise RomError(INVALID_MESSAGE)
        return struct.unpack("<I", payload[:4])[0], b""

    def _read_reg(self, payload, _):
        if len(payload) != 4:
            raise RomError(INVALID_MESSAGE)
        addr, = struct.unpack("<I", payload)
        return self.registers.read(addr), b""

    def _write_reg(self, payload, _):
        if not payload or len(payload) % 16:
            raise RomError(INVALID_MESSAGE)
        for i in range(0, len(payload), 16):
            addr, value, mask, _delay = struct.unpack_from("<IIII", payload, i)
            self.registers.write(addr, value, mask)
        return 0, b""

    def _get_security_info(self, payload, _):
        if self.chip.security_info is None:
            raise RomError(INVALID_MESSAGE)  # not in this ROM
        return 0, self.chip.security_info

    def _spi_attach(self, payload, _):
        if len(payload) != 8:
            raise RomError(INVALID_MESSAGE)
        return 0, b""

    def _spi_set_params(self, payload, _):
        if len(payload) != 24:
            raise RomError(INVALID_MESSAGE)
        _id, total, _block, _sector, _page, _mask = struct.unpack("<6I", payload)
        if total > self.flash.size:
            raise RomError(FAILED_TO_ACT)
        return 0, b""

    def _change_baudrate(self, payload, _):
        if len(payload) != 8:
            raise RomError(INVALID_MESSAGE)
        new, _old = struct.unpack("<II", payload)
        if not 300 <= new <= 5_000_000:
            raise RomError(INVALID_MESSAGE)

        def switch():
            self.line.baud = new
        return 0, b"", switch

    def _flash_begin(self, payload, _, compressed=False):
        if len(payload) != 4 * self.chip.flash_begin_words:
            raise RomError(INVALID_MESSAGE)
        erase_size, _blocks, block_size, offset = struct.unpack_from("<IIII", payload)
        if offset + erase_size > self.flash.size or block_size > 0x4000:
            raise RomError(FAILED_TO_ACT)
        self.flash.erase(offset, erase_size)
        self._write = {"offset": offset, "block_size": block_size, "pos": offset, "compressed": compressed,
                       "inflate": zlib.decompressobj() if compressed else None}
        return 0, b""

    def _flash_defl_begin(self, payload, checksum):
        return self._flash_begin(payload, checksum, compressed=True)

    def _flash_data(self, payload, checksum, compressed=False):
        w = self._write
        if w is None or w["compressed"] != compressed or len(payload) < 16:
            raise RomError(FAILED_TO_ACT if w is None else INVALID_MESSAGE)
        size, seq, _, _ = struct.unpack_from("<IIII", payload)
        data = payload[16:]
        if size != len(data) or (not compressed and size != w["block_size"]):
            raise RomError(INVALID_MESSAGE)
        if (0xEF ^ _xor(data)) != checksum & 0xFF:
            raise RomError(BAD_CHECKSUM)
        if not self.on_data_block():
            return 0, b""  # the link dropped on this block: nothing written, no reply
        if compressed:
            try:
                data = w["inflate"].decompress(data)
            except zlib.error:
                raise RomError(INFLATE_ERR)
            pos = w["pos"]
        else:
            pos = w["offset"] + seq * w["block_size"]
        if not self.flash.program(pos, data):  # beyond the chip, or onto bytes not erased
            raise RomError(FLASH_WRITE_ERR)
        w["pos"] = pos + len(data)
        return 0, b""

    def _flash_defl_data(self, payload, checksum):
        return self._flash_data(payload, checksum, compressed=True)

    def _flash_end(self, payload, _):
        if len(payload) != 4:
            raise RomError(INVALID_MESSAGE)
        run_user_code, = struct.unpack("<I", payload)
        self._write = None
        return 0, b"", lambda: self.on_flash_end(run_user_code)

    def _spi_flash_md5(self, payload, _):
        if len(payload) != 16:
            raise RomError(INVALID_MESSAGE)
        addr, size, _, _ = struct.unpack("<IIII", payload)
        if addr + size > self.flash.size:
            raise RomError(FLASH_READ_ERR)
        return 0, self.flash.md5(addr, size).encode()

    def _read_flash_slow(self, payload, _):
        if len(payload) != 8:
            raise RomError(INVALID_MESSAGE)
        addr, size = struct.unpack("<II", payload)
        if size > 64:
            raise RomError(READ_LENGTH_ERR)
        if addr + size > self.flash.size:
            raise RomError(FLASH_READ_ERR)
        return 0, self.flash.read(addr, size).ljust(64, b"\0")

    def _mem_refused(self, payload, _):
        raise RomError(INVALID_MESSAGE)  # RAM download: there is no CPU to run what is loaded

    HANDLERS = {0x02: _flash_begin, 0x03: _flash_data, 0x04: _flash_end, 0x05: _mem_refused,
                0x06: _mem_refused, 0x07: _mem_refused, SYNC: _sync, 0x09: _write_reg, 0x0A: _read_reg,
                0x0B: _spi_set_params, 0x0D: _spi_attach, 0x0E: _read_flash_slow,
                0x0F: _change_baudrate, 0x10: _flash_defl_begin, 0x11: _flash_defl_data,
                0x12: _flash_end, 0x13: _spi_flash_md5, 0x14: _get_security_info}


def _xor(data):
    """XOR of all bytes (the ROM's block checksum before its 0xEF seed)."""
    n = int.from_bytes(data, "little")
    x = 0
    while n:
        x ^= n & 0xFFFFFFFFFFFFFFFF
        n >>= 64
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    return x & 0xFF
