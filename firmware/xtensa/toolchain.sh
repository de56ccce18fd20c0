#!/usr/bin/env bash
# Prints the directory holding xtensa-esp32-elf-gcc (with -as -ld -ar -nm -objdump -objcopy -readelf
# -size -strip beside it), for CROSS_COMPILE=xtensa-esp32-elf- (MicroPython's dynruntime.mk, Makefiles).
#
# A compiler of that name on PATH (e.g. ESP-IDF's) wins. Otherwise the toolchain is assembled once in
# build/xtensa/ (a second run only checks the stamp) from Debian packages and two Xtensa sources:
#  - trixie's gcc-xtensa-lx106 (GCC 13.3), started through trixie's own loader and libraries
#    (libc6 ... zlib1g, extracted beside it: it needs GLIBC 2.38), bookworm's binutils-xtensa-lx106
#    (2.40, runs natively) and picolibc-xtensa-lx106-elf's C headers, fetched with `apt-get download`
#    through an apt configuration of our own (firmware/private_apt.sh) and unpacked with `dpkg -x`;
#  - the core plugins: GCC >= 13 and binutils >= 2.40 built for Xtensa load the description of the
#    core from the shared object named by XTENSA_GNU_CONFIG. config/xtensa_esp32.so (ESP32, LX6) and
#    config/xtensa_esp32s3.so (ESP32-S3, LX7) are built with the host's cc from xtensa-dynconfig and
#    Espressif's xtensa-overlays, taken from ../shared/xtensa/*.tar.xz or TINYML_XTENSA_SOURCES.
# The xtensa-esp32-elf-* and xtensa-esp32s3-elf-* wrappers set XTENSA_GNU_CONFIG for their core.
# Debian's libgcc.a and crt*.o are for the lx106's call0 ABI (no `entry`, plain `ret`): called from
# windowed ESP32 code they crash, so they are removed here. A program that needs libgcc's helpers
# (64-bit shifts and division, soft double) fails to link, naming them, and must carry its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

if command -v xtensa-esp32-elf-gcc >/dev/null; then
    dirname "$(command -v xtensa-esp32-elf-gcc)"; exit 0
fi

dest=$root/build/xtensa
version_file=$dest/.tinyml-version
gcc_pkg=gcc-xtensa-lx106/trixie
binutils_pkg=binutils-xtensa-lx106/bookworm
layout="tinyml xtensa toolchain 3" # first line of the version file; bump it when the layout changes
if [ "$(head -n 1 "$version_file" 2>/dev/null)" = "$layout" ] && [ -x "$dest/bin/xtensa-esp32-elf-gcc" ]; then
    echo "$dest/bin"; exit 0
fi

# The two Xtensa sources: tarballs of these commits (see ../shared/xtensa/README.md).
dynconfig_url=https://github.com/jcmvbkbc/xtensa-dynconfig
dynconfig_commit=c545876
overlays_url=https://github.com/espressif/xtensa-overlays
overlays_commit=dd1cf19
have_sources() { [ -f "$1/xtensa-dynconfig.tar.xz" ] && [ -f "$1/xtensa-overlays.tar.xz" ]; }
sources=${TINYML_XTENSA_SOURCES:-$root/../shared/xtensa}
looked_in=$sources
if [ -z "${TINYML_XTENSA_SOURCES:-}" ] && ! have_sources "$sources" && command -v git >/dev/null; then
    # No ../shared/xtensa beside the clone: take the same two commits from GitHub, once.
    sources=$root/build/xtensa-sources
    looked_in="$looked_in (and cloning them from GitHub failed)"
    if ! have_sources "$sources"; then
        echo "toolchain: no ../shared/xtensa; cloning the Xtensa core sources from GitHub..." >&2
        rm -rf "$sources" && mkdir -p "$sources"
        for pair in "xtensa-dynconfig $dynconfig_url $dynconfig_commit" "xtensa-overlays $overlays_url $overlays_commit"; do
            set -- $pair
            if git clone -q "$2" "$sources/$1" >&2 && git -C "$sources/$1" checkout -q "$3" >&2; then
                tar -C "$sources" -cJf "$sources/$1.tar.xz" --exclude=.git "$1" && rm -rf "${sources:?}/$1"
            fi
        done
    fi
fi
if ! have_sources "$sources"; then
    cat >&2 <<MSG
