"""Booting the flash: what the ROM and the second-stage bootloader check before running an app.

The bootloader image at the chip's bootloader offset (magic, chip ID, checksum, SHA-256), the
partition table at 0x8000, and the first app partition (the same checks): a partial write does not
boot. The app's esp_app_desc_t says what it is (MicroPython answers with its REPL: repl.py).
"""

import dataclasses
import struct

from esptool.bin_image import LoadFirmwareImage
from esptool.targets import CHIP_DEFS

from tinyml_host.emulators.esp_rom.flash_file import KB

PARTITION_TABLE_OFFSET = 0x8000
APP_DESC_MAGIC = 0xABCD5432


@dataclasses.dataclass
class AppInfo:
    project: str
    version: str
    date: str      # "Apr 15 2025"
    offset: int


def parse_app_desc(app):
    """esp_app_desc_t at the start of an app image's first segment: (version, project, date), or None."""
    if len(app) < 0x20 + 0x70 or app[0] != 0xE9:
        return None
    magic, = struct.unpack_from("<I", app, 0x20)
    if magic != APP_DESC_MAGIC:
        return None
    text = lambda off, n: app[0x20 + off:0x20 + off + n].split(b"\0")[0].decode("ascii", "replace")  # noqa: E731
    return text(0x10, 32), text(0x30, 32), text(0x60, 16)  # version, project, date


def parse_partitions(table):
    """(type, subtype, offset, size, label) for each entry of an ESP-IDF partition table."""
    entries = []
    for i in range(0, min(len(table), 0xC00) - 31, 32):
        magic, ptype, subtype, offset, size, label, _ = struct.unpack_from("<HBBII16sI", table, i)
        if magic != 0x50AA:
            break
        entries.append((ptype, subtype, offset, size, label.split(b"\0")[0].decode("ascii", "replace")))
    return entries


def image_problem(chip_key, data):
    """Why an ESP image (bootloader or app) starting at data[0] would not be loaded, or None."""
    if not data or data[0] != 0xE9:
        return "invalid header: 0x%08x" % (struct.unpack_from("<I", data)[0] if len(data) >= 4 else 0xFFFFFFFF)
    try:
        image = LoadFirmwareImage(chip_key, data)
    except Exception as e:
        return "%s (%s)" % ("truncated" if "End of file" in str(e) or isinstance(e, struct.error) else "malformed", e)
    if image.chip_id != CHIP_DEFS[chip_key].IMAGE_CHIP_ID:
        return "Invalid chip id. Expected %d read %d. Bootloader for wrong chip?" % (
            CHIP_DEFS[chip_key].IMAGE_CHIP_ID, image.chip_id)
    if image.checksum != image.calculate_checksum():
        return "Checksum failed. Calculated 0x%02x read 0x%02x" % (image.calculate_checksum(), image.checksum)
    if image.append_digest and image.stored_digest != image.calc_digest:
        return "Image hash failed - image is corrupt"
    return None


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
