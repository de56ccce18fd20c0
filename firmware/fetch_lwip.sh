#!/usr/bin/env bash
# Puts lwIP's source (the TCP/IP stack of the qemu-m3 board's network: MicroPython's lib/lwip is
# empty in Debian's micropython source package) in build/lwip and prints its path. LWIP_DIR, when
# set, is used as it is. Otherwise Debian's `lwip` source package is fetched with `apt-get source`
# through the private apt configuration fetch_micropython.sh uses (firmware/private_apt.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${LWIP_DIR:-}" ]; then
    [ -f "$LWIP_DIR/src/core/tcp.c" ] || { echo "LWIP_DIR=$LWIP_DIR has no src/core/tcp.c: point it at an lwIP source tree" >&2; exit 1; }
    echo "$LWIP_DIR"; exit 0
fi
dest=$here/build/lwip
suite=${TINYML_DEBIAN_SUITE:-trixie}
if [ -f "$dest/src/core/tcp.c" ] && [ -f "$dest/.tinyml-version" ]; then echo "$dest"; exit 0; fi

apt_root=$here/build/apt
. "$here/firmware/private_apt.sh"
mirror=$(debian_mirror) || { echo "or set LWIP_DIR to an lwIP source tree" >&2; exit 1; }
echo "tinyml: fetching lwIP source (Debian $suite 'lwip' source package)..." >&2
private_apt "$apt_root" "deb-src $mirror $suite main"
(cd "$apt_root/src" && rm -rf lwip-* lwip_* && apt-get -q source --download-only lwip >&2)
dsc=$(ls "$apt_root"/src/lwip_*.dsc | head -n 1)
version=$(basename "$dsc" .dsc | sed 's/^lwip_//')
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
tar -xf "$(ls "$apt_root"/src/lwip_*.orig.tar.* | head -n 1)" -C "$dest.tmp" --strip-components=1
echo "$version (Debian $suite source package)" > "$dest.tmp/.tinyml-version"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "tinyml: lwIP source $version in $dest" >&2
echo "$dest"
