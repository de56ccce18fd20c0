"""`tinyml flash` and `tinyml flash-bench`: add_commands(subparsers) adds them to the tinyml command."""

import sys

CHIPS = ("esp32", "esp32s2", "esp32s3", "esp32c3", "esp32c6")


def cmd_flash(a):
    from tinyml_host.emulators import esp_rom
    from tinyml_host.flash import esp as flash
    from tinyml_host.board import ports
    try:
        flash.flash(a.board, a.port, a.firmware, a.version, erase=a.erase, baud=a.baud,
                    compress=a.compress, stub=a.stub, wait_banner=a.wait, hooks=esp_rom.flash_hooks())
    except (flash.FlashError, ports.PortError) as e:
        print("tinyml flash: error: %s" % e, file=sys.stderr)
        raise SystemExit(2)


def cmd_flash_bench(a):
    from tinyml_host.apps.flash_bench import bench_flash
    bench_flash(size=int(a.size * 1024 * 1024), chip=a.chip)


def add_commands(subparsers):
    c = subparsers.add_parser("flash", help="flash MicroPython onto an ESP32 board (esptool)",
                              description="Flash MicroPython onto an ESP32 board with esptool, verify it, reset "
                                          "it and wait for the MicroPython banner.")
    c.add_argument("--board", default="esp32", help="esp32 (default), esp32s2, esp32s3, esp32c3 or esp32c6")
    c.add_argument("--port", help="serial port (default: TINYML_PORT, ~/.config/tinyml/config.toml, "
                                  "or the one USB serial board plugged in)")
    c.add_argument("--firmware", help="a firmware .bin (default: the official MicroPython release, downloaded "
                                      "once into ~/.cache/tinyml/firmware/)")
    c.add_argument("--version", help="the MicroPython release to download (default v1.25.0)")
    c.add_argument("--erase", action="store_true", help="erase the whole flash first (done anyway when the "
                                                       "board has no MicroPython)")
    c.add_argument("--baud", type=int, default=None, help="baud rate for the write (default 460800; "
                                                         "falls back to 115200 if it fails)")
    c.add_argument("--no-compress", dest="compress", action="store_false", help="send the image uncompressed")
    c.add_argument("--stub", dest="stub", action="store_true", default=None,
                   help="use esptool's flasher stub (default on real boards)")
    c.add_argument("--no-stub", dest="stub", action="store_false",
                   help="talk to the ROM bootloader only (default on the emulated board)")
    c.add_argument("--no-wait", dest="wait", action="store_false",
                   help="do not wait for the MicroPython banner after the reset")
    c.set_defaults(fn=cmd_flash)

    c = subparsers.add_parser("flash-bench", help="time flashing a 1.5 MB image on the emulated ROM bootloader",
                              description="Flash a MicroPython-like image onto the emulated ESP32 ROM "
                                          "bootloader, bytes paced at the baud rate, at 115200 and 460800 baud, "
                                          "compressed and not (about 5 minutes for 1.5 MB).")
    c.add_argument("--size", type=float, default=1.5, help="image size in MB (default 1.5)")
    c.add_argument("--chip", default="esp32", choices=("esp32", "esp32c3"))
    c.set_defaults(fn=cmd_flash_bench)
