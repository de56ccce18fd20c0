"""The ESP firmware image format, at the bottom of the flash room: what the real flashing checks
before it touches a port, and what the emulated ROM (emulators/esp_rom) reads back out of its flash.
Images are parsed with esptool's own bin_image; the partition table and esp_app_desc_t here.

    inspect_firmware(data) -> FirmwareInfo, or FirmwareRefused saying why it cannot be flashed
    partition_table_problems(table, app_size, flash_size) -> [(problem, fix)]: what a bootloader rejects
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


PARTITION_TABLE_SIZE = 0xC00
_TYPES = {0: "app", 1: "data"}
_TABLE_FIX = ("rebuild the firmware (idf.py build, or MicroPython's `make BOARD=...`) so that its partition "
              "table comes from a partitions.csv that gen_esp32part.py accepts, or use a released firmware .bin")


def partition_table_problems(table, app_size=None, flash_size=None):
    """Why an ESP-IDF bootloader would reject this partition table (or the board not boot from it):
    a list of (problem, fix), empty if none. table: the 0xC00 bytes at 0x8000; app_size: the bytes of
    the app image the file puts at the first app partition; flash_size: the board's, once known."""
    rows, problems = [], []
    for i in range(0, min(len(table), PARTITION_TABLE_SIZE) - 31, 32):
        magic, = struct.unpack_from("<H", table, i)
        if magic == 0x50AA:
            rows.append(parse_partitions(table[i:i + 32])[0])
            continue
        if magic == 0xEBEB:  # the MD5 row: 14 x 0xFF, then the MD5 of the rows before it
            stored, computed = table[i + 16:i + 32], hashlib.md5(table[:i]).digest()
            if stored != computed:
                problems.append(("its partition table's MD5 row (at 0x%x) does not match the table: it holds %s, "
                                 "the %d rows above it give %s, so the bootloader rejects the table "
                                 "(\"Partition table MD5 mismatch\") and the board does not boot"
                                 % (PARTITION_TABLE_OFFSET + i, stored.hex(), len(rows), computed.hex()),
                                 "the table was changed after it was built"))
            break
        if table[i:i + 32] != b"\xff" * 32:
            problems.append(("its partition table's row %d (at 0x%x) has magic 0x%04x, neither a partition "
                             "(0x50AA) nor the MD5 row (0xEBEB) nor the erased end: the bootloader rejects it"
                             % (len(rows), PARTITION_TABLE_OFFSET + i, magic), "the table is damaged"))
        break
    name = lambda p: "%s partition \"%s\" (0x%x..0x%x)" % (_TYPES.get(p[0], "type %d" % p[0]), p[4], p[2],  # noqa: E731
                                                          p[2] + p[3])
    table_end = PARTITION_TABLE_OFFSET + 0x1000
    ordered = sorted(rows, key=lambda p: p[2])
    for p in ordered:
        if p[2] < table_end:
            problems.append(("its %s starts below 0x%x, over the bootloader or the partition table itself"
                             % (name(p), table_end), "move it to 0x%x or above in partitions.csv" % table_end))
        if p[0] == 0 and p[2] % 0x10000:
            problems.append(("its %s does not start on a 64 KB boundary, which the bootloader needs to map an app"
                             % name(p), "align it to 0x10000 in partitions.csv"))
    for a, b in zip(ordered, ordered[1:]):
        if a[2] + a[3] > b[2]:
            problems.append(("its %s and %s overlap: writing one destroys the other" % (name(a), name(b)),
                             "give them separate ranges in partitions.csv"))
    if flash_size is not None:
        for p in ordered:
            if p[2] + p[3] > flash_size:
                problems.append(("its %s ends beyond the board's %d MB of flash (0x%x)"
                                 % (name(p), flash_size >> 20, flash_size),
                                 "use a firmware built for %d MB of flash (e.g. MicroPython's ESP32_GENERIC, "
                                 "not its -SPIRAM-8MB/16MB variants), or shrink the partition in partitions.csv"
                                 % (flash_size >> 20)))
    apps = [p for p in rows if p[0] == 0]
    if app_size is not None and apps and app_size > apps[0][3]:
        problems.append(("its app (%d bytes) does not fit its %s (%d bytes): the bootloader would load a "
                         "truncated app" % (app_size, name(apps[0]), apps[0][3]),
                         "make the app partition at least %d bytes in partitions.csv, or build a smaller app"
                         % app_size))
    return problems


def refuse_partition_table(name, problems):
    """A FirmwareRefused naming each problem and its fix."""
    return FirmwareRefused("refusing to flash %s: %s. Nothing was written.\n  fix: %s; then %s" % (
        name, "; ".join(p for p, _ in problems), "; ".join(dict.fromkeys(f for _, f in problems)), _TABLE_FIX))


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
    problems = partition_table_problems(data[table_at:table_at + PARTITION_TABLE_SIZE], len(app))
    if problems:
        raise refuse_partition_table(name, problems)
    version, project, _ = parse_app_desc(app) or ("?", "?", "?")
    return FirmwareInfo(chip, len(data), boot_off, app_offset, project, version, hashlib.sha256(data).hexdigest())
