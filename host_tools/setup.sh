#!/usr/bin/env bash
# Everything tinyml needs on a Debian machine, idempotent: .venv with the host tools (and the
# `tinyml` command), the cross compilers for the native kernels, and MicroPython's source.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'setup: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1; fi
}

# 1. Python environment.
if [ ! -x .venv/bin/python ]; then
    if ! python3 -m venv .venv 2>/dev/null; then
        rm -rf .venv
        say "python3 has no venv module; installing python3-venv"
        as_root apt-get install -y -q python3-venv || { say "install python3-venv (apt-get install python3-venv) and run again"; exit 1; }
        python3 -m venv .venv
    fi
fi
stamp=.venv/.tinyml-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing the host tools into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    echo "$want" > "$stamp"
fi

# 2. Cross compilers for the native module (Debian packages).
missing=()
command -v arm-none-eabi-gcc >/dev/null || missing+=(gcc-arm-none-eabi)
command -v riscv64-unknown-elf-gcc >/dev/null || missing+=(gcc-riscv64-unknown-elf)
[ -d /usr/lib/picolibc/riscv64-unknown-elf ] || missing+=(picolibc-riscv64-unknown-elf)
# QEMU for the emulated boards qemu-m3 and qemu-m4 (ARM) and qemu-rv32 (RISC-V, in qemu-system-misc).
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
command -v qemu-system-riscv32 >/dev/null || missing+=(qemu-system-misc)
# Mosquitto, the MQTT broker (and its clients) the monitoring tests start on loopback.
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_sub >/dev/null || missing+=(mosquitto-clients)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    if ! { as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; } >/dev/null; then
        say "could not install ${missing[*]} (needs root or sudo): run"
        say "  sudo apt-get install ${missing[*]}"
        say "native modules for those architectures (and the emulated boards needing QEMU) will not be built until then"
    fi
fi

# ESP32 compiler (xtensa-esp32-elf-*): one on PATH wins, else assembled once in build/xtensa from
# Debian's lx106 packages and the ESP32 core plugin (firmware/xtensa/toolchain.sh says how).
xtensa_bin=$(bash firmware/xtensa/toolchain.sh) || { say "no ESP32 compiler: xtensawin native module will not be built (see above)"; xtensa_bin=; }
[ -z "$xtensa_bin" ] || say "ESP32 compiler: $xtensa_bin/xtensa-esp32-elf-gcc"

# 3. MicroPython's source, for py/dynruntime.mk and tools/mpy_ld.py.
mpy_dir=$(bash firmware/fetch_micropython.sh)
say "MicroPython source: $mpy_dir ($(cat "$mpy_dir/.tinyml-version" 2>/dev/null || echo "from MPY_DIR"))"
# lwIP's source (Debian's lwip package; MicroPython's lib/lwip is empty in Debian's source), for the
# qemu-m3 firmware's network (firmware/build_board.sh asks for it too).
lwip_dir=$(bash firmware/fetch_lwip.sh)
say "lwIP source: $lwip_dir ($(cat "$lwip_dir/.tinyml-version" 2>/dev/null || echo "from LWIP_DIR"))"
# 4. umqtt.simple (micropython-lib's MQTT client, from PyPI) for boards that publish monitoring.
umqtt=$(bash host_tools/fetch_umqtt.sh) || { say "could not fetch umqtt.simple from PyPI: MQTT publishing untested"; umqtt=; }
[ -z "$umqtt" ] || say "umqtt.simple: $umqtt"
say "ready: .venv/bin/tinyml"
