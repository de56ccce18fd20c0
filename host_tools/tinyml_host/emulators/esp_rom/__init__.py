"""An emulated ESP32 / ESP32-C3 ROM serial bootloader on a pty, with file-backed flash.

The board without the board: a pseudo-terminal that answers like the ROM loader of an ESP32 (Xtensa)
or an ESP32-C3 (RISC-V) held in download mode, so the real esptool, driven by `tinyml flash`, can
flash, verify and reset it, and `make flash` can be rehearsed with no board attached.

    with EmulatedRom("esp32", "flash.bin") as rom:       # or start_rom("esp32", path) / stop_rom()
        print(rom.device)                                # /dev/pts/N: PORT= for esptool and tinyml

The parts, a file each:
    emulator.py     the chip on its pty: ROM loader, app or halted; resets; the serial loop
    serial_line.py  the UART: pacing at the baud rate, garbage when the two ends disagree
    slip.py         SLIP framing
    loader.py       the ROM loader's commands and their status replies (esptool without its stub)
    registers.py    READ_REG / WRITE_REG: eFuses, magic, the SPI engine that reaches the flash
    chips.py        what differs between the ESP32 and the ESP32-C3
    flash_file.py   NOR flash in a file
    boot.py         what a reset into the flash checks: bootloader, partition table, app
    repl.py         the booted MicroPython's banner and a minimal REPL
    registry.py     which emulator serves which device, stop_rom(); the control socket (DTR/RTS, BOOT, EN)
    process.py      start_rom(): an emulator in a background process; start_board(): the
                    esp32-rom board, Espressif's ROM in QEMU where a machine exists (../qemu_rom.py)
    images.py       build_micropython_image(): a MicroPython-like firmware image for any chip
    hooks.py        flash_hooks(): what `tinyml flash` is handed to reach an emulated ROM
"""

from tinyml_host.emulators.esp_rom.boot import PARTITION_TABLE_OFFSET, image_problem, parse_app_desc, parse_partitions
from tinyml_host.emulators.esp_rom.chips import CHIPS
from tinyml_host.emulators.esp_rom.emulator import APP, DEAD, DOWNLOAD, HALTED, EmulatedRom
from tinyml_host.emulators.esp_rom.hooks import flash_hooks, port_candidates, reset_hook
from tinyml_host.emulators.esp_rom.images import build_micropython_image
from tinyml_host.emulators.esp_rom.process import start_board, start_rom
from tinyml_host.emulators.esp_rom.registry import control, find_emulator, registry_dir, running_emulators, stop_rom
from tinyml_host.emulators.esp_rom.slip import SlipDecoder, slip_encode

__all__ = ["APP", "CHIPS", "DEAD", "DOWNLOAD", "HALTED", "PARTITION_TABLE_OFFSET", "EmulatedRom", "SlipDecoder",
           "build_micropython_image", "control", "find_emulator", "flash_hooks", "image_problem", "parse_app_desc",
           "parse_partitions", "port_candidates", "registry_dir", "reset_hook", "running_emulators", "slip_encode", "start_board", "start_rom", "stop_rom"]
