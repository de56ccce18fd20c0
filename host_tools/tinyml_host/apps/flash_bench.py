"""`tinyml flash-bench`: the time to flash a MicroPython-sized image onto the emulated ESP32 ROM
bootloader, bytes paced at the baud rate, through the real flashing code (flash/esp.py)."""
import pathlib
import tempfile
import zlib

from esptool.targets import CHIP_DEFS

from tinyml_host.emulators import esp_rom
from tinyml_host.flash.esp import DEFAULT_BAUD, KB, ROM_BAUD, FlashError, flash


def bench_flash(size=1536 * KB, bauds=(ROM_BAUD, DEFAULT_BAUD), chip="esp32", compressible=0.4, out=print):
    """Prints the time to flash a `size` firmware onto the emulated ROM bootloader (bytes paced at
    the baud rate, no stub, as a real ESP32 ROM loader would take them), at each baud rate,
    compressed and not. The emulator runs in its own process (start_rom), as a board would, so it
    does not share this interpreter with esptool. Returns (baud, compressed, wire bytes, write s,
    total s) rows."""
    image = esp_rom.build_micropython_image(chip, size, compressible=compressible)
    deflated = len(zlib.compress(image, 9))
    out("flash benchmark: a %.2f MB MicroPython-like image (%d bytes, deflates to %d%%) on the emulated %s ROM "
        "bootloader, no stub, bytes paced at the baud rate (8N1)" % (len(image) / 1e6, len(image),
                                                                    100 * deflated // len(image), chip.upper()))
    out("%8s  %-12s  %10s  %8s  %8s  %10s  %9s" % ("baud", "mode", "wire bytes", "write s", "total s",
                                                  "line min s", "kbit/s"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fw = pathlib.Path(tmp, "firmware.bin")
        fw.write_bytes(image)
        for baud in bauds:
            for compress in (False, True):
                flash_file = pathlib.Path(tmp, "flash-%d-%d.bin" % (baud, compress))
                device = esp_rom.start_rom(chip, flash_file, pace=True)
                try:
                    r = flash(chip, device, str(fw), baud=baud, compress=compress, say=lambda m: None,
                              quiet_esptool=True, hooks=esp_rom.flash_hooks())
                finally:
                    esp_rom.stop_rom(device)
                offset = CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET
                with open(flash_file, "rb") as f:
                    f.seek(offset)
                    if f.read(len(image)) != image:
                        raise FlashError("benchmark: the emulated flash does not hold the image")
                line_min = r.wire_bytes * 10 / baud
                rows.append((baud, compress, r.wire_bytes, r.write_seconds, r.total_seconds))
                out("%8d  %-12s  %10d  %8.1f  %8.1f  %10.1f  %9.1f" % (
                    baud, "compressed" if compress else "uncompressed", r.wire_bytes, r.write_seconds,
                    r.total_seconds, line_min, len(image) * 8 / 1000 / r.write_seconds))
    out("write s: first to last data block; total s: connect, chip detection, erase, write, MD5 check, reset and "
        "MicroPython banner; line min s: the data blocks' bytes alone at 10 bits each; kbit/s: image bits / write s")
    return rows
