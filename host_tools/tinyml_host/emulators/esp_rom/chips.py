"""The emulated chips: what differs between the ESP32 and ESP32-C3 ROMs (registers, eFuses, IDs,
boot logs) and what their MicroPython reports."""

import dataclasses
import struct

from esptool.targets import CHIP_DEFS


@dataclasses.dataclass(frozen=True)
class Chip:
    """What differs between the emulated ROMs. Register addresses come from esptool's chip classes
    (the same hardware facts esptool itself uses); the values are those of a common part."""
    key: str
    registers: dict            # address -> initial value (eFuses, magic, calibration)
    security_info: bytes       # GET_SECURITY_INFO payload; None: the ROM does not know the command
    flash_begin_words: int     # FLASH_BEGIN / FLASH_DEFL_BEGIN parameter words
    download_log: str          # what the ROM prints on a reset into download mode
    flash_boot_log: str        # ... and on a reset that boots the flash
    board_name: str            # MicroPython's MICROPY_HW_BOARD_NAME for the generic board
    mcu_name: str
    build: str                 # MicroPython's board (sys.implementation._build)
    mpy_arch: int              # MP_NATIVE_ARCH_* of the chip's CPU
    has_bootloader_register: bool  # machine.bootloader() exists (RTC_CNTL_FORCE_DOWNLOAD_BOOT)

    @property
    def loader(self):
        return CHIP_DEFS[self.key]

    @property
    def name(self):
        return self.loader.CHIP_NAME


def _esp32():
    L = CHIP_DEFS["esp32"]
    efuse = lambda n: L.EFUSE_RD_REG_BASE + 4 * n  # noqa: E731
    regs = {
        L.CHIP_DETECT_MAGIC_REG_ADDR: L.MAGIC_VALUE,
        efuse(1): 0xC4123456, efuse(2): 0x0000240A,  # MAC 24:0a:c4:12:34:56
        efuse(3): (1 << 9) | (1 << 15),              # package D0WD, revision bit 0
        efuse(4): 64,                                # 8 MHz clock calibration (read by change_baud)
        efuse(5): 1 << 20,                           # revision bit 1 -> with APB_CTL_DATE: v3.0
        L.APB_CTL_DATE_ADDR: (1 << 31) | 0x16042000,
        L.RTCCALICFG1: 1600 << 7,                    # so the ROM's crystal estimate is 40 MHz
    }
    return Chip(
        key="esp32", registers=regs, security_info=None, flash_begin_words=4,
        download_log="ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 "
                     "(DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n",
        flash_boot_log="ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 "
                       "(SPI_FAST_FLASH_BOOT)\r\nconfigsip: 0, SPIWP:0xee\r\n"
                       "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
                       "mode:DIO, clock div:2\r\n",
        board_name="Generic ESP32 module", mcu_name="ESP32", build="ESP32_GENERIC", mpy_arch=10,
        has_bootloader_register=False)


def _esp32c3():
    L = CHIP_DEFS["esp32c3"]
    block1 = lambda n: L.EFUSE_BLOCK1_ADDR + 4 * n  # noqa: E731
    regs = {
        L.CHIP_DETECT_MAGIC_REG_ADDR: 0x1B31506F,
        L.MAC_EFUSE_REG: 0x79123456, L.MAC_EFUSE_REG + 4: 0x000058CF,  # MAC 58:cf:79:12:34:56
        block1(3): 4 << 18,                                            # revision v0.4
    }
    info = struct.pack("<IBBBBBBBBII", 0, 0, *(7 * [0]), L.IMAGE_CHIP_ID, 3)
    return Chip(
        key="esp32c3", registers=regs, security_info=info, flash_begin_words=5,
        download_log="ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\nrst:0x1 (POWERON),"
                     "boot:0x5 (DOWNLOAD(USB/UART0/1))\r\nwaiting for download\r\n",
        flash_boot_log="ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\nrst:0x1 (POWERON),"
                       "boot:0xc (SPI_FAST_FLASH_BOOT)\r\nSPIWP:0xee\r\nmode:DIO, clock div:1\r\n",
        board_name="ESP32C3 module", mcu_name="ESP32C3", build="ESP32_GENERIC_C3", mpy_arch=11,
        has_bootloader_register=True)


CHIPS = {"esp32": _esp32(), "esp32c3": _esp32c3()}


def find_chip(key):
    """The Chip for "esp32" or "esp32c3"; ValueError naming the choices for any other."""
    if key not in CHIPS:
        raise ValueError("no emulated ROM for %r; choose one of %s" % (key, ", ".join(CHIPS)))
    return CHIPS[key]
