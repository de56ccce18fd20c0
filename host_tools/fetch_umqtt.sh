#!/usr/bin/env bash
# umqtt.simple from micropython-lib (MicroPython's MQTT client; `tinyml.monitor` publishes with it),
# as PyPI holds it: micropython-umqtt.simple 1.3.4, an upip sdist that pip cannot install, so its one
# file is taken out of the archive, checked against the hash below, into build/micropython-lib/.
# Boards get it as /lib/umqtt/simple.py (tinyml monitor --install-mqtt, or the tests). Prints its path.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=$here/build/micropython-lib/umqtt/simple.py
url=https://files.pythonhosted.org/packages/bd/cf/697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/micropython-umqtt.simple-1.3.4.tar.gz
sha=b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f
if [ -f "$dest" ]; then echo "$dest"; exit 0; fi
mkdir -p "$(dirname "$dest")"
"$here/.venv/bin/python" - "$url" "$sha" "$dest" <<'PY'
import hashlib, io, os, sys, tarfile, urllib.request
url, sha, dest = sys.argv[1:]
data = urllib.request.urlopen(url, timeout=120).read()
if hashlib.sha256(data).hexdigest() != sha:
    sys.exit("umqtt.simple: %s does not have the expected sha256 %s" % (url, sha))
with tarfile.open(fileobj=io.BytesIO(data)) as t:
    src = t.extractfile("micropython-umqtt.simple-1.3.4/umqtt/simple.py").read()
with open(dest + ".tmp", "wb") as f:
    f.write(src)
os.replace(dest + ".tmp", dest)
PY
echo "$dest"
