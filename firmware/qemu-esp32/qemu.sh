#!/usr/bin/env bash
# QEMU with Espressif's ESP32 machine (`-M esp32`, the ROM in pc-bios/) and ESP32 CPU core (`-cpu esp32`).
#   firmware/qemu-esp32/qemu.sh            # prints the path of a qemu-system-xtensa that has `-M esp32`
#   firmware/qemu-esp32/qemu.sh --rom-dir  # prints the directory holding esp32-v3-rom.bin (for -L)
#   firmware/qemu-esp32/qemu.sh --version  # prints where that QEMU came from
# A qemu-system-xtensa on PATH that has the esp32 machine wins (Espressif's, github.com/espressif/qemu).
# Otherwise it is built once into build/qemu-esp32/ from ../shared/qemu-esp32/qemu-esp32-src.tar.xz
# (QEMU_ESP32_SRC overrides that path), about 5 minutes on 2 cores; later runs print the path at once.
# Our patches to that source (firmware/qemu-esp32/*.patch) are applied before the build; a changed
# patch rebuilds only what it touches.
# Progress goes to stderr, the build's own output to build/qemu-esp32/build.log; stdout is the answer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
say() { printf 'qemu-esp32: %s\n' "$*" >&2; }
what=bin
case "${1:-}" in
    "") ;; --rom-dir) what=rom ;; --version) what=version ;;
    *) echo "usage: $0 [--rom-dir|--version]" >&2; exit 2 ;;
esac

answer() { # bin rom_dir version
    case $what in bin) echo "$1" ;; rom) echo "$2" ;; version) echo "$3" ;; esac
    exit 0
}

# 1. One on PATH with the esp32 machine (its ROM is installed beside it, in share/qemu).
if sys=$(command -v qemu-system-xtensa 2>/dev/null) && "$sys" -M help 2>/dev/null | grep -qw esp32; then
    for d in "$(dirname "$sys")/../share/qemu" "$(dirname "$sys")/pc-bios" /usr/share/qemu /usr/local/share/qemu; do
        if [ -f "$d/esp32-v3-rom.bin" ]; then
            answer "$sys" "$(cd "$d" && pwd)" "$("$sys" --version | head -n 1) (on PATH)"
        fi
    done
    say "$sys has -M esp32 but no esp32-v3-rom.bin beside it (share/qemu); building our own instead"
fi

