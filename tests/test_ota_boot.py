"""An app that runs at boot (issue 16): `tinyml new app`, `tinyml deploy --boot` (what `make deploy
BOOT=1` runs) installs /main.py, restarts the board and shows the app's first output; the app runs
again at power-on; Ctrl-C in the first seconds after a reset leaves the board at its REPL (the safe
way back); `tinyml deploy --no-boot` stops it. On the unix board and qemu-m3."""

import re
import subprocess
import time

import pytest

import ota_board
from conftest import ROOT, SHARED

HELLO = SHARED / "tflm" / "hello_world_int8.tflite"


def cli(*args):
    from tinyml_host.cli.main import main
    try:
        return main([str(a) for a in args])
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module", params=("unix", "qemu-m3"))
def board(request, tmp_path_factory):
    if request.param != "unix":
        why = ota_board.qemu_ready(request.param)
        assert why is None, why
    b = ota_board.Board(tmp_path_factory.mktemp("boot-" + request.param), request.param).start()
    yield b
    b.stop()


def _read(serial, until, seconds):
    got = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not re.search(until.encode(), got):
        n = serial.in_waiting
        if n:
            got += serial.read(n)
        else:
            time.sleep(0.02)
    return got.decode("utf-8", "replace")


def test_new_app_then_deploy_boot_shows_its_output_and_it_runs_at_power_on(board, tmp_path, capsys):
    app = tmp_path / "blink_ml.py"
    assert cli("new", "app", app, "--model", HELLO) == 0
    assert "tinyml deploy" in capsys.readouterr().out
    assert cli("new", "app", app) != 0  # never overwrites
    app.write_text(app.read_text().replace("CASES = None", "CASES = 3").replace("MONITOR = True", "MONITOR = False"))
    assert cli("deploy", HELLO, "--port", board.port, "--app", app, "--boot", "--wait", "1", "--show", "20") == 0
    out = capsys.readouterr().out
    assert "tinyml: starting blink_ml" in out and "app: running hello_world_int8.tml" in out
    assert re.search(r"inference 2: class 0 \(score -?\d+\)", out), out

    board.kill()  # power off, and on: the app starts by itself
    board.start(wait=False)
    from tinyml_host.board.link import Link
    with Link.open(board.port, enter=False) as link:
        got = _read(link.serial, r"inference 2", 60)
    assert "app: running hello_world_int8.tml" in got and "inference 2" in got
    from tinyml_host.emulators import supervisor
    supervisor.wait_repl(board.port, 30)


def test_ctrl_c_after_a_reset_leaves_the_board_at_its_repl(board, tmp_path, capsys):
    from tinyml_host.apps import boot
    app = tmp_path / "forever.py"
    boot.new_app(app, HELLO)
    app.write_text(app.read_text().replace("MONITOR = True", "MONITOR = False"))
    assert cli("deploy", HELLO, "--port", board.port, "--app", app, "--boot", "--wait", "3", "--show", "1") == 0
    capsys.readouterr()
    from tinyml_host.board.link import Link
    with Link.open(board.port) as link:
        link.friendly()
        time.sleep(0.2)
        s = link.serial
        while s.in_waiting:
            s.read(s.in_waiting)
        s.write(b"\x04")  # reset
        got = _read(s, r"Ctrl-C within 3 s", 20)
        s.write(b"\x03")  # within the window
        got += _read(s, r">>> $", 10)
        time.sleep(3.5)   # past the window: the app would have started by now
        later = _read(s, r"app: running", 1.0)
    assert "Ctrl-C within 3 s" in got and "KeyboardInterrupt" in got and got.rstrip().endswith(">>>")
    assert "app: running" not in got + later
    assert cli("deploy", "--port", board.port, "--no-boot") == 0
    assert "removed /main.py" in capsys.readouterr().out
    with Link.open(board.port) as link:
        after = boot.restart(link, 3)
    assert "tinyml: starting" not in after


def test_make_deploy_boot_passes_boot(tmp_path):
    """`make deploy ... BOOT=1` is `tinyml deploy ... --boot` (make -n: the command it would run)."""
    p = subprocess.run(["make", "-n", "-C", str(ROOT), "deploy", "BOARD=unix", "APP=app.py", "BOOT=1"],
                       capture_output=True, text=True)
    line = [ln for ln in p.stdout.splitlines() if "tinyml deploy" in ln or "--boot" in ln]
    assert any("--boot" in ln for ln in line), p.stdout
    p = subprocess.run(["make", "-n", "-C", str(ROOT), "deploy", "BOARD=unix", "APP=app.py"], capture_output=True, text=True)
    assert "--boot" not in p.stdout
