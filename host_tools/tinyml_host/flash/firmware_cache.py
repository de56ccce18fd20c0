"""Official MicroPython releases for ESP32 boards, downloaded once into ~/.cache/tinyml/firmware/.

A release is named by board and version (`fetch("esp32", "v1.25.0")`): the board's download page
on micropython.org lists its files (`ESP32_GENERIC-20250415-v1.25.0.bin`), the file is downloaded,
checked (a SHA-256 the server publishes beside it, `<file>.sha256`, or one given by the caller,
and always the image's own structure: magic, chip ID, checksum and SHA-256 digests of its
bootloader and app, so a truncated or corrupted download is refused), and kept in the cache with
its SHA-256 recorded beside it (`<file>.sha256`), which every later use verifies. Offline, a clear
error names the page to fetch it from and the path to put it at.

TINYML_FIRMWARE_URL replaces https://micropython.org (a mirror, or a test server);
TINYML_CACHE_DIR replaces ~/.cache/tinyml."""

import hashlib
import os
import pathlib
import re
import urllib.error
import urllib.request

from tinyml_host.flash.image import FlashError, inspect_firmware

DEFAULT_VERSION = "v1.25.0"  # MicroPython 1.25: .mpy ABI 6.3, as `make natmod` builds
BASE_URL = "https://micropython.org"

# tinyml board -> MicroPython's board name for the generic module
RELEASE_BOARDS = {
    "esp32": "ESP32_GENERIC",
    "esp32s2": "ESP32_GENERIC_S2",
    "esp32s3": "ESP32_GENERIC_S3",
    "esp32c3": "ESP32_GENERIC_C3",
    "esp32c6": "ESP32_GENERIC_C6",
}


class FirmwareError(FlashError):
    """No firmware to flash; the message says where to get it."""


def cache_dir():
    base = os.environ.get("TINYML_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tinyml")
    return pathlib.Path(base) / "firmware"


def release_board(board):
    if board in RELEASE_BOARDS:
        return RELEASE_BOARDS[board]
    if board.upper().startswith("ESP32"):  # a MicroPython board name given as is
        return board.upper()
    raise FirmwareError("no official MicroPython release is known for board %r; boards: %s"
                        % (board, ", ".join(RELEASE_BOARDS)))


def _version(version):
    version = version or DEFAULT_VERSION
    return version if version.startswith("v") else "v" + version


def cache_path(board, version=None):
    """Where the release stands in the cache (whether or not it is there yet)."""
    return cache_dir() / ("%s-%s.bin" % (release_board(board), _version(version)))


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _record(path):
    return pathlib.Path(str(path) + ".sha256")


def cached(board, version=None):
    """The cached release, checked against its recorded SHA-256, or None. A file dropped in by
    hand under the cache name, or under the official name (ESP32_GENERIC-<date>-v1.25.0.bin),
    counts too: its checksum is recorded on first use."""
    path = cache_path(board, version)
    if not path.exists():
        official = sorted(cache_dir().glob("%s-*-%s.bin" % (release_board(board), _version(version))))
        if not official:
            return None
        path = official[-1]
    record = _record(path)
    digest = _sha256(path)
    if record.exists():
        want = record.read_text().split()[0].lower()
        if want != digest:
            raise FirmwareError("%s does not match its recorded SHA-256 (%s, file has %s): it changed or is "
                                "damaged; delete it and run again to download it afresh" % (path, want, digest))
    else:
        _check_image(path.read_bytes(), board, str(path))
        record.write_text("%s  %s\n" % (digest, path.name))
    return path


def _check_image(data, board, name):
    """Refuses a download that is not a whole firmware image for this board's chip."""
    try:
        info = inspect_firmware(data, name)
    except FlashError as e:
        raise FirmwareError("the downloaded %s is not usable: %s" % (name, e))
    chip = board if board in RELEASE_BOARDS else None
    if chip and info.chip != chip:
        raise FirmwareError("the downloaded %s is for %s, not %s" % (name, info.chip, chip))
    return info


def _get(url, timeout=30):
    req = urllib.request.Request(url, headers={"User-Agent": "tinyml-flash"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def offline_message(board, version, reason):
    rb, v = release_board(board), _version(version)
    page = "%s/download/%s/" % (os.environ.get("TINYML_FIRMWARE_URL") or BASE_URL, rb)
    return ("cannot download MicroPython %s for %s: %s.\n  fix: on a machine that is online, get the "
            "file %s-<date>-%s.bin from %s, and put it at %s (or anywhere, and pass FIRMWARE=path/to/it.bin "
            "to make, --firmware to tinyml)." % (v, rb, reason, rb, v, page, cache_path(board, version)))


def fetch(board, version=None, sha256=None, say=print):
    """The path of the official release for board and version: from the cache, else downloaded."""
    path = cached(board, version)
    if path is not None:
        if sha256 and _sha256(path) != sha256.lower():
            raise FirmwareError("%s does not have the SHA-256 you gave (%s)" % (path, sha256))
        say("firmware %s (cached)" % path)
        return path
    rb, v = release_board(board), _version(version)
    base = (os.environ.get("TINYML_FIRMWARE_URL") or BASE_URL).rstrip("/")
    page_url = "%s/download/%s/" % (base, rb)
    try:
        page = _get(page_url).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        raise FirmwareError("%s answered %s: is %s a MicroPython board name?" % (page_url, e.code, rb))
    except (urllib.error.URLError, OSError) as e:
        raise FirmwareError(offline_message(board, version, "this machine is offline (%s)"
                                            % getattr(e, "reason", e)))
    names = sorted(set(re.findall(r"(%s-\d{8}-%s\.bin)" % (re.escape(rb), re.escape(v)), page)))
    if not names:
        raise FirmwareError("%s lists no %s release for %s (is the version right? the page lists: %s)"
                            % (page_url, v, rb, ", ".join(sorted(set(re.findall(r"-(v\d+\.\d+\.\d+)\.bin", page))))
                                                       or "nothing"))
    name = names[-1]
    file_url = "%s/resources/firmware/%s" % (base, name)
    say("downloading %s" % file_url)
    try:
        data = _get(file_url, timeout=120)
    except (urllib.error.URLError, OSError) as e:
        raise FirmwareError(offline_message(board, version, "the download failed (%s)" % getattr(e, "reason", e)))
    digest = hashlib.sha256(data).hexdigest()
    published = None
    try:
        published = _get(file_url + ".sha256").decode().split()[0].lower()
    except (urllib.error.URLError, OSError, IndexError, UnicodeDecodeError):
        pass
    for want, source in ((sha256, "the SHA-256 you gave"), (published, file_url + ".sha256")):
        if want and want.lower() != digest:
            raise FirmwareError("%s has SHA-256 %s, not %s from %s: refusing it" % (name, digest, want, source))
    _check_image(data, board, name)
    path = cache_path(board, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    _record(path).write_text("%s  %s\n" % (digest, name))
    say("firmware %s (%d bytes, SHA-256 %s%s)" % (path, len(data), digest,
                                                 ", as published" if published else ", recorded"))
    return path