toolchain: no xtensa-esp32-elf-gcc on PATH and no Xtensa core sources in $looked_in
  (xtensa-dynconfig.tar.xz, xtensa-overlays.tar.xz). Either put Espressif's toolchain on PATH
  (ESP-IDF: 'python tools/idf_tools.py install xtensa-esp32-elf', then '. export.sh'), or make the
  two tarballs from GitHub and point TINYML_XTENSA_SOURCES at their folder:
    git clone $dynconfig_url && git -C xtensa-dynconfig checkout $dynconfig_commit
    git clone $overlays_url && git -C xtensa-overlays checkout $overlays_commit
    tar -cJf xtensa-dynconfig.tar.xz --exclude=.git xtensa-dynconfig
    tar -cJf xtensa-overlays.tar.xz --exclude=.git xtensa-overlays
MSG
    exit 1
fi
for tool in cc dpkg apt-get tar; do
    command -v $tool >/dev/null || { echo "toolchain: needs '$tool' (Debian: apt-get install gcc dpkg apt tar)" >&2; exit 1; }
done

start=$SECONDS
echo "toolchain: assembling the ESP32 compiler in $dest (once)..." >&2
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"/{deb,sysroot,src,config,bin}
tmp=$dest.tmp

# 1. Debian packages, through our own apt configuration.
. "$root/firmware/private_apt.sh"
mirror=$(debian_mirror)
private_apt "$root/build/apt-xtensa" "deb $mirror trixie main" "deb $mirror bookworm main"
trixie_libs="libc6 libstdc++6 libgcc-s1 libisl23 libmpc3 libmpfr6 libgmp10 libzstd1 zlib1g"
pkgs=("$gcc_pkg" "$binutils_pkg" picolibc-xtensa-lx106-elf/trixie)
for lib in $trixie_libs; do pkgs+=("$lib/trixie"); done
(cd "$tmp/deb" && apt-get -q download "${pkgs[@]}" >&2)
for deb in "$tmp"/deb/*.deb; do dpkg -x "$deb" "$tmp/sysroot"; done
sys=$tmp/sysroot
# What the compiler of C for the ESP32 does not need (C++, D, LTO, docs, picolibc's lx106 libraries).
gcc_lib=$(echo "$sys"/usr/lib/gcc/xtensa-lx106-elf/*)
rm -rf "$sys"/usr/share "$sys"/usr/lib/x86_64-linux-gnu/gconv "$sys"/usr/lib/xtensa-lx106-elf/lib \
    "$sys"/usr/bin/xtensa-lx106-elf-{c++,g++,gdc,lto-dump} "$gcc_lib"/{cc1plus,d21,lto1,g++-mapper-server}
# ... and what would be wrong for it: the call0-ABI runtime (see the top of this file).
rm -f "$gcc_lib"/{libgcc.a,libgcov.a,crti.o,crtn.o,crtbegin.o,crtend.o}
# ... and the LTO linker plugin: built for trixie's glibc, bookworm's ld cannot load it (the gcc
# wrappers pass -fno-use-linker-plugin, which Debian's gcc would otherwise make the default).
rm -f "$gcc_lib"/liblto_plugin.*

# 2. trixie's programs run through trixie's loader: each ELF program of the compiler becomes
#    <name>.real plus a script that starts it with trixie's ld.so and libraries (paths relative to
#    the script, so build/xtensa can move).
loader=usr/lib64/ld-linux-x86-64.so.2
[ -e "$sys/$loader" ] || { echo "toolchain: trixie's libc6 has no $loader" >&2; exit 1; }
wrap_trixie() { # $1: program inside sysroot
    local prog=$1 up
    up=$(dirname "$prog" | sed 's|[^/][^/]*|..|g')
    mv "$sys/$prog" "$sys/$prog.real"
    cat > "$sys/$prog" <<SH
#!/bin/sh
s=\$(dirname "\$0")/$up
exec "\$s/$loader" --library-path "\$s/usr/lib/x86_64-linux-gnu:\$s/lib/x86_64-linux-gnu" --argv0 "\$0" "\$0.real" "\$@"
SH
    chmod +x "$sys/$prog"
}
for prog in usr/bin/xtensa-lx106-elf-gcc usr/bin/xtensa-lx106-elf-cpp \
        "${gcc_lib#"$sys/"}"/cc1 "${gcc_lib#"$sys/"}"/collect2 "${gcc_lib#"$sys/"}"/lto-wrapper; do
    [ -f "$sys/$prog" ] && wrap_trixie "$prog"
done

# 3. The core plugins, from the two sources (fix-known-overlay-issues.sh makes the overlay's tables
#    static so that one .so can hold them with the plugin's own).
tar -xJf "$sources/xtensa-dynconfig.tar.xz" -C "$tmp/src"
tar -xJf "$sources/xtensa-overlays.tar.xz" -C "$tmp/src"
dc=$tmp/src/xtensa-dynconfig
mkdir -p "$dc/config"
for core in xtensa_esp32 xtensa_esp32s3; do
    cp -r "$tmp/src/xtensa-overlays/$core" "$dc/config/$core"
done
(cd "$dc/config" && sh ../scripts/fix-known-overlay-issues.sh)
for core in xtensa_esp32 xtensa_esp32s3; do
    make -s -C "$dc" CONF_DIR=config "$core.so" >&2
    cp "$dc/$core.so" "$tmp/config/"
done

# 4. The wrappers: one set per core.
for pair in esp32:xtensa_esp32 esp32s3:xtensa_esp32s3; do
    chip=${pair%%:*} core=${pair#*:}
    for tool in gcc cpp as ld ar nm objdump objcopy readelf size strip; do
        target=usr/bin/xtensa-lx106-elf-$tool
        [ -e "$sys/$target" ] || { echo "toolchain: $target missing from the packages" >&2; exit 1; }
        extra=
        [ "$tool" != gcc ] || extra=" -fno-use-linker-plugin"
        cat > "$tmp/bin/xtensa-$chip-elf-$tool" <<SH
#!/bin/sh
# xtensa-lx106-elf-$tool (Debian) for the $core core. There is no libgcc here: Debian's is call0 ABI.
d=\$(cd "\$(dirname "\$0")/.." && pwd)
XTENSA_GNU_CONFIG=\$d/config/$core.so exec "\$d/sysroot/$target"$extra "\$@"
SH
        chmod +x "$tmp/bin/xtensa-$chip-elf-$tool"
    done
done

# 5. Check it: an ESP32 function must come out windowed (entry/retw), with the ESP32's mull.
cat > "$tmp/src/probe.c" <<'C'
#include <stdint.h>
int32_t probe(int32_t a, int32_t b) { return a * b; }
C
"$tmp/bin/xtensa-esp32-elf-gcc" -O2 -c "$tmp/src/probe.c" -o "$tmp/src/probe.o"
# ... and link, as a bare-metal firmware does (gcc driver, collect2, ld).
"$tmp/bin/xtensa-esp32-elf-gcc" -nostdlib -Wl,-e,probe -Wl,-Ttext=0x40080000 "$tmp/src/probe.o" -o "$tmp/src/probe.elf"
dis=$("$tmp/bin/xtensa-esp32-elf-objdump" -d "$tmp/src/probe.o")
for insn in entry mull retw; do
    grep -qw "$insn" <<<"$dis" || { echo "toolchain: the compiler's test function has no '$insn': the ESP32 core plugin is not in effect" >&2; echo "$dis" >&2; exit 1; }
done
rm -rf "$tmp/deb" "$tmp/src"

versions=$(for p in "${pkgs[@]}"; do
    printf '%s=%s ' "${p%/*}" "$(apt-cache show "$p" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)"; done)
cat > "$tmp/.tinyml-version" <<V
$layout
Debian packages ($mirror): $versions
xtensa-dynconfig: $dynconfig_url at $dynconfig_commit ($sources/xtensa-dynconfig.tar.xz)
xtensa-overlays: $overlays_url at $overlays_commit ($sources/xtensa-overlays.tar.xz)
cores: xtensa_esp32 (xtensa-esp32-elf-*), xtensa_esp32s3 (xtensa-esp32s3-elf-*)
V
rm -rf "$dest" && mv "$tmp" "$dest"
rm -rf "$root/build/apt-xtensa" # its package lists (about 40 MB) are not needed any more
echo "toolchain: built in $((SECONDS - start)) s, $(du -sh "$dest" | cut -f1); $dest/bin" >&2
echo "$dest/bin"
