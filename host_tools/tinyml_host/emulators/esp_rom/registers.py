"""The register file READ_REG / WRITE_REG reach: the chip's fixed values (chip-detect magic, eFuses
for the revision and MAC, the clock calibration esptool reads before CHANGE_BAUDRATE on the
ESP32), the UART clock divider, and the SPI controller's user-command engine, so esptool's
JEDEC-ID, SFDP and status reads reach the flash chip."""

from tinyml_host.emulators.esp_rom.flash_file import sfdp_table

# SPI flash commands the user-command engine answers
RDID, SFDP, RDSR, RDSR2, RDSR3 = 0x9F, 0x5A, 0x05, 0x35, 0x15
SPI_CMD_USR = 1 << 18
SPI_USR_ADDR = 1 << 30
SPI_USR_MISO = 1 << 28


class Registers:
    def __init__(self, chip, flash, line):
        self.chip, self.flash, self.line = chip, flash, line
        self._values = dict(chip.registers)
        L = chip.loader
        self._spi = {name: L.SPI_REG_BASE + offset for name, offset in (
            ("CMD", 0), ("ADDR", 4), ("USR", L.SPI_USR_OFFS), ("USR1", L.SPI_USR1_OFFS),
            ("USR2", L.SPI_USR2_OFFS), ("MISO_DLEN", L.SPI_MISO_DLEN_OFFS), ("W0", L.SPI_W0_OFFS))}

    def read(self, addr):
        L = self.chip.loader
        if addr == L.UART_CLKDIV_REG:  # the divider the ROM set for this baud from its 40 MHz clock
            return (40_000_000 // self.line.baud) & L.UART_CLKDIV_MASK
        return self._values.get(addr, 0)

    def write(self, addr, value, mask):
        self._values[addr] = (self._values.get(addr, 0) & ~mask) | (value & mask)
        if addr == self._spi["CMD"] and value & SPI_CMD_USR:
            self._spi_user_command()

    def _spi_user_command(self):
        """The SPI controller's user command: what esptool's run_spiflash_command triggers."""
        reg = lambda name: self._values.get(self._spi[name], 0)  # noqa: E731
        usr = reg("USR")
        command = reg("USR2") & 0xFFFF
        address = None
        if usr & SPI_USR_ADDR:
            addr_len = ((reg("USR1") >> 26) & 0x3F) + 1
            address = reg("ADDR")
            if self.chip.loader.SPI_ADDR_REG_MSB:
                address >>= 32 - addr_len
        miso_bits = (reg("MISO_DLEN") + 1) if usr & SPI_USR_MISO else 0
        if command == RDID:
            reply = self.flash.jedec_id()
        elif command == SFDP:
            table = sfdp_table()
            a = address or 0
            reply = bytes(table[a + i] if a + i < len(table) else 0xFF for i in range(4))
        elif command in (RDSR, RDSR2, RDSR3):
            reply = b"\x00"
        else:
            reply = b""  # write enable, reset, power-down...: accepted, nothing to read
        if miso_bits:
            value = int.from_bytes(reply.ljust(4, b"\0")[:4], "little") & ((1 << min(miso_bits, 32)) - 1)
            self._values[self._spi["W0"]] = value
        self._values[self._spi["CMD"]] = 0  # done at once
