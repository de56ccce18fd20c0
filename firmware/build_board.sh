#!/usr/bin/env bash
# Builds the firmware of an emulated board: MicroPython 1.25's ports/qemu with our board definition
# (firmware/boards/<board>/, firmware/boards/qemu-common/) into build/boards/<board>/firmware.elf.
#   firmware/build_board.sh qemu-m3            # ARM MPS2-AN385 (Cortex-M3)
#   firmware/build_board.sh qemu-m4            # ARM MPS2-AN386 (Cortex-M4, FPU: armv7emsp)
#   firmware/build_board.sh qemu-rv32          # RISC-V virt, rv32imac
#   firmware/build_board.sh qemu-esp32         # Xtensa sim, the ESP32's core (xtensa-esp32-elf-gcc)
#   HEAP=256K firmware/build_board.sh qemu-m3  # another default heap: build/boards/qemu-m3/firmware-heap262144.elf
#                                              # (the emulator can pass any heap size at boot anyway)
# build/micropython stays pristine: the port is built in build/boards/<board>/mpy, a tree of symlinks
# to its py/ extmod/ shared/ lib/ drivers/ tools/ (lib/lwip: lwIP's source, build/lwip) with a copy of
# ports/qemu into which our files are put. Files are copied only when they differ, so make's dependencies keep a re-run quick.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
board=${1:-}
case "$board" in
    qemu-m3) qboard=MPS2_AN385; cc=arm-none-eabi-gcc; apt=gcc-arm-none-eabi ;;
    qemu-m4) qboard=MPS2_AN386; cc=arm-none-eabi-gcc; apt=gcc-arm-none-eabi ;;
    qemu-rv32) qboard=VIRT_RV32; cc=riscv64-unknown-elf-gcc; apt="gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf" ;;
    qemu-esp32) qboard=; cc=xtensa-esp32-elf-gcc ;;
    *) echo "usage: $0 qemu-m3|qemu-m4|qemu-rv32|qemu-esp32   (unknown board '${board}')" >&2; exit 2 ;;
esac
if [ "$board" = qemu-esp32 ]; then
    # ESP-IDF's compiler on PATH, else the one make setup builds (firmware/xtensa/toolchain.sh).
    if ! command -v "$cc" >/dev/null; then
        tc=$(bash "$root/firmware/xtensa/toolchain.sh") && [ -x "$tc/$cc" ] \
            || { echo "build_board: $cc not found: run 'make setup' (builds it into build/xtensa)" >&2; exit 1; }
        cc=$tc/$cc
    fi
else
    command -v "$cc" >/dev/null || { echo "build_board: $cc not found (apt-get install $apt)" >&2; exit 1; }
fi
mpy_dir=$("$root/firmware/fetch_micropython.sh")
[ -f "$mpy_dir/ports/qemu/Makefile" ] || { echo "build_board: $mpy_dir has no ports/qemu" >&2; exit 1; }

out=$root/build/boards/$board
tree=$out/mpy
port=$tree/ports/qemu
mkdir -p "$port"
for d in py extmod shared drivers tools; do
    [ "$(readlink "$tree/$d" 2>/dev/null)" = "$mpy_dir/$d" ] || ln -sfn "$mpy_dir/$d" "$tree/$d"
done
# lib/: a folder of links to the source's lib/ entries, but lib/lwip (empty in Debian's source) is
# lwIP's own source (Debian's lwip package, firmware/fetch_lwip.sh) on the boards with a network.
lwip_dir=
if [ "$board" = qemu-m3 ]; then lwip_dir=$("$root/firmware/fetch_lwip.sh"); fi
if [ -L "$tree/lib" ]; then rm "$tree/lib"; fi
mkdir -p "$tree/lib"
for e in "$mpy_dir"/lib/*; do
    n=$(basename "$e")
    if [ "$n" = lwip ] && [ -n "$lwip_dir" ]; then e=$lwip_dir; fi
    [ "$(readlink "$tree/lib/$n" 2>/dev/null)" = "$e" ] || { rm -f "$tree/lib/$n"; ln -s "$e" "$tree/lib/$n"; }
done

sync_file() { # src dst: copy when the content differs (keeps mtimes otherwise)
    if ! cmp -s "$1" "$2"; then mkdir -p "$(dirname "$2")"; cp -p "$1" "$2"; fi
}
(cd "$mpy_dir/ports/qemu" && find . -type f ! -path './test-frzmpy/*' ! -path './boards/*') | while read -r f; do
    [ -e "$root/firmware/boards/qemu-common/$f" ] || sync_file "$mpy_dir/ports/qemu/$f" "$port/$f"
done
for f in "$root"/firmware/boards/qemu-common/*.[ch] "$root/firmware/boards/$board"/*.[cS]; do  # ours replace or join the port's
    if [ -e "$f" ]; then sync_file "$f" "$port/$(basename "$f")"; fi
done

args=(BOARD="${qboard:-$board}" BOARD_DIR="$root/firmware/boards/$board")
elf=$out/firmware.elf
build=$out/build
if [ -n "${HEAP:-}" ]; then
    heap=$(python3 -c 'import re,sys; m=re.fullmatch(r"(\d+)([kKmM]?)", sys.argv[1]); print(int(m.group(1))*{"":1,"k":1024,"m":1048576}[m.group(2).lower()]) if m else sys.exit(1)' "$HEAP") \
        || { echo "build_board: HEAP=$HEAP is not a size (bytes, or e.g. 256K)" >&2; exit 2; }
    args+=(HEAP="$heap")
    elf=$out/firmware-heap$heap.elf
    build=$out/build-heap$heap
fi
args+=(BUILD="$build")
if [ "$board" = qemu-esp32 ]; then
    # No C library and no libgcc for the windowed ABI here: -nostdlib (mpconfigboard.mk), the few
    # helpers in esp32sim_libgcc.c; picolibc's specs (call0 ABI, lx106) must not be picked up.
    args+=(CROSS_COMPILE="${cc%gcc}" PICOLIBC_SPECS=picolibc.specs LIBS=)
fi
if [ "$board" = qemu-rv32 ]; then
    # Debian's riscv64-unknown-elf-gcc 12: link with rv32imac (zicsr implied) and its ilp32 libgcc.
    args+=(RV32_ARCH=rv32imac LIBS="$(riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32 -print-libgcc-file-name)")
fi

# The version the banner shows: the source's own (git describe would find this repository's commit).
ver() { sed -n "s/^#define MICROPY_VERSION_$1 \([0-9]*\)$/\1/p" "$mpy_dir/py/mpconfig.h"; }
export MICROPY_GIT_TAG=v$(ver MAJOR).$(ver MINOR).$(ver MICRO) MICROPY_GIT_HASH=tinyml
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$mpy_dir/py/mpconfig.h")}

# Make options (MICROPY_PY_LWIP, ...) change what MicroPython's qstr scan must see, which its
# incremental build does not notice: a build folder made with other settings is built afresh.
config=$(cat "$root/firmware/boards/$board/mpconfigboard.mk" "$root/firmware/boards/qemu-common/board.mk"; echo "${args[*]}")
if [ -d "$build" ] && [ "$(cat "$build/.tinyml-config" 2>/dev/null)" != "$config" ]; then rm -rf "$build"; fi
mkdir -p "$build" && printf '%s\n' "$config" > "$build/.tinyml-config"
make --no-print-directory -C "$port" -j"$(nproc)" "${args[@]}" >&2
sync_file "$build/firmware.elf" "$elf"
touch "$elf"  # up to date with its sources, even when they changed nothing in it
echo "$elf"
