#!/usr/bin/env bash
# Proves firmware/kernels builds as a user C module: builds MicroPython's unix port (from a copy of the
# source in build/unix-usercmod, so build/micropython stays pristine) with USER_C_MODULES, then checks
# that `import tinyml_kernels` works there and gives the same bytes as tinyml.kernels_py. Slowish the
# first time (about a minute on 2 cores), incremental afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mpy_dir=$("$root/firmware/fetch_micropython.sh")
dest=$root/build/unix-usercmod
jobs=${JOBS:-2}
export GIT_CEILING_DIRECTORIES=$root/build # the copy is no git checkout: keep git out of the enclosing repo

# (Re)copy the source when it is not the one copied last time.
stamp="$mpy_dir $(cat "$mpy_dir/.tinyml-version" 2>/dev/null || true)"
if [ ! -f "$dest/.copied-from" ] || [ "$(cat "$dest/.copied-from")" != "$stamp" ]; then
    rm -rf "$dest" "$dest.tmp" && cp -a "$mpy_dir" "$dest.tmp" && echo "$stamp" > "$dest.tmp/.copied-from"
    mv "$dest.tmp" "$dest"
fi

log=$dest/build.log
run() { # a build step, its output in $log, shown only when it fails
    "$@" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; echo "check_user_cmodule: failed: $* (whole log: $log)" >&2; exit 1; }
}
: >"$log"
run make -C "$dest/mpy-cross" -j"$jobs"
# Debian's "+ds" source has empty lib/ submodules: no micropython-lib (frozen manifest), berkeley-db
# (btree), axtls/mbedtls (ssl). Those features are turned off; libffi comes from the system.
# make's USER_C_MODULES is the folder holding module folders: firmware/, for firmware/kernels/micropython.mk.
run make -C "$dest/ports/unix" -j"$jobs" USER_C_MODULES="$root/firmware" FROZEN_MANIFEST= MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0
grep "User C Module" "$log" | head -n 1
upy=$dest/ports/unix/build-standard/micropython

cat > "$dest/check_tinyml.py" <<PY
import sys, struct
sys.path.insert(0, "$root/device_lib")
import tinyml_kernels as nat
from tinyml import kernels_py as ref
print("tinyml_kernels", nat.NAME, nat.__version__, "built in:", sys.implementation._build, sys.version)
x = bytes((i * 73 + 11) % 256 for i in range(3 * 37))
w = bytes((i * 29 + 5) % 256 for i in range(10 * 37))
bias = struct.pack("<10i", *[(i - 5) * 999 for i in range(10)])
mult = struct.pack("<10i", *[1518500250 - i * 12345 for i in range(10)])
shift = struct.pack("<10i", *[-9 - i % 3 for i in range(10)])
ys = []
for k in (nat, ref):
    y = bytearray(30)
    k.fully_connected(x, w, bias, mult, shift, y, 37, 10, -3, -128, 127)
    z = bytearray(30)
    k.softmax(y, z, 10, 1518500250, 22, -3968)
    ys.append(bytes(y) + bytes(z))
assert ys[0] == ys[1], ys
assert len(set(ys[0])) > 20, ys[0]
print("user C module tinyml_kernels: same bytes as kernels_py")
PY
"$upy" "$dest/check_tinyml.py"
