# Pulling a signed update over HTTP (boards with a network: Wi-Fi), from `tinyml ota serve DIR` or any
# HTTP/1.0 server that honours byte ranges. MicroPython's own socket; nothing but ranges of the bundle
# file is asked for (bundle layout: host_tools/tinyml_host/ota/bundle.py):
#   1. bytes 0-11: the magic and the manifest's length; 2. the manifest and its signature, which
#   tinyml.ota.begin() checks before anything is written (and keeps the slot's files when it holds
#   this very manifest: a download cut off earlier resumes); 3. per file still missing, the range
#   from what its .part file already holds to its end, appended; the file is renamed once its
#   SHA-256 matches; 4. tinyml.ota.commit(): the update is tried at the next boot.
#   ok = ota_pull.pull("http://192.168.1.10:8266/model-v7.bundle")   # then machine.reset()
import json
import os
import socket
import struct

from tinyml import ota

MAGIC = b"TMLOTA\x00\x01"
_CHUNK = 512
_SYNC = 4096  # a .part file is synced every this many bytes: after a power cut, a board's flash
              # (littlefs) keeps what was synced, and the pull resumes from there


class PullError(Exception):
    pass


def _split(url):
    if not url.startswith("http://"):
        raise PullError("only http:// URLs: %s" % url)
    rest = url[7:]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port or 80), "/" + path


def _request(url, first, last):
    """An open socket positioned at the body of bytes first..last of url, and the body's length."""
    host, port, path = _split(url)
    s = socket.socket()
    try:
        s.connect(socket.getaddrinfo(host, port)[0][-1])
        s.write(b"GET %s HTTP/1.0\r\nHost: %s\r\nRange: bytes=%d-%d\r\n\r\n" % (path.encode(), host.encode(), first, last))
        status = s.readline().split(None, 2)
        if len(status) < 2 or status[1] not in (b"206", b"200"):
            raise PullError("%s answered %s" % (url, b" ".join(status[1:]).decode().strip() or "nothing"))
        length = None
        while True:
            line = s.readline()
            if not line or line == b"\r\n":
                break
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        if status[1] == b"200" and first:
            raise PullError("%s ignores byte ranges: it cannot resume" % url)
        return s, length
    except BaseException:
        s.close()
        raise


def _get(url, first, last):
    s, _ = _request(url, first, last)
    try:
        want = last - first + 1
        data = b""
        while len(data) < want:
            piece = s.read(want - len(data))
            if not piece:
                raise PullError("%s closed the connection early" % url)
            data += piece
        return data
    finally:
        s.close()


def _get_into(url, first, last, path):
    """Appends bytes first..last of url to the file at path."""
    s, _ = _request(url, first, last)
    buf = bytearray(_CHUNK)
    mv = memoryview(buf)
    left = last - first + 1
    unsynced = 0
    try:
        with open(path, "ab") as f:
            while left > 0:
                k = s.readinto(mv[:min(_CHUNK, left)])
                if not k:
                    raise PullError("%s closed the connection early" % url)
                f.write(mv[:k])
                left -= k
                unsynced += k
                if unsynced >= _SYNC:
                    f.flush()
                    unsynced = 0
    finally:
        s.close()


def missing(slot):
    """[(name, bytes already there)] of the slot's files not yet complete (for a resumed pull)."""
    m = json.loads(ota._read(ota._p(slot, "manifest.json")))
    out = []
    for f in m["files"]:
        path = ota._p(slot, f["name"])
        if ota._exists(path):
            continue
        try:
            n = os.stat(path + ".part")[6]
        except OSError:
            n = 0
        out.append((f["name"], n if n <= f["size"] else 0))
    return out


def finish_file(slot, name):
    """Renames <name>.part to <name> once it matches the manifest's size and SHA-256; else removes it."""
    m = json.loads(ota._read(ota._p(slot, "manifest.json")))
    f = [x for x in m["files"] if x["name"] == name]
    if not f:
        raise ota.UpdateError("%s is not in the update's manifest" % name)
    part = ota._p(slot, name + ".part")
    h, n = ota.sha256_file(part)
    if n != f[0]["size"] or h != f[0]["sha256"]:
        os.remove(part)
        return False
    ota._rename(part, ota._p(slot, name))
    return True


def pull(url):
    """Fetches, checks and commits the bundle at url; True when it is installed, to be tried at the
    next boot (then reset the board). False: refused (the reason is in ota.state()['last'])."""
    head = _get(url, 0, 11)
    if head[:8] != MAGIC:
        raise PullError("%s is not a tinyml update bundle" % url)
    n = struct.unpack("<I", head[8:12])[0]
    if n > ota.MAX_MANIFEST:
        raise PullError("%s: a manifest of %d bytes (at most %d)" % (url, n, ota.MAX_MANIFEST))
    body = _get(url, 12, 12 + n + 64 - 1)
    raw, sig = body[:n], body[n:]
    slot = ota.begin(raw, sig)  # the signature, product, sequence number, ABI: before any write
    if slot is None:
        return False
    start = 12 + n + 64
    files = {f["name"]: f for f in json.loads(raw)["files"]}
    for name, have in missing(slot):
        f = files[name]
        part = ota._p(slot, name + ".part")
        if have == 0:
            open(part, "wb").close()
        if have < f["size"]:
            _get_into(url, start + f["offset"] + have, start + f["offset"] + f["size"] - 1, part)
        if not finish_file(slot, name):
            raise PullError("%s arrived damaged (its SHA-256 differs from the manifest's): pull again" % name)
    return ota.commit(slot)
