"""Booting the flash: what the ROM and the second-stage bootloader check before running an app.

The bootloader image at the chip's bootloader offset (magic, chip ID, checksum, SHA-256), the
partition table at 0x8000, and the first app partition (the same checks): a partial write does not
boot. The app's esp_app_desc_t says what it is (MicroPython answers with its REPL: repl.py).
"""

import dataclasses

from esptool.bin_image import LoadFirmwareImage

from tinyml_host.emulators.esp_rom.flash_file import KB
from tinyml_host.flash.image import PARTITION_TABLE_OFFSET, image_problem, parse_app_desc, parse_partitions


@dataclasses.dataclass
class AppInfo:
    project: str
    version: str
    date: str      # "Apr 15 2025"
    offset: int


def load_from_flash(chip, flash):
    """What the ROM and the second-stage bootloader check and print: the bootloader image at the
    chip's offset, the partition table, the first app. Returns (log lines, AppInfo or None)."""
    bootloader = flash.read(chip.loader.BOOTLOADER_FLASH_OFFSET, 64 * KB)
    problem = image_problem(chip.key, bootloader)
    if problem:
        return [problem + "\r\n"], None
    image = LoadFirmwareImage(chip.key, bootloader)
    out = ["load:0x%08x,len:%d\r\n" % (s.addr, len(s.data)) for s in image.segments]
    out += ["entry 0x%08x\r\n" % image.entrypoint, "I (31) boot: ESP-IDF 2nd stage bootloader (emulated)\r\n"]
    apps = [p for p in parse_partitions(flash.read(PARTITION_TABLE_OFFSET, 0xC00)) if p[0] == 0]
    if not apps:
        return out + ["E (40) boot: No bootable app partitions in the partition table\r\n"], None
    _, _, offset, size, label = apps[0]
    app = flash.read(offset, size)
    problem = image_problem(chip.key, app)
    if problem:
        return out + ["E (52) esp_image: %s\r\nE (53) boot: %s app partition is not bootable\r\n"
                      "E (54) boot: No bootable app partitions in the partition table\r\n" % (problem, label)], None
    version, project, date = parse_app_desc(app) or ("?", "?", "?")
    out.append("I (60) boot: Loaded app from partition at offset 0x%x\r\n" % offset)
    if project != "micropython":
        out.append("I (80) app_start: Starting app: %s %s (not MicroPython: it prints nothing more "
                   "on the emulated board)\r\n" % (project, version))
    return out, AppInfo(project, version, date, offset)


def software_reset_log(chip):
    """The ROM's boot log after a software reset (machine.reset(), FLASH_END "reboot")."""
    return chip.flash_boot_log.replace("rst:0x1 (POWERON_RESET)", "rst:0xc (SW_CPU_RESET)").replace(
        "rst:0x1 (POWERON)", "rst:0x3 (RTC_SW_SYS_RST)")
