"""The firmware `tinyml flash` takes when none is given (firmware_cache: the official MicroPython
release, downloaded once, checksummed, refused for another chip), and the files `make firmware`
hands to ESP-IDF (firmware/esp32), checked without ESP-IDF."""

import hashlib
import http.server
import os
import pathlib
import shutil
import subprocess
import sys
import threading

import pytest

from tinyml_host.emulators import esp_rom
from tinyml_host.emulators.esp_rom.hooks import flash_hooks
from tinyml_host.flash import esp as flash
from tinyml_host.flash import firmware_cache

ROOT = pathlib.Path(__file__).resolve().parents[1]
KB = 1024


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No user cache, config or default port leaks in; emulators register under tmp_path."""
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TINYML_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("TINYML_PORT", raising=False)
    monkeypatch.delenv("TINYML_FIRMWARE_URL", raising=False)
    yield


def image(chip="esp32", size=200 * KB):
    return esp_rom.build_micropython_image(chip, size)


def run(*args, **kw):
    return flash.flash(*args, quiet_esptool=True, say=lambda m: None, hooks=flash_hooks(), **kw)


# ------------------------------------------------------------------------------------------------
# The firmware cache

class _Server:
    def __init__(self, files):
        files = dict(files)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *a):
                pass
        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_firmware_download_cache_and_offline(tmp_path, monkeypatch):
    data = image("esp32c3")
    name = "ESP32_GENERIC_C3-20250415-v1.25.0.bin"
    page = ('<a href="/resources/firmware/ESP32_GENERIC_C3-20241129-v1.24.1.bin">v1.24.1</a>'
            '<a href="/resources/firmware/%s">v1.25.0 (latest)</a>' % name).encode()
    server = _Server({"/download/ESP32_GENERIC_C3/": page, "/resources/firmware/" + name: data,
                      "/resources/firmware/%s.sha256" % name: hashlib.sha256(data).hexdigest().encode()})
    monkeypatch.setenv("TINYML_FIRMWARE_URL", server.url)
    try:
        path = firmware_cache.fetch("esp32c3", "v1.25.0", say=lambda m: None)
    finally:
        server.close()
    assert path == firmware_cache.cache_path("esp32c3", "1.25.0") and path.read_bytes() == data
    assert str(path).startswith(str(tmp_path / "cache" / "firmware"))
    assert pathlib.Path(str(path) + ".sha256").read_text().split()[0] == hashlib.sha256(data).hexdigest()
    assert firmware_cache.fetch("esp32c3", "v1.25.0", say=lambda m: None) == path  # offline now: the cache
    with esp_rom.EmulatedRom("esp32c3", tmp_path / "flash.bin", pace=False) as rom:
        assert run("esp32c3", rom.device).version == "1.25.0"  # no FIRMWARE: the cached release
    path.write_bytes(data[:-1] + b"\0")
    with pytest.raises(firmware_cache.FirmwareError, match="recorded SHA-256"):
        firmware_cache.fetch("esp32c3", "v1.25.0", say=lambda m: None)
    # offline and nothing cached: where to get the file and where to put it
    with pytest.raises(firmware_cache.FirmwareError) as e:
        firmware_cache.fetch("esp32s3", "v1.25.0", say=lambda m: None)
    msg = str(e.value)
    assert "offline" in msg and "ESP32_GENERIC_S3-<date>-v1.25.0.bin" in msg and "FIRMWARE=" in msg
    assert str(firmware_cache.cache_path("esp32s3", "v1.25.0")) in msg


def test_firmware_download_refuses_bad_checksum_and_wrong_chip(tmp_path, monkeypatch):
    data = image("esp32")
    name = "ESP32_GENERIC-20250415-v1.25.0.bin"
    files = {"/download/ESP32_GENERIC/": ('href="/resources/firmware/%s"' % name).encode(),
             "/resources/firmware/" + name: data, "/resources/firmware/%s.sha256" % name: b"00" * 32}
    server = _Server(files)
    monkeypatch.setenv("TINYML_FIRMWARE_URL", server.url)
    try:
        with pytest.raises(firmware_cache.FirmwareError, match="refusing it"):
            firmware_cache.fetch("esp32", say=lambda m: None)
        del files["/resources/firmware/%s.sha256" % name]
        server.close()
        files["/resources/firmware/" + name] = image("esp32c3")
        server = _Server(files)
        monkeypatch.setenv("TINYML_FIRMWARE_URL", server.url)
        with pytest.raises(firmware_cache.FirmwareError, match="is for esp32c3"):
            firmware_cache.fetch("esp32", say=lambda m: None)
    finally:
        server.close()
    assert not firmware_cache.cache_path("esp32").exists()


# ------------------------------------------------------------------------------------------------
# make firmware: the files ESP-IDF would use, checked without ESP-IDF

def _frozen_by_manifest(manifest):
    """The device_lib files the manifest freezes, via MicroPython's own manifestfile.py when its
    source is in build/micropython, else a stand-in that reads package()/module() the same way."""
    stub_port = manifest.parent.parent.parent / "build" / "manifest-check-port"
    (stub_port / "boards").mkdir(parents=True, exist_ok=True)
    (stub_port / "boards" / "manifest.py").write_text("# the port's own frozen modules stand here\n")
    tools = ROOT / "build" / "micropython" / "tools"
    if (tools / "manifestfile.py").exists():
        sys.path.insert(0, str(tools))
        try:
            import manifestfile
        finally:
            sys.path.remove(str(tools))
        m = manifestfile.ManifestFile(manifestfile.MODE_FREEZE, {"MPY_DIR": str(ROOT / "build" / "micropython"),
                                                                 "PORT_DIR": str(stub_port), "BOARD_DIR": str(stub_port),
                                                                 "MPY_LIB_DIR": str(stub_port)})
        m.execute(str(manifest))
        return {os.path.realpath(f.full_path) for f in m.files()}
    frozen = set()

    def package(name, files=None, base_path=".", opt=None):
        base = (manifest.parent / base_path / name).resolve()
        frozen.update(str(p) for p in base.rglob("*.py"))

    def module(name, base_path=".", opt=None):
        frozen.add(str((manifest.parent / base_path / name).resolve()))
    exec(compile(manifest.read_text(), str(manifest), "exec"),
         {"include": lambda *a, **k: None, "package": package, "module": module, "require": lambda *a, **k: None,
          "freeze": lambda *a, **k: None, "metadata": lambda *a, **k: None})
    return frozen


def test_esp32_firmware_build_files_are_consistent():
    d = ROOT / "firmware" / "esp32"
    manifest, script, fragment = d / "manifest.py", d / "build_firmware.sh", d / "firmware.mk"
    cmake = ROOT / "firmware" / "kernels" / "micropython.cmake"
    for f in (manifest, script, fragment, cmake, d / "README.md"):
        assert f.exists(), f
    # the manifest freezes every device_lib module (and the port's own manifest)
    modules = {os.path.realpath(p) for p in (ROOT / "device_lib" / "tinyml").rglob("*.py")}
    assert modules and modules <= _frozen_by_manifest(manifest)
    assert 'include("$(PORT_DIR)/boards/manifest.py")' in manifest.read_text()
    # the CMake file compiles the kernels' C source, the same file the .mpy is built from
    text = cmake.read_text()
    assert "tinyml_kernels.c" in text and "target_link_libraries(usermod" in text
    assert (cmake.parent / "tinyml_kernels.c").exists()
    assert "tinyml_kernels.c" in (ROOT / "firmware" / "kernels" / "Makefile").read_text()
    # the script and the make fragment hand those two files to the port's make
    sh, mk = script.read_text(), fragment.read_text()
    for needle in ("firmware/kernels/micropython.cmake", "firmware/esp32/manifest.py"):
        assert needle in sh and needle in mk
    assert "USER_C_MODULES=" in sh and "FROZEN_MANIFEST=" in sh and "idf.py" in sh
    for board, mp_board in firmware_cache.RELEASE_BOARDS.items():
        assert "%s) mp_board=%s" % (board, mp_board) in sh
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    # without ESP-IDF the script says how to get it, and builds nothing
    env = {k: v for k, v in os.environ.items() if k != "IDF_PATH"}
    env["PATH"] = "/usr/bin:/bin"
    if shutil.which("idf.py", path=env["PATH"]) is None:
        r = subprocess.run(["bash", str(script), "esp32"], capture_output=True, text=True, env=env)
        assert r.returncode == 2 and "ESP-IDF" in r.stderr and "export.sh" in r.stderr
