"""Emulated boards for the OTA and monitoring tests, each in a private state folder (as test_deploy's
PrivateBoard), whose files survive the emulator being killed, as a real board's flash survives a
power cut: the unix board's files are a folder; a QEMU board's RAM disk lives in the machine's RAM,
which the supervisor has QEMU map from a file in the state folder (the profile's [emulator] ram), so
what the firmware had written when QEMU is killed is there at the next start."""

import os
import pathlib
import signal
import subprocess
import sys
import time

from conftest import ROOT

SUPERVISE = """
import pathlib, sys
sys.path.insert(0, %(host)r)
from tinyml_host.emulators import supervisor as emulators
emulators.STATE_ROOT = pathlib.Path(%(root)r)
from tinyml_host.emulators.relay import _Supervisor
_Supervisor(%(name)r, %(heap)d).run()
"""


class Board:
    """An emulated board in its own state folder: port, fs (the unix board's files), kill(), start();
    icount: a QEMU board counting instructions (-icount shift=0)."""

    def __init__(self, root, name, heap=None, icount=False):
        from tinyml_host.board import profiles
        from tinyml_host.emulators import supervisor as emulators
        self.root = pathlib.Path(root)
        self.name = name
        self.instance = emulators.instance(name, icount)
        self.profile = profiles.load(name)
        self.heap = heap or self.profile.heap
        self.sd = self.root / self.instance
        self.fs = self.sd / "fs"
        self.port = str(self.sd / "tty")
        self.qemu = self.profile.emulator["kind"] == "qemu"
        self.proc = None

    def start(self, wait=True):
        from tinyml_host.emulators import supervisor as emulators
        self.sd.mkdir(parents=True, exist_ok=True)
        try:
            os.unlink(self.port)
        except FileNotFoundError:
            pass
        if self.qemu:
            elf = emulators.ensure_firmware(self.profile)
            link = self.root / self.profile.emulator["firmware"] / "firmware.elf"
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(elf)
        else:
            self.fs.mkdir(exist_ok=True)
        code = SUPERVISE % {"host": str(ROOT / "host_tools"), "root": str(self.root), "name": self.instance,
                            "heap": self.heap}
        self.log = open(self.sd / "supervisor.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the %s board did not start: %s" % (self.name, (self.sd / "supervisor.log").read_text()[-2000:]))
            time.sleep(0.02)
        if wait:
            emulators.wait_repl(self.port, 60)
        return self

    def kill(self):
        """Power cut: the supervisor and the board proper die at once."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        time.sleep(0.3)  # the board proper follows its supervisor (PR_SET_PDEATHSIG)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def link(self):
        from tinyml_host.board.link import Link
        return Link.open(self.port)


def qemu_ready(name="qemu-m3"):
    """None when the qemu board can run here, else why not."""
    import shutil
    from tinyml_host.board import profiles
    from tinyml_host.emulators import supervisor as emulators
    b = profiles.load(name)
    if not shutil.which(b.emulator["system"]):
        return "%s is not installed" % b.emulator["system"]
    try:
        emulators.ensure_firmware(b)
    except Exception as e:
        return "no %s firmware: %s" % (name, str(e)[:300])
    return None
