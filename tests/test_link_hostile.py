"""The link against a hostile port (issue 10): another program reading the board's pty is named (pid and
command) instead of a read that waits forever, and a board that restarts mid-command is reported as a
restart, not as a byte the protocol did not expect. Real MicroPython (the unix board) on a real pty."""
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, SHARED
from test_deploy import PrivateBoard

TINYML = [sys.executable, "-m", "tinyml_host.cli"]
HELLO = SHARED / "tflm" / "hello_world_int8.tflite"
HELLO_IN = SHARED / "golden" / "hello_world_int8.input0.npy"


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    b = PrivateBoard(tmp_path_factory.mktemp("hostile"), "unix").start()
    yield b
    b.stop()


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT / "host_tools"))


def _cat(port):
    """`cat` reading the board's pty (raw, as a serial monitor sets it), as a user leaves one running."""
    with open(port, "rb") as tty:
        p = subprocess.Popen(["sh", "-c", "stty raw -echo; exec cat"], stdin=tty, stdout=subprocess.DEVNULL)
    for _ in range(100):  # until the shell has become cat
        if open("/proc/%d/comm" % p.pid).read().strip() == "cat":
            break
        time.sleep(0.02)
    return p


def _run(board, tmp_path):
    return subprocess.run(TINYML + ["run", str(HELLO), "--input", str(HELLO_IN), "--output", str(tmp_path / "y.npy"),
                                    "--port", board.port], env=_env(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)


def test_cat_on_the_port_is_named_then_run_works_after_it_exits(board, tmp_path):
    cat = _cat(board.port)
    try:
        p = _run(board, tmp_path)  # the timeout above fails the test if it blocks
        assert p.returncode == 2, p.stdout + p.stderr
        assert "the port %s is busy" % board.port in p.stderr, p.stderr
        assert "pid %d" % cat.pid in p.stderr and "cat" in p.stderr and "kill %d" % cat.pid in p.stderr, p.stderr
    finally:
        cat.kill()
        cat.wait()
    p = _run(board, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "wrote %s" % (tmp_path / "y.npy") in p.stdout


def test_a_reader_that_arrives_mid_run_is_named(board):
    from tinyml_host.board.link import Link, LinkError
    link = Link.open(board.port)
    cats = []
    timer = threading.Timer(0.5, lambda: cats.append(_cat(board.port)))
    timer.start()
    try:
        with pytest.raises(LinkError) as e:  # a silent run; cat takes what the board prints at the end
            link.exec("import time\ntime.sleep(8)\nprint('finished')")
        assert "busy" in str(e.value) and "pid %d" % cats[0].pid in str(e.value), str(e.value)
    finally:
        timer.join()
        for c in cats:
            c.kill()
            c.wait()
        link.close()
    with Link.open(board.port) as link:  # the board answers again once cat is gone
        assert link.eval("1 + 1") == 2


def _board_proper(board):
    """The pid of the MicroPython process behind the board's relay (the supervisor's child)."""
    kids = open("/proc/%d/task/%d/children" % (board.proc.pid, board.proc.pid)).read().split()
    return int(kids[0])


def test_a_board_restart_mid_command_is_reported_as_a_restart(board):
    from tinyml_host.board.link import Link, LinkError
    link = Link.open(board.port)
    victim = _board_proper(board)
    sent = link.wire.tx

    def reset_when_sending():  # the board dies (a reset) while the code is pasted, as a deploy's chunk
        while link.wire.tx < sent + 20000:
            time.sleep(0.001)
        os.kill(victim, 9)
    t = threading.Thread(target=reset_when_sending)
    t.start()
    try:
        with pytest.raises(LinkError) as e:
            link.exec("x = 0\n" + "x += 1\n" * 40000 + "print(x)")
        msg = str(e.value)
        assert "restarted" in msg and "MicroPython v" in msg and "unexpected byte" not in msg, msg
    finally:
        t.join()
        link.close()
    with Link.open(board.port) as link:
        assert link.eval("2 + 2") == 4
