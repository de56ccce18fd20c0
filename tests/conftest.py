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


def emulated_board(name):
    """A fixture's body: the emulated board `name`, started when not running and stopped after if
    started here (`yield from emulated_board(request.param)`)."""
    from tinyml_host.emulators import supervisor as emulators
    started = emulators.running(name) is None
    emulators.start(name)
    yield name
    if started:
        emulators.stop(name)


def tinyml(*args):
    """The tinyml command, run in this process: its exit status."""
    from tinyml_host.cli import main as cli
    return cli.main([str(a) for a in args])


def verify_on_board(board, model, x, name, tmp_path, capsys, backends=("native", "viper")):
    """Deploys model (.tflite bytes) to board (`tinyml deploy`) and checks it against TFLM on the host
    (`tinyml verify`) on the cases of x (the first input, one case a row) with each backend."""
    import numpy as np
    path, xs = tmp_path / (name + ".tflite"), tmp_path / (name + ".input0.npy")
    path.write_bytes(model)
    np.save(xs, x)
    assert tinyml("deploy", path, "--board", board) == 0
    for backend in backends:
        capsys.readouterr()
        assert tinyml("verify", path, "--input", xs, "--board", board, "--backend", backend) == 0
        out = capsys.readouterr().out
        n = len(x)
        assert "%d/%d cases match TFLM bit for bit on %s, backend %s" % (n, n, board, backend) in out, out[-500:]


@pytest.fixture(scope="module")
def qemu_m3():
    """The emulated Cortex-M3 for a test module."""
    yield from emulated_board("qemu-m3")
