#!/usr/bin/env bash
# Builds boot.c into an ESP32 image the ROM loads from flash at 0x1000 (a second-stage bootloader's
# place): build/qemu-esp32/flash-boot.bin (prints its path). Needs the xtensa compiler
# (firmware/xtensa/toolchain.sh) and esptool (.venv). Used by tests/test_flash_qemu.py: flash, then boot.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=$root/build/qemu-esp32
bin=$(bash "$root/firmware/xtensa/toolchain.sh")
esptool=${ESPTOOL:-$root/.venv/bin/esptool}
mkdir -p "$out"
"$bin/xtensa-esp32-elf-gcc" -Os -mlongcalls -ffreestanding -nostdlib -Wall -Werror -T "$here/boot.ld" \
    -o "$out/flash-boot.elf" "$here/boot.c"
"$esptool" --chip esp32 elf2image --flash-mode dio --flash-size 4MB -o "$out/flash-boot.bin" "$out/flash-boot.elf" >&2
echo "$out/flash-boot.bin"
