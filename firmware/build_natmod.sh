#!/usr/bin/env bash
# Builds the native module firmware/kernels/tinyml_kernels.c as dist/<arch>_<abi>/tinyml_kernels.mpy
# (abi = .mpy version.sub-version of the MicroPython source, e.g. 6.3), one build folder per arch in
# build/natmod/<arch>, then checks each file's header. make's own dependencies make a re-run quick.
#   ARCHS="x64 armv7m" firmware/build_natmod.sh    # only these (default: all we can build here)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mpy_dir=$("$root/firmware/fetch_micropython.sh")
python=$root/.venv/bin/python # mpy_ld.py needs pyelftools
[ -x "$python" ] || python=python3
"$python" -c "import elftools" 2>/dev/null || { echo "build_natmod: $python lacks pyelftools (pip install pyelftools)" >&2; exit 1; }

# The ABI a native .mpy must match: MPY_VERSION.MPY_SUB_VERSION from py/persistentcode.h
abi=$(sed -n 's/^#define MPY_VERSION \([0-9]*\)$/\1/p' "$mpy_dir/py/persistentcode.h").$(sed -n 's/^#define MPY_SUB_VERSION \([0-9]*\)$/\1/p' "$mpy_dir/py/persistentcode.h")
[[ $abi =~ ^[0-9]+\.[0-9]+$ ]] || { echo "build_natmod: no MPY_VERSION/MPY_SUB_VERSION in $mpy_dir/py/persistentcode.h" >&2; exit 1; }

declare -A cc=([x64]=gcc [armv6m]=arm-none-eabi-gcc [armv7m]=arm-none-eabi-gcc [armv7emsp]=arm-none-eabi-gcc
    [rv32imc]=riscv64-unknown-elf-gcc [xtensawin]=xtensa-esp32-elf-gcc)
no_xtensa() {
    echo "build_natmod: xtensa-esp32-elf-gcc is not on PATH, so no xtensawin (ESP32/ESP32-S3) build;" \
        "ESP32 boards will use the viper backend. To build it, install Espressif's toolchain" \
        "(ESP-IDF's 'python tools/idf_tools.py install xtensa-esp32-elf', then '. export.sh', or the" \
        "xtensa-esp32-elf release from github.com/espressif/crosstool-NG) and re-run." >&2
}
if [ -n "${ARCHS:-}" ]; then
    archs=$ARCHS; explicit=1
else
    archs="x64 armv6m armv7m armv7emsp rv32imc xtensawin"; explicit=0
fi

built=()
for arch in $archs; do
    compiler=${cc[$arch]:-}
    [ -n "$compiler" ] || { echo "build_natmod: unknown arch '$arch' (known: ${!cc[*]})" >&2; exit 1; }
    if ! command -v "$compiler" >/dev/null; then
        if [ "$arch" = xtensawin ]; then no_xtensa; else echo "build_natmod: $compiler not found, skipping $arch" >&2; fi
        [ "$explicit" = 0 ] || exit 1
        continue
    fi
    out=$root/dist/${arch}_$abi/tinyml_kernels.mpy
    echo "== $arch"
    make --no-print-directory -C "$root/firmware/kernels" MPY_DIR="$mpy_dir" ARCH="$arch" \
        BUILD="$root/build/natmod/$arch" OUT="$out" PYTHON="$python" "$out"
    built+=("$arch:$out")
done

# Header check: b"M", MPY_VERSION, then arch << 2 | sub-version (arch numbers: persistentcode.h's enum).
"$python" - "$mpy_dir/py/persistentcode.h" "$abi" "${built[@]}" <<'PY'
import re, sys, os
src = open(sys.argv[1]).read()
enum = re.search(r"MP_NATIVE_ARCH_NONE = 0,(.*?)}", src, re.S).group(1)
codes = {n.lower(): i + 1 for i, n in enumerate(re.findall(r"MP_NATIVE_ARCH_(\w+)", enum))}
ver, sub = map(int, sys.argv[2].split("."))
bad = 0
for item in sys.argv[3:]:
    arch, path = item.split(":", 1)
    h = open(path, "rb").read(4)
    ok = h[0:1] == b"M" and h[1] == ver and h[2] >> 2 == codes[arch] and h[2] & 3 == sub
    bad += not ok
    print("%-10s %s  %5d bytes  header M v%d.%d arch=%d (%s)" % (arch, "ok " if ok else "BAD",
          os.path.getsize(path), h[1], h[2] & 3, h[2] >> 2, arch if ok else "expected %d" % codes[arch]))
sys.exit(1 if bad else 0)
PY
