#!/usr/bin/env bash
# Puts MicroPython's source (for py/dynruntime.mk, tools/mpy_ld.py, ports/qemu) in build/micropython
# and prints its path. MPY_DIR, when set, is used as it is. Otherwise Debian's `micropython` source
# package is fetched with `apt-get source` through an apt configuration of our own (its own sources
# list, lists and cache under build/apt), so the system's apt setup is left untouched.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${MPY_DIR:-}" ]; then
    [ -f "$MPY_DIR/py/dynruntime.mk" ] || { echo "MPY_DIR=$MPY_DIR has no py/dynruntime.mk: point it at a MicroPython source tree" >&2; exit 1; }
    echo "$MPY_DIR"; exit 0
fi
dest=$here/build/micropython
suite=${TINYML_DEBIAN_SUITE:-trixie}
if [ -f "$dest/py/dynruntime.mk" ] && [ -f "$dest/.tinyml-version" ]; then echo "$dest"; exit 0; fi

apt_root=$here/build/apt
. "$here/firmware/private_apt.sh"
mirror=$(debian_mirror) || { echo "or set MPY_DIR to a MicroPython source tree" >&2; exit 1; }
echo "tinyml: fetching MicroPython source (Debian $suite 'micropython' source package)..." >&2
private_apt "$apt_root" "deb-src $mirror $suite main"
(cd "$apt_root/src" && rm -rf micropython-* micropython_* && apt-get -q source --download-only micropython >&2)
dsc=$(ls "$apt_root"/src/micropython_*.dsc | head -n 1)
version=$(basename "$dsc" .dsc | sed 's/^micropython_//')
# dpkg-source is in dpkg-dev; unpack the tarballs ourselves so only tar is needed.
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
tar -xf "$(ls "$apt_root"/src/micropython_*.orig.tar.* | head -n 1)" -C "$dest.tmp" --strip-components=1
echo "$version (Debian $suite source package)" > "$dest.tmp/.tinyml-version"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "tinyml: MicroPython source $version in $dest" >&2
echo "$dest"
