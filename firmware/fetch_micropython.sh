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
mkdir -p "$apt_root/lists/partial" "$apt_root/cache/archives/partial" "$apt_root/src" "$apt_root/etc/preferences.d"
# The mirror this machine's apt already uses (TINYML_DEBIAN_MIRROR overrides it).
mirror=${TINYML_DEBIAN_MIRROR:-$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]+' \
    | grep -v -e security -e snapshot | head -n 1 || true)}
if [ -z "$mirror" ]; then
    echo "no Debian mirror found in /etc/apt: set TINYML_DEBIAN_MIRROR, or set MPY_DIR to a MicroPython source tree" >&2
    exit 1
fi
echo "deb-src $mirror $suite main" > "$apt_root/etc/sources.list"
cat > "$apt_root/apt.conf" <<CONF
Dir::Etc::SourceList "$apt_root/etc/sources.list";
Dir::Etc::SourceParts "$apt_root/etc/sources.list.d";
Dir::Etc::Preferences "$apt_root/etc/preferences";
Dir::Etc::PreferencesParts "$apt_root/etc/preferences.d";
Dir::State::Lists "$apt_root/lists";
Dir::Cache "$apt_root/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Sandbox::User "root";
CONF
mkdir -p "$apt_root/etc/sources.list.d"
export APT_CONFIG=$apt_root/apt.conf
echo "tinyml: fetching MicroPython source (Debian $suite 'micropython' source package)..." >&2
apt-get -q -o Debug::NoLocking=1 update >&2
(cd "$apt_root/src" && rm -rf micropython-* micropython_* && apt-get -q -o Debug::NoLocking=1 source --download-only micropython >&2)
dsc=$(ls "$apt_root"/src/micropython_*.dsc | head -n 1)
version=$(basename "$dsc" .dsc | sed 's/^micropython_//')
# dpkg-source is in dpkg-dev; unpack the tarballs ourselves so only tar is needed.
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
tar -xf "$(ls "$apt_root"/src/micropython_*.orig.tar.* | head -n 1)" -C "$dest.tmp" --strip-components=1
echo "$version (Debian $suite source package)" > "$dest.tmp/.tinyml-version"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "tinyml: MicroPython source $version in $dest" >&2
echo "$dest"
