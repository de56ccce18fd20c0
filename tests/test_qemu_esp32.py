"""Issue 9's acceptance on qemu-esp32, the ESP32's own CPU core (QEMU -cpu esp32) running our MicroPython
with the xtensawin native module, through the commands a user types: `make deploy BOARD=qemu-esp32`
(or the `tinyml deploy` it runs), `tinyml verify` against tflite-micro on the host, and `tinyml bench`
with instructions counted (-icount). The board's features (raw REPL over a pty, files, time, select,
Ctrl-C, heap, emitters, the native module) are tests/test_boards.py's, which runs on every emulated
board, this one included. Native code runs there from memory that, like the ESP32's IRAM, takes
32-bit loads only (test_narrow_load_from_module_code_is_a_load_store_error)."""
import shutil
import subprocess
import time

import numpy as np
import pytest

from conftest import ROOT, SHARED, tinyml
import op_models
from tinyml import ops as op_table
from tinyml_host.board import profiles
from tinyml_host.emulators import supervisor as emulators

BOARD = "qemu-esp32"
PROBE = ROOT / "tests" / "natmod_iram"
HELLO = SHARED / "tflm" / "hello_world_int8.tflite"
PERSON = SHARED / "tflm" / "person_detect.tflite"
GOLDEN = SHARED / "golden"


@pytest.fixture(scope="module")
def board():
    """qemu-esp32 with the esp32 profile's heap (stopped at the end if this module started it)."""
    started = emulators.running(BOARD) is None
    emulators.start(BOARD)
    yield BOARD
    if started:
        emulators.stop(BOARD)


def verify(model, inputs, backend, capsys, heap=None):
    capsys.readouterr()
    args = ["verify", model] + [x for i in inputs for x in ("--input", i)] + ["--board", BOARD, "--backend", backend]
    assert tinyml(*args + (["--heap", heap] if heap else [])) == 0
    return capsys.readouterr().out


def test_profile_is_the_esp32s_core_and_heap():
    b, esp32 = profiles.load(BOARD), profiles.load("esp32")
    assert b.arch == esp32.arch == "xtensawin" and b.heap == esp32.heap
    assert b.emulator["args"] == ["-cpu", "esp32"] and b.emulator["icount"] == 0


def test_hello_world_256_deployed_by_make_native_and_viper(board, capsys):
    p = subprocess.run(["make", "deploy", "BOARD=" + BOARD, "MODEL=%s" % HELLO], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    inp = GOLDEN / "hello_world_int8.input0.npy"
    for backend in ("native", "viper"):
        out = verify(HELLO, [inp], backend, capsys)
        assert "256/256 cases match TFLM bit for bit on qemu-esp32, backend %s" % backend in out, out


def test_person_detect_12_images(capsys):
    # A 55 KB activation arena in one block: more than the esp32 profile's 110000-byte heap leaves
    # after tinyml; an ESP32's MicroPython grows its heap from the free DRAM (split heap), ours is
    # started larger.
    started = emulators.running(BOARD) is None
    try:
        assert tinyml("deploy", PERSON, "--board", BOARD, "--heap", "160K") == 0
        out = verify(PERSON, [GOLDEN / "person_detect.input0.npy"], "native", capsys, heap="160K")
        assert "12/12 cases match TFLM bit for bit on qemu-esp32, backend native" in out, out
    finally:
        emulators.stop(BOARD) if started else emulators.start(BOARD)


# ---- every op of tinyml's op table as a single-op model (tests/op_models.py), TFLM against the board ----

def test_every_op_of_the_table_has_a_single_op_model():
    missing = [name for _, name, *_ in op_table.rows() if name not in op_models.BUILDERS]
    assert not missing, "ops of tinyml's op table without a single-op model in tests/op_models.py: %s" % missing


@pytest.mark.parametrize("backend", ["native", "viper"])
def test_every_op_single_op_model_matches_tflm_on_the_board(board, backend, tmp_path, capsys):
    names = [name for _, name, *_ in op_table.rows() if name in op_models.BUILDERS]  # the rest: the test above
    for i, name in enumerate(names):
        model, inputs = op_models.single_op(name, np.random.default_rng(900 + i))
        path = tmp_path / ("%s.tflite" % name.lower())
        path.write_bytes(model)
        files = []
        for k, x in enumerate(inputs):
            files.append(tmp_path / ("%s.input%d.npy" % (name.lower(), k)))
            np.save(files[-1], x)
        out = verify(path, files, backend, capsys)
        n = len(inputs[0])
        assert "%d/%d cases match TFLM bit for bit on qemu-esp32, backend %s" % (n, n, backend) in out, (name, out)


def test_bench_counts_instructions_per_mac(board, capsys):
    capsys.readouterr()
    assert tinyml("bench", HELLO, "--board", BOARD, "--backend", "native", "--repeat", "20") == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.strip().startswith("native") and "per MAC" in l)
    per_mac = float(line.split(",")[-1].split()[0])
    # hello_world: 288 MACs in three FULLY_CONNECTED layers of 1x16, 16x16, 16x1 (the interpreter's
    # per-op work dominates); measured 45.7 instructions per MAC
    assert 20 < per_mac < 100, line
    assert "288 MACs per inference" in out and "about 137" in out and "about 13)" in out, out


# ---- IRAM: 32-bit loads from a module's code are served, narrower ones fault as on the chip ----

def _toolchain():
    p = subprocess.run(["bash", str(ROOT / "firmware" / "xtensa" / "toolchain.sh")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout.strip()


def _build_probe(tmp_path):
    import os
    import sys
    src = tmp_path / "probe"
    shutil.copytree(PROBE, src)
    env = dict(os.environ, PATH=_toolchain() + os.pathsep + os.environ["PATH"])
    p = subprocess.run(["make", "MPY_DIR=%s" % (ROOT / "build" / "micropython"), "BUILD=%s" % (src / "build"),
                        "PYTHON=%s" % sys.executable], cwd=src, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return (src / "iram_probe.mpy").read_bytes()


def test_narrow_load_from_module_code_is_a_load_store_error(board, tmp_path):
    from mpremote.transport_serial import SerialTransport
    mpy = _build_probe(tmp_path)
    t = SerialTransport(emulators.start(BOARD), baudrate=115200)  # running (restarted by a test above?)
    try:
        t.enter_raw_repl()
        t.fs_writefile("/iram_probe.mpy", mpy)
        out = t.exec("import esp32sim, iram_probe\nn = esp32sim.iram_loads()\n"
                     "print(esp32sim.iram_strict(), iram_probe.word_at(1), iram_probe.word_at(3), "
                     "esp32sim.iram_loads() - n)").decode().split()
        assert out[:3] == ["True", "-22", "-44"] and int(out[3]) >= 2, out  # two table words, by the handler
        t.exec_raw_no_follow("iram_probe.byte_at(3)")
        seen, deadline = b"", time.monotonic() + 20
        while b"Rebooting..." not in seen and time.monotonic() < deadline:
            seen += t.serial.read(max(1, t.serial.in_waiting))
        text = seen.decode(errors="replace")
        assert "Guru Meditation Error: Core  0 panic'ed (LoadStoreError)" in text, text
        assert "EXCVADDR: 0x600000" in text and "PC      : 0x600000" in text, text  # in the module's code
        t.enter_raw_repl()  # the board rebooted, its files kept
        assert t.eval("__import__('os').stat('/iram_probe.mpy')[6]") == len(mpy)
        t.fs_rmfile("/iram_probe.mpy")
        t.exit_raw_repl()
    finally:
        t.close()
