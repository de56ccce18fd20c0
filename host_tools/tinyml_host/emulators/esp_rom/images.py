"""A MicroPython-like firmware image, for tests, the benchmark and rehearsals: bootloader, partition
table and app with its esp_app_desc_t, written through esptool's own image classes, for any chip."""

import hashlib
import random
import struct

from esptool.bin_image import ELFSection
from esptool.targets import CHIP_DEFS

from tinyml_host.flash.image import APP_DESC_MAGIC, PARTITION_TABLE_OFFSET
from tinyml_host.emulators.esp_rom.flash_file import KB

_SEGMENTS = {  # (bootloader DRAM, bootloader IRAM, entry, app DROM, app IROM, app DRAM, app IRAM)
    "esp32": (0x3FFF0030, 0x40078000, 0x40080400, 0x3F400020, 0x400D0020, 0x3FFB0000, 0x40080000),
    "esp32s2": (0x3FFE6100, 0x4004C000, 0x4004C000, 0x3F000020, 0x40080020, 0x3FFBE000, 0x40022000),
    "esp32s3": (0x3FCE3818, 0x403C9700, 0x403C9908, 0x3C000020, 0x42000020, 0x3FC88000, 0x40374000),
    "esp32c3": (0x3FCD5820, 0x403CC710, 0x403CC71A, 0x3C000020, 0x42000020, 0x3FC88000, 0x40380000),
    "esp32c6": (0x4086C410, 0x4086E610, 0x4086E61A, 0x42800020, 0x42000020, 0x40800000, 0x40810000),
}


def _bulk(rng, n, compressible):
    """n bytes that deflate to roughly the share given (firmware code deflates to about 0.6)."""
    if compressible is None:
        return rng.randbytes(n)
    out = bytearray()
    words = [rng.randbytes(4) for _ in range(64)]
    while len(out) < n:
        if rng.random() < compressible:
            out += rng.randbytes(16)
        else:
            out += b"".join(rng.choice(words) for _ in range(4))
    return bytes(out[:n])


def _app_desc(version, project, date):
    desc = struct.pack("<III", APP_DESC_MAGIC, 0, 0) + bytes(4)
    desc += version.encode().ljust(32, b"\0") + project.encode().ljust(32, b"\0")
    desc += b"12:00:00".ljust(16, b"\0") + date.encode().ljust(16, b"\0")
    desc += b"v5.2.2".ljust(32, b"\0") + hashlib.sha256(version.encode()).digest()
    return desc.ljust(256, b"\0")


def _esp_image(chip, segments, entry):
    """segments: (address, bytes, section name); .flash.appdesc goes first in the file."""
    cls = CHIP_DEFS[chip].BOOTLOADER_IMAGE
    image = cls()
    image.flash_mode = 2  # DIO
    image.flash_size_freq = CHIP_DEFS[chip].FLASH_SIZES["4MB"]
    image.entrypoint = entry
    image.min_rev_full, image.max_rev_full = 0, 399
    image.segments = [ELFSection(name.encode(), addr, data, 0) for addr, data, name in segments]
    return image.save(None)


def partition_table(app_offset=0x10000, app_size=0x1F0000):
    """MicroPython's default table for 4 MB: nvs, phy_init, factory app, vfs; with its MD5 entry."""
    rows = [(1, 0x02, 0x9000, 0x6000, b"nvs"), (1, 0x01, 0xF000, 0x1000, b"phy_init"),
            (0, 0x00, app_offset, app_size, b"factory"), (1, 0x81, app_offset + app_size, 0x200000, b"vfs")]
    table = b"".join(struct.pack("<HBBII16sI", 0x50AA, t, s, o, n, label.ljust(16, b"\0"), 0)
                     for t, s, o, n, label in rows)
    table += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(table).digest()
    return table.ljust(0xC00, b"\xff")


def build_micropython_image(chip="esp32", size=256 * KB, version="v1.25.0", date="Apr 15 2025",
                            project="micropython", compressible=0.5, seed=1):
    """A firmware .bin shaped like MicroPython's (bootloader at the chip's offset, partition table
    at 0x8000, app with esp_app_desc_t at 0x10000), about `size` bytes from the bootloader offset,
    built with esptool's image classes (checksums, SHA-256 digests, chip ID). compressible: the
    share of incompressible 16-byte runs (None: all random)."""
    boot_off = CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET
    dram, iram, entry, drom, irom, app_dram, app_iram = _SEGMENTS[chip]
    rng = random.Random(seed)
    bootloader = _esp_image(chip, [(dram, rng.randbytes(0x1000), ".dram0.data"),
                                   (iram, rng.randbytes(0x3000), ".iram_loader.text")], entry)
    head = bootloader.ljust(PARTITION_TABLE_OFFSET - boot_off, b"\xff") + partition_table()
    head = head.ljust(0x10000 - boot_off, b"\xff")
    app_room = max(size - len(head), 16 * KB)

    def app_of(body):
        r = random.Random(seed + 1)
        rodata = _app_desc(version, project, date) + _bulk(r, body // 3 // 4 * 4, compressible)
        text = _bulk(r, (body - body // 3) // 4 * 4, compressible)
        return _esp_image(chip, [(drom, rodata, ".flash.appdesc"), (irom, text, ".flash.text"),
                                 (app_dram, r.randbytes(0x800), ".dram0.data"),
                                 (app_iram, r.randbytes(0x1000), ".iram0.text")], app_iram)

    body = max(app_room - 0x3000, 4 * KB)
    app = app_of(body)
    app = app_of(max(body - (len(app) - app_room), 4 * KB))  # one correction for the fixed overheads
    return head + app
