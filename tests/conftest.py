"""Shared test setup: make host_tools/ (the tinyml_host package) and tests/ (helpers) importable."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
for path in (ROOT / "host_tools", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import subprocess

import pytest

SHARED = ROOT.parent / "shared" / "models"
BACKENDS = ("native", "viper", "python")


@pytest.fixture(scope="session", autouse=True)
def native_module():
    """The x64 native module the unix board loads; built here when `make natmod` has not run."""
    mpy = ROOT / "dist" / "x64_6.3" / "tinyml_kernels.mpy"
    if not mpy.exists():
        subprocess.run(["bash", str(ROOT / "firmware" / "build_natmod.sh")], check=True,
                       env=dict(__import__("os").environ, ARCHS="x64"))
    return mpy


@pytest.fixture(scope="module")
def qemu_m3():
    """The emulated Cortex-M3 for a test module: started when not running, stopped after if started here."""
    from tinyml_host.emulators import supervisor as emulators
    started = emulators.running("qemu-m3") is None
    emulators.start("qemu-m3")
    yield "qemu-m3"
    if started:
        emulators.stop("qemu-m3")
