#!/usr/bin/env bash
# Builds the native module firmware/kernels/tinyml_kernels.c as one .mpy per family of kernels (the
# TML_IN(...) groups of its mpy_init): dist/<arch>_<abi>/tinyml_kernels.mpy, the core (TML_NN), and
# tinyml_kernels_<family>.mpy for the others (abi = .mpy version.sub-version of the MicroPython source,
# e.g. 6.3), so that a model's load puts on the heap only the code of the families its ops use. One
# build folder per arch and family (build/natmod/<arch>, build/natmod/<arch>/<family>), then checks each
# file's header. make's own dependencies make a re-run quick.
# xtensawin (ESP32, ESP32-S3) is always built: with xtensa-esp32-elf-gcc from PATH or the one
# firmware/xtensa/toolchain.sh assembles, and its objects are checked before mpy_ld.py links them
# (firmware/xtensa/check_natmod.py: no undefined symbol such as a libgcc helper, IRAM-safe loads).
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
if [ -n "${ARCHS:-}" ]; then
    archs=$ARCHS; explicit=1
else
    archs="x64 armv6m armv7m armv7emsp rv32imc xtensawin"; explicit=0
fi

if [[ " $archs " == *" xtensawin "* ]]; then
    xtensa_bin=$("$root/firmware/xtensa/toolchain.sh") || {
        echo "build_natmod: no ESP32 compiler (see above), so no xtensawin module; ARCHS=\"...\" builds the others" >&2; exit 1; }
    PATH=$xtensa_bin:$PATH
fi

# xtensawin: compile, check the objects (check_natmod.py), and only then let mpy_ld.py link them.
check_xtensawin() { # uses make_args
    local objs rodata_in_ram
    objs=$(make --no-print-directory "${make_args[@]}" tinyml-objects \
        | tee /dev/stderr | sed -n 's/^OBJECTS: //p') && [ -n "$objs" ] || return 1
    # MicroPython 1.25's mpy_ld.py puts xtensawin rodata in a block the loader allocates in RAM
    # (separate_rodata); one without it merges rodata into the text that goes to IRAM, and then the
    # module must read its rodata as words only, and hand none of it to MicroPython.
    rodata_in_ram=$(cd "$mpy_dir/tools" && "$python" -c "import mpy_ld; print(getattr(mpy_ld.ARCH_DATA['xtensawin'], 'separate_rodata', False))")
    "$python" "$root/firmware/xtensa/check_natmod.py" --objdump "$(command -v xtensa-esp32-elf-objdump)" \
        $([ "$rodata_in_ram" = True ] && echo --rodata-in-ram) $objs
}

# The families, from the binding's groups: TML_NN is the core module tinyml_kernels, TML_<X> tinyml_kernels_<x>.
families=$(grep -o 'TML_IN(TML_[A-Z0-9_]*)' "$root/firmware/kernels/tinyml_kernels.c" | sed 's/TML_IN(\(.*\))/\1/' | awk '!seen[$0]++')
[ -n "$families" ] || { echo "build_natmod: no TML_IN(...) family in firmware/kernels/tinyml_kernels.c" >&2; exit 1; }

built=()
for arch in $archs; do
  for family in $families; do
    compiler=${cc[$arch]:-}
    [ -n "$compiler" ] || { echo "build_natmod: unknown arch '$arch' (known: ${!cc[*]})" >&2; exit 1; }
    if ! command -v "$compiler" >/dev/null; then
        echo "build_natmod: $compiler not found, skipping $arch" >&2
        [ "$explicit" = 0 ] || exit 1
        continue 2
    fi
    if [ "$family" = TML_NN ]; then
        mod=tinyml_kernels; build=$root/build/natmod/$arch
    else
        f=${family#TML_}; f=${f,,}; mod=tinyml_kernels_$f; build=$root/build/natmod/$arch/$f
    fi
    out=$root/dist/${arch}_$abi/$mod.mpy
    echo "== $arch $mod"
    make_args=(-C "$root/firmware/kernels" MPY_DIR="$mpy_dir" ARCH="$arch" BUILD="$build"
        OUT="$out" PYTHON="$python" MOD="$mod" FAMILY="$family")
    if [ "$arch" = xtensawin ]; then
        # No LINK_RUNTIME: the toolchain's libgcc would be call0-ABI (toolchain.sh removes it anyway).
        # xtensawin.mk: no zero-overhead loops, so that the ESP32-S2 runs the module too.
        make_args+=(LINK_RUNTIME=0 -f Makefile -f "$root/firmware/xtensa/xtensawin.mk")
    fi
    # make does not see flags given on its command line change: recompile when they do.
    stamp=$build/.tinyml-make-args
    if [ "$(cat "$stamp" 2>/dev/null)" != "${make_args[*]}" ]; then
        rm -f "$build/"*.o && mkdir -p "$(dirname "$stamp")" && echo "${make_args[*]}" > "$stamp"
    fi
    if [ "$arch" = xtensawin ]; then
        check_xtensawin || { rm -f "$out"; echo "build_natmod: xtensawin objects failed the checks above; no $out" >&2; exit 1; }
    fi
    make --no-print-directory "${make_args[@]}" "$out"
    built+=("$arch:$out")
  done
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
