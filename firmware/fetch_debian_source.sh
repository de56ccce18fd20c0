#!/usr/bin/env bash
# Puts the source of one of Debian's source packages in build/<dir> and prints its path:
#   fetch_debian_source.sh PACKAGE DIR MARKER VAR LABEL
# MARKER is a file every tree of that source has. VAR names an environment variable: when it is set,
# its tree is used as it is. Otherwise the package is fetched with `apt-get source` through an apt
# configuration of our own (firmware/private_apt.sh: its own sources list, lists and cache under
# build/apt), so the system's apt setup is left untouched, and unpacked with tar (no dpkg-dev).
# fetch_micropython.sh and fetch_lwip.sh call it.
set -euo pipefail
pkg=$1 dir=$2 marker=$3 var=$4 label=$5
here=$(cd "$(dirname "$0")/.." && pwd)
given=${!var:-}
if [ -n "$given" ]; then
    [ -f "$given/$marker" ] || { echo "$var=$given has no $marker: point it at a $label source tree" >&2; exit 1; }
    echo "$given"; exit 0
fi
dest=$here/build/$dir
suite=${TINYML_DEBIAN_SUITE:-trixie}
if [ -f "$dest/$marker" ] && [ -f "$dest/.tinyml-version" ]; then echo "$dest"; exit 0; fi

apt_root=$here/build/apt
. "$here/firmware/private_apt.sh"
mirror=$(debian_mirror) || { echo "or set $var to a $label source tree" >&2; exit 1; }
echo "tinyml: fetching $label source (Debian $suite '$pkg' source package)..." >&2
private_apt "$apt_root" "deb-src $mirror $suite main"
(cd "$apt_root/src" && rm -rf "$pkg"-* "$pkg"_* && apt-get -q source --download-only "$pkg" >&2)
dsc=$(ls "$apt_root/src/${pkg}_"*.dsc | head -n 1)
version=$(basename "$dsc" .dsc | sed "s/^${pkg}_//")
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
tar -xf "$(ls "$apt_root/src/${pkg}_"*.orig.tar.* | head -n 1)" -C "$dest.tmp" --strip-components=1
echo "$version (Debian $suite source package)" > "$dest.tmp/.tinyml-version"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "tinyml: $label source $version in $dest" >&2
echo "$dest"
