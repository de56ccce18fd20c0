"""Where a running emulator says which device it serves and how to press its buttons.

A pty has no DTR/RTS lines, so each emulator registers in registry_dir(): a JSON entry (pid, device,
chip, flash, control, auto_reset) and a Unix control socket beside it, which stands for the board's
auto-reset circuit (DTR/RTS) and its BOOT and EN buttons. `tinyml flash` looks the device up here
and sends its requests where it would toggle DTR/RTS: one line each way, "status",
"auto-reset download|run" or "buttons download|run".
"""

import json
import os
import pathlib
import signal
import socket
import time


def registry_dir():
    base = os.environ.get("TINYML_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tinyml")
    return pathlib.Path(base) / "esp-rom"


def flash_file_path(chip, path=None):
    """The flash file, absolute: path, or <cache>/esp-rom/<chip>-flash.bin."""
    return pathlib.Path(path or registry_dir() / ("%s-flash.bin" % chip)).resolve()


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def running_emulators():
    """The registry entries of running emulators (dicts: pid, device, chip, flash, control)."""
    found = []
    d = registry_dir()
    for f in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            entry = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if _alive(entry.get("pid", -1)) and os.path.exists(entry.get("device", "")):
            found.append(entry)
        elif not _alive(entry.get("pid", -1)):
            for stale in (f, pathlib.Path(entry.get("control", ""))):
                try:
                    stale.unlink()
                except OSError:
                    pass
    return found


def find_emulator(device):
    """The registry entry of the emulator serving this device path, or None."""
    try:
        real = os.path.realpath(device)
    except (TypeError, ValueError):
        return None
    for entry in running_emulators():
        if os.path.realpath(entry["device"]) == real:
            return entry
    return None


def control(device, request, timeout=5.0):
    """Sends a control request ("auto-reset download|run", "buttons download|run", "status") to the
    emulator serving device; returns its one-line answer, or None when no emulator serves it."""
    entry = find_emulator(device)
    if entry is None:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(entry["control"])
        s.sendall(request.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            part = s.recv(4096)
            if not part:
                break
            answer += part
    return answer.decode().strip()


class ControlSocket:
    """The emulator's side: its registry entry and the listening control socket. select() takes it."""

    def __init__(self, device, chip, flash, auto_reset, extra=None):
        d = registry_dir()
        d.mkdir(parents=True, exist_ok=True)
        stem = "%d-%s" % (os.getpid(), os.path.basename(device))
        self._path = d / (stem + ".sock")
        try:
            self._path.unlink()
        except OSError:
            pass
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self._path))
        self._sock.listen(4)
        self._sock.setblocking(False)
        self._entry_path = d / (stem + ".json")
        entry = {"pid": os.getpid(), "device": device, "chip": chip, "flash": flash,
                 "control": str(self._path), "auto_reset": auto_reset, **(extra or {})}
        tmp = self._entry_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry))
        os.replace(tmp, self._entry_path)  # readers never see half an entry

    def fileno(self):
        return self._sock.fileno()

    def serve_one(self, answer):
        """Answers a waiting connection's request line with answer(request words)."""
        try:
            conn, _ = self._sock.accept()
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(2)
            request = b""
            while not request.endswith(b"\n"):
                part = conn.recv(256)
                if not part:
                    break
                request += part
            conn.sendall(answer(request.decode(errors="replace").split()).encode() + b"\n")

    def close(self):
        self._sock.close()
        for p in (self._path, self._entry_path):
            try:
                os.unlink(p)
            except OSError:
                pass


def stop_rom(device=None):
    """Stops the emulated ROM(s) that start_rom() started (the one serving device, or all);
    returns the devices stopped."""
    stopped, pids = [], []
    for entry in running_emulators():
        if entry["pid"] == os.getpid():
            continue  # in-process emulators belong to their caller
        if device is None or os.path.realpath(entry["device"]) == os.path.realpath(device):
            try:
                os.kill(entry["pid"], signal.SIGTERM)
                stopped.append(entry["device"])
                pids.append(entry["pid"])
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 60  # gone, their flash files written (QEMU's exit on a loaded machine)
    while time.monotonic() < deadline and (any(e["device"] in stopped for e in running_emulators())
                                           or any(_running(pid) for pid in pids)):
        time.sleep(0.05)
    return stopped


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a child of ours that exited is a zombie until reaped
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
