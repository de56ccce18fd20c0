"""Issue 4's acceptance on the emulated boards, through the commands a user types: `tinyml deploy`
(what `make deploy BOARD=...` runs), then `tinyml verify` against tflite-micro on the host."""
import pytest

from conftest import SHARED
from tinyml_host.cli import main as cli
from tinyml_host.emulators import supervisor as emulators

HELLO = SHARED / "tflm" / "hello_world_int8.tflite"
PERSON = SHARED / "tflm" / "person_detect.tflite"
GOLDEN = SHARED / "golden"
PERSON_HEAP = "160K"


@pytest.fixture(params=["qemu-m3", "qemu-rv32"])
def board(request):
    started = emulators.running(request.param) is None
    emulators.start(request.param)
    yield request.param
    if started:
        emulators.stop(request.param)


def tinyml(*args):
    return cli.main([str(a) for a in args])


def verify(board, model, name, capsys):
    capsys.readouterr()
    assert tinyml("verify", model, "--input", GOLDEN / (name + ".input0.npy"), "--board", board,
                  "--backend", "native") == 0
    return capsys.readouterr().out


def test_hello_world_256_on_each_board(board, capsys):
    assert tinyml("deploy", HELLO, "--board", board) == 0
    out = verify(board, HELLO, "hello_world_int8", capsys)
    assert "256/256 cases match TFLM bit for bit on %s, backend native" % board in out, out


def test_person_detect_12_images_on_qemu_m3(capsys):
    before = emulators.running("qemu-m3")
    try:
        # weights stream; 160 KB, not the profile's 140: the library outgrew 140 KB for person_detect
        # (an open regression of issue 11, asserted by tests/test_load_ram.py)
        emulators.start("qemu-m3", PERSON_HEAP)
        assert tinyml("deploy", PERSON, "--board", "qemu-m3") == 0
        out = verify("qemu-m3", PERSON, "person_detect", capsys)
        assert "12/12 cases match TFLM bit for bit on qemu-m3, backend native" in out, out
    finally:  # the board as it was: stopped, or running with its heap
        if before is None:
            emulators.stop("qemu-m3")
        else:
            emulators.start("qemu-m3", before["heap"])
