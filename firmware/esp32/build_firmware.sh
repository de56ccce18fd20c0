#!/usr/bin/env bash
# MicroPython for an ESP32 chip with tinyml in it: device_lib/tinyml frozen (manifest.py beside this
# script) and the C kernels compiled in as a user C module (firmware/kernels/micropython.cmake).
#   firmware/esp32/build_firmware.sh [esp32|esp32s2|esp32s3|esp32c3|esp32c6|<MicroPython BOARD>]
# Needs: ESP-IDF v5.2 to v5.4 with its environment (`. $IDF_PATH/export.sh`, so idf.py is on PATH),
# and a MicroPython checkout with submodules in MPY_ESP32_DIR (default build/mpy-esp32; this script
# clones v1.25.0 there when it is missing). Output: dist/firmware/<BOARD>-tinyml.bin.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
board=${1:-esp32}
case "$board" in
    esp32) mp_board=ESP32_GENERIC ;;
    esp32s2) mp_board=ESP32_GENERIC_S2 ;;
    esp32s3) mp_board=ESP32_GENERIC_S3 ;;
    esp32c3) mp_board=ESP32_GENERIC_C3 ;;
    esp32c6) mp_board=ESP32_GENERIC_C6 ;;
    ESP32*) mp_board=$board ;;
    *) echo "build_firmware: BOARD=$board is not an ESP32 board (esp32, esp32s2, esp32s3, esp32c3, esp32c6)" >&2; exit 2 ;;
esac
user_c_modules=${USER_C_MODULES:-$root/firmware/kernels/micropython.cmake}
frozen_manifest=${FROZEN_MANIFEST:-$root/firmware/esp32/manifest.py}
mpy_dir=${MPY_ESP32_DIR:-$root/build/mpy-esp32}
mpy_version=${MPY_VERSION:-v1.25.0}

if ! command -v idf.py >/dev/null 2>&1; then
    cat >&2 <<MSG
build_firmware: idf.py is not on PATH: building MicroPython for ESP32 chips needs ESP-IDF.
  Install ESP-IDF v5.2.2 (MicroPython $mpy_version supports v5.2 to v5.4), once:
    git clone -b v5.2.2 --recursive https://github.com/espressif/esp-idf.git ~/esp-idf
    ~/esp-idf/install.sh esp32,esp32s2,esp32s3,esp32c3,esp32c6
  then in each shell:  . ~/esp-idf/export.sh
  and run again:       make firmware BOARD=$board
Without ESP-IDF, flash the official release instead: make flash BOARD=$board
MSG
    exit 2
fi
for f in "$user_c_modules" "$frozen_manifest" "$root/firmware/kernels/tinyml_kernels.c"; do
    [ -f "$f" ] || { echo "build_firmware: missing $f" >&2; exit 2; }
done
if [ ! -f "$mpy_dir/ports/esp32/Makefile" ]; then
    echo "build_firmware: fetching MicroPython $mpy_version into $mpy_dir"
    git clone --depth 1 --branch "$mpy_version" https://github.com/micropython/micropython "$mpy_dir"
fi
# The port's frozen manifest needs micropython-lib, and the build the other submodules.
make -C "$mpy_dir/ports/esp32" BOARD="$mp_board" submodules
make -C "$mpy_dir/mpy-cross"
build=$root/build/esp32-firmware/$mp_board
make -C "$mpy_dir/ports/esp32" BOARD="$mp_board" BUILD="$build" \
    USER_C_MODULES="$user_c_modules" FROZEN_MANIFEST="$frozen_manifest"
mkdir -p "$root/dist/firmware"
out=$root/dist/firmware/$mp_board-tinyml.bin
cp "$build/firmware.bin" "$out"
echo "build_firmware: $out (flash it: make flash BOARD=$board FIRMWARE=$out)"
