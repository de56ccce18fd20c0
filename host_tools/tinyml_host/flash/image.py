"""The ESP firmware image format, at the bottom of the flash room: what the real flashing checks
before it touches a port, and what the emulated ROM (emulators/esp_rom) reads back out of its flash.
Images are parsed with esptool's own bin_image; the partition table and esp_app_desc_t here.

    inspect_firmware(data) -> FirmwareInfo, or FirmwareRefused saying why it cannot be flashed
"""

import dataclasses
import hashlib
import struct

from esptool.bin_image import LoadFirmwareImage
from esptool.targets import CHIP_DEFS

from tinyml_host.errors import TinymlError

CHIPS = ("esp32", "esp32s2", "esp32s3", "esp32c3", "esp32c6")
PARTITION_TABLE_OFFSET = 0x8000
APP_DESC_MAGIC = 0xABCD5432


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


class FlashError(TinymlError):
    """A flash refused, failed or incomplete; the message gives the cause and the fix."""


class FirmwareRefused(FlashError):
    pass


class WrongChip(FlashError):
    pass


class NotInBootloader(FlashError):
    pass


class LinkDropped(FlashError):
    pass


@dataclasses.dataclass
class FirmwareInfo:
    chip: str
    size: int
    bootloader_offset: int
    app_offset: int
    project: str
    version: str
    sha256: str


def _chip_of_image_id(chip_id):
    for key in CHIPS:
        if CHIP_DEFS[key].IMAGE_CHIP_ID == chip_id:
            return key
    return None


def inspect_firmware(data, name="firmware"):
    """What a firmware .bin is, or FirmwareRefused saying why it cannot be flashed."""
    def refuse(why):
        raise FirmwareRefused("%s cannot be flashed: %s" % (name, why))

    if len(data) < 24 or data[0] != 0xE9:
        kind = ("a UF2 file (for drag-and-drop bootloaders); use the .bin release" if data[:4] == b"UF2\n" else
                "an ELF file; use the .bin image built from it (firmware.bin)" if data[:4] == b"\x7fELF" else
                "empty" if not data else "its first byte is 0x%02x" % data[0])
        refuse("it is not an ESP32 firmware image (an image starts with the magic byte 0xE9; %s)" % kind)
    chip_id, = struct.unpack_from("<H", data, 12)
    chip = _chip_of_image_id(chip_id)
    if chip is None:
        refuse("its header names chip ID %d, which is none of %s" % (chip_id, ", ".join(CHIPS)))
    boot_off = CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET
    problem = image_problem(chip, data)
    if problem:
        refuse("its bootloader image is %s" % (problem if problem.startswith(("truncated", "malformed"))
                                               else "damaged: " + problem))
    if parse_app_desc(data):
        refuse("it is an application image alone (it goes at 0x10000); flash the whole firmware (bootloader, "
               "partition table and app), e.g. MicroPython's firmware.bin")
    table_at = PARTITION_TABLE_OFFSET - boot_off
    apps = [p for p in parse_partitions(data[table_at:table_at + 0xC00]) if p[0] == 0]
    if not apps:
        refuse("it has no partition table with an app at 0x%x: it is %s, not a whole firmware image"
               % (PARTITION_TABLE_OFFSET, "a truncated file or a bootloader alone" if len(data) < table_at + 64
                  else "a bootloader with an empty or foreign partition table"))
    app_offset = apps[0][2]
    app = data[app_offset - boot_off:]
    problem = image_problem(chip, app)
    if not app:
        refuse("it ends at 0x%x, before its app at 0x%x: the file is truncated" % (boot_off + len(data), app_offset))
    if problem:
        refuse("its app at 0x%x is %s; the file is %d bytes" % (
            app_offset, problem if problem.startswith(("truncated", "malformed")) else "damaged: " + problem, len(data)))
    version, project, _ = parse_app_desc(app) or ("?", "?", "?")
    return FirmwareInfo(chip, len(data), boot_off, app_offset, project, version, hashlib.sha256(data).hexdigest())