# 2. Ours, built from the shared source.
out=$root/build/qemu-esp32
src=$out/qemu-esp32
bin=$src/build/qemu-system-xtensa
rom=$src/pc-bios
tarball=${QEMU_ESP32_SRC:-$root/../shared/qemu-esp32/qemu-esp32-src.tar.xz}
stamp=$out/.tinyml-version
patches=("$here"/*.patch)
[ -e "${patches[0]}" ] || patches=()
patch_sum=$(cat /dev/null "${patches[@]}" | sha256sum | cut -c1-16)
configure_args=(--target-list=xtensa-softmmu --with-git-submodules=ignore --disable-docs
    --disable-werror --enable-gcrypt --enable-slirp --disable-tools --disable-guest-agent
    --disable-capstone --disable-sdl --disable-gtk --disable-vnc --disable-opengl
    --disable-virglrenderer --disable-spice --disable-xen --disable-kvm --disable-fdt
    --disable-bpf --disable-libusb --disable-usb-redir --disable-install-blobs)

built() { [ -x "$bin" ] && [ -f "$rom/esp32-v3-rom.bin" ] && grep -q "patches $patch_sum" "$stamp" 2>/dev/null \
    && [ "$(cat "$src/.tinyml-patches" 2>/dev/null)" = "$patch_sum" ]; }
if built; then answer "$bin" "$rom" "$(cat "$stamp")"; fi

if [ ! -f "$tarball" ]; then
    say "no qemu-system-xtensa with the esp32 machine on PATH, and no QEMU source at $tarball."
    say "Put the ESP32 QEMU source there (../shared/qemu-esp32/ beside the repository), or build"
    say "Espressif's QEMU (git clone https://github.com/espressif/qemu; see its docs/esp32.md:"
    say "configure --target-list=xtensa-softmmu ... && ninja) and put its qemu-system-xtensa on PATH."
    exit 1
fi

mkdir -p "$out"
exec 9>"$out/.lock"
if ! flock -n 9; then
    say "another build of QEMU is running; waiting for it"
    flock 9
fi
if built; then answer "$bin" "$rom" "$(cat "$stamp")"; fi  # finished by the one we waited for

# Debian's build packages, when missing (root or sudo; else the apt-get line to run).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1; fi
}
missing=()
for p in ninja-build meson libglib2.0-dev libpixman-1-dev libslirp-dev libgcrypt20-dev python3 gcc pkg-config flex bison; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing the build packages ${missing[*]}"
    if ! { as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; } >&2; then
        say "could not install them (needs root or sudo): run"
        say "  sudo apt-get install ${missing[*]}"
        exit 1
    fi
fi

start=$(date +%s)
say "building qemu-system-xtensa (ESP32) from $tarball into $src (about 5 minutes on 2 cores; log: $out/build.log)"
: > "$out/build.log"
if [ ! -f "$src/configure" ] || [ ! -f "$src/.tinyml-tarball" ] || [ "$(cat "$src/.tinyml-tarball")" != "$(sha256sum < "$tarball" | cut -d' ' -f1)" ]; then
    rm -rf "$src" "$out/extract"
    mkdir -p "$out/extract"
    tar -xJf "$tarball" -C "$out/extract"
    mv "$out/extract/qemu-esp32" "$src"
    rmdir "$out/extract"
    sha256sum < "$tarball" | cut -d' ' -f1 > "$src/.tinyml-tarball"
fi
fail() { say "build failed; the end of $out/build.log:"; tail -n 30 "$out/build.log" >&2; exit 1; }
if [ "$(cat "$src/.tinyml-patches" 2>/dev/null)" != "$patch_sum" ]; then
    # the files our patches touch, as the tarball has them; then the patches
    touched=$(sed -n 's|^+++ b/\([^[:space:]]*\).*|qemu-esp32/\1|p' /dev/null "${patches[@]}" | sort -u)
    if [ -n "$touched" ]; then
        tar -xJf "$tarball" -C "$out" $touched  # $out/qemu-esp32 is $src
    fi
    for p in "${patches[@]}"; do
        patch -p1 -d "$src" --forward --quiet < "$p" >> "$out/build.log" 2>&1 || { say "patch $p does not apply"; fail; }
    done
    echo "$patch_sum" > "$src/.tinyml-patches"
fi
mkdir -p "$src/build"
if [ ! -f "$src/build/build.ninja" ]; then
    (cd "$src/build" && ../configure "${configure_args[@]}") >> "$out/build.log" 2>&1 || fail
fi
jobs=${QEMU_ESP32_JOBS:-2}
(cd "$src/build" && ninja -j"$jobs" qemu-system-xtensa) >> "$out/build.log" 2>&1 || fail
"$bin" -M help | grep -qw esp32 || { say "$bin was built but has no esp32 machine"; exit 1; }
[ -f "$rom/esp32-v3-rom.bin" ] || { say "$rom has no esp32-v3-rom.bin"; exit 1; }
printf 'QEMU %s with Espressif ESP32 support (github.com/mattiantonini/ESP32-QEMU c2193d1), from %s sha256 %s; patches %s (%s)\n' \
    "$(cat "$src/VERSION")" "$(basename "$tarball")" "$(cat "$src/.tinyml-tarball")" "$patch_sum" \
    "$(for p in "${patches[@]}"; do basename "$p"; done | tr '\n' ' ' | sed 's/ $//')" > "$stamp"
say "built in $(( $(date +%s) - start )) s: $bin"
answer "$bin" "$rom" "$(cat "$stamp")"
