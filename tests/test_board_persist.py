"""An emulated board's files survive its emulator ending, as a real board's flash survives a power
cut: the unix board's folder, a QEMU board's RAM disk in RAM that QEMU maps from a file in the
board's state folder (the profile's [emulator] ram). `tinyml board start --erase` empties it."""

import pytest

import ota_board
from tinyml_host.board import profiles as boards
from tinyml_host.emulators import supervisor as emulators

PERSISTENT = [n for n in boards.names() if boards.load(n).emulated
              and (boards.load(n).emulator["kind"] == "unix" or "ram" in boards.load(n).emulator)]


def test_the_qemu_boards_with_a_ram_disk_in_machine_ram_keep_it():
    assert {"unix", "qemu-m3", "qemu-rv32"} <= set(PERSISTENT)


@pytest.fixture(params=PERSISTENT)
def private(request, tmp_path, monkeypatch):
    if boards.load(request.param).emulator["kind"] == "qemu":
        why = ota_board.qemu_ready(request.param)
        if why:
            pytest.skip(why)
    b = ota_board.Board(tmp_path, request.param)
    b.erase = lambda: _erase(monkeypatch, tmp_path, b.name)
    yield b
    b.stop()


def _erase(monkeypatch, root, name):
    """emulators.erase() (tinyml board start --erase) of the board in its private state folder."""
    with monkeypatch.context() as m:
        m.setattr(emulators, "STATE_ROOT", root)
        emulators.erase(name)


def _read(b, path):
    with b.link() as link:
        return link.eval("open(%r).read() if %r in __import__('os').listdir() else None" % (path, path))


def test_files_survive_a_power_cut_and_erase_empties_the_board(private):
    b = private.start()
    with b.link() as link:
        link.exec("f = open('kept.txt', 'w'); f.write('written before the cut'); f.close()")
    b.kill()  # QEMU (or the unix port) and its supervisor die at once
    b.start()
    assert _read(b, "kept.txt") == "written before the cut"
    b.stop()  # (erase() stops a board `tinyml board start` runs; this one has a private supervisor)
    b.erase()
    b.start()
    assert _read(b, "kept.txt") is None
