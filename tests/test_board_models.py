"""Issue 4's acceptance on the emulated boards, through the commands a user types: `tinyml deploy`
(what `make deploy BOARD=...` runs), then `tinyml verify` against tflite-micro on the host."""
import pytest

from conftest import SHARED, emulated_board, tinyml
from tinyml_host.emulators import supervisor as emulators

HELLO = SHARED / "tflm" / "hello_world_int8.tflite"
PERSON = SHARED / "tflm" / "person_detect.tflite"
GOLDEN = SHARED / "golden"
PERSON_HEAP = "140K"  # the profile's heap; issue 11: person_detect loads and runs there


@pytest.fixture(params=["qemu-m3", "qemu-m4", "qemu-rv32"])
def board(request):
    yield from emulated_board(request.param)


def verify(board, model, name, capsys):
    capsys.readouterr()
    assert tinyml("verify", model, "--input", GOLDEN / (name + ".input0.npy"), "--board", board,
                  "--backend", "native") == 0
    return capsys.readouterr().out


def test_hello_world_256_on_each_board(board, capsys):
    assert tinyml("deploy", HELLO, "--board", board) == 0
    out = verify(board, HELLO, "hello_world_int8", capsys)
    assert "256/256 cases match TFLM bit for bit on %s, backend native" % board in out, out


@pytest.mark.parametrize("name", ["qemu-m3", "qemu-m4"])
def test_person_detect_12_images(name, capsys):
    before = emulators.running(name)
    try:
        # weights stream through the 8 KB window in the profile's 140 KB heap (tests/test_load_ram.py)
        emulators.start(name, PERSON_HEAP)
        assert tinyml("deploy", PERSON, "--board", name) == 0
        out = verify(name, PERSON, "person_detect", capsys)
        assert "12/12 cases match TFLM bit for bit on %s, backend native" % name in out, out
    finally:  # the board as it was: stopped, or running with its heap
        if before is None:
            emulators.stop(name)
        else:
            emulators.start(name, before["heap"])


ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp")  # MP_NATIVE_ARCH_*


def test_qemu_m4_loads_the_armv7emsp_native_module(capsys):
    """qemu-m4 (Cortex-M4F) runs the DSP build of the kernels: every native module the deployed
    library imports is armv7emsp machine code (an armv7m file would load there too, silently slower)."""
    from tinyml_host.board import run
    started = emulators.running("qemu-m4") is None
    emulators.start("qemu-m4")
    try:
        assert tinyml("deploy", HELLO, "--board", "qemu-m4") == 0
        link, _ = run.connect("qemu-m4", start=lambda b, h: emulators.start(b, h))
        lines = []
        try:
            link.exec("import os, sys, tinyml\nm = tinyml.load('/hello_world_int8.tml')\n"
                      "print('backend', m.backend)\n"
                      "for k in sorted(n for n in sys.modules if n.startswith('tinyml_kernels')):\n"
                      " f = sys.modules[k].__file__\n"
                      " print('module', k, f, open(f, 'rb').read(4)[2] >> 2)", on_line=lines.append)
        finally:
            link.close()
    finally:
        if started:
            emulators.stop("qemu-m4")
    mods = [ln.split() for ln in lines if ln.startswith("module ")]
    assert "backend native" in lines and mods, lines
    assert {ARCHS[int(m[3])] for m in mods} == {"armv7emsp"}, lines
