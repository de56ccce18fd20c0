"""Board hygiene: every command that runs code on a board starts from a soft reset and leaves the board
clean, so a Ctrl-C in one command does not break the next (issue 14)."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SHARED
from test_deploy import PrivateBoard

TINYML = [sys.executable, "-m", "tinyml_host.cli"]
MODEL = SHARED / "tflm" / "micro_speech_quantized.tflite"
GOLDEN = SHARED / "golden" / "micro_speech_quantized.input0.npy"


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT / "host_tools"))


@pytest.fixture(scope="module")
def m3(tmp_path_factory):
    """A qemu-m3 of this module's own (140 KB heap): no other test's command on its port."""
    b = PrivateBoard(tmp_path_factory.mktemp("qemu"), "qemu-m3").start()
    yield b
    b.stop()


def _leftovers(m3):
    """Names a previous command left in the board's namespace (seen without a soft reset)."""
    from tinyml_host.board.link import Link
    link = Link.open(m3.port)
    try:
        return link.eval("[k for k in globals() if k.startswith('_')  and k not in ('__name__', '__file__', "
                         "'__path__', '__builtins__')]")
    finally:
        link.close()


def test_ctrl_c_in_verify_then_verify_again_passes(m3, tmp_path):
    many = tmp_path / "many.npy"
    np.save(many, np.concatenate([np.load(GOLDEN)] * 200))  # 600 cases: a run long enough to interrupt
    cmd = TINYML + ["verify", str(MODEL), "--board", "qemu-m3", "--port", m3.port]
    p = subprocess.Popen(cmd + ["--input", str(many)], env=_env(), cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in p.stdout:  # the deploy's summary line: the run on the board starts now
        seen.append(line)
        if "bytes on the wire" in line:
            break
    else:
        raise AssertionError("verify ended before its run started:\n" + "".join(seen))
    p.send_signal(signal.SIGINT)
    rest = p.communicate(timeout=120)[0]
    assert p.returncode == 130, "".join(seen) + rest
    assert "interrupted" in rest
    assert _leftovers(m3) == []  # the interrupted command left the board clean
    again = subprocess.run(cmd + ["--input", str(GOLDEN)], env=_env(), cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "3/3 cases match TFLM bit for bit" in again.stdout


def test_commands_leave_no_names_on_the_board(m3, tmp_path):
    """A deploy (which defines the _tw_* helpers) and a run (which loads the model as _w's) leave nothing."""
    from tinyml_host.board.link import Link
    link = Link.open(m3.port)
    try:
        link.exec("_tw_left_here = bytearray(30000)")  # what a command stopped before its end leaves
    finally:
        link.close()
    assert _leftovers(m3) == ["_tw_left_here"]
    out = subprocess.run(TINYML + ["verify", str(MODEL), "--board", "qemu-m3", "--port", m3.port, "--input", str(GOLDEN)], env=_env(),
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert _leftovers(m3) == []


def test_memory_error_in_a_fragmented_heap_says_soft_reset(m3):
    """50 KB free in 1 KB pieces (every other block of 1000 bytes kept): a 20 KB block cannot be had."""
    from tinyml_host.board.link import DeviceMemoryError, Link
    with Link.open(m3.port, clean=True) as link:
        link.exec("_keep = [bytearray(1000) for _ in range(130)]\n_fill = []\ntry:\n    while True:\n"
                  "        _fill.append(bytearray(1000))\nexcept MemoryError:\n    pass\n_fill = None\n"
                  "for _i in range(0, 130, 2):\n    _keep[_i] = None\n")
        with pytest.raises(DeviceMemoryError) as e:
            link.exec("_big = bytearray(20000)")
        err = e.value
        assert err.fragmented and err.needed == 20000
        assert err.largest < 20000 <= err.free
        assert "in pieces" in str(err) and "soft reset" in str(err) and "window" not in str(err)
        link.soft_reset()  # the fix it gives
        link.exec("_big = bytearray(20000)")


def test_memory_error_for_a_heap_too_small_says_window_or_bigger_board(m3):
    from tinyml_host.board.link import DeviceMemoryError, Link
    with Link.open(m3.port, clean=True) as link:
        with pytest.raises(DeviceMemoryError) as e:
            link.exec("_big = bytearray(%d)" % (200 * 1024))  # more than the 140 KB heap
        err = e.value
        assert not err.fragmented and err.needed == 200 * 1024 and err.free < err.needed
        assert "too small" in str(err) and "--window 2048" in str(err) and "--heap" in str(err)
        assert "soft reset" not in str(err)
