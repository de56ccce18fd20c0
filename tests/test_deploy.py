"""The serial path (issue 4): deploy, run/verify over a serial link, the wire protocol's cost, a deploy
cut off in the middle, the errors users meet, and Ctrl-C.

The boards are emulated: the `unix` board (MicroPython's unix port behind a pty) and, when QEMU and
its firmware are here, `qemu-m3`, each run by emulators.py's own supervisor but in a private state
folder under pytest's tmp dir, so that these tests can kill a board, look at its files and hold its
port without touching a board someone else is using (build/boards/)."""

import errno
import hashlib
import os
import subprocess
import sys
import threading
import time
import _thread
from types import SimpleNamespace

import numpy as np
import pytest
import serial

from conftest import ROOT, SHARED
from ota_board import Board as PrivateBoard  # one private-board helper for every test

HELLO = SHARED / "tflm" / "hello_world_int8.tflite"
HELLO_IN = SHARED / "golden" / "hello_world_int8.input0.npy"
PERSON = SHARED / "tflm" / "person_detect.tflite"
PY = sys.executable


# ---------------------------------------------------------------- private emulated boards


@pytest.fixture(scope="module")
def unix_board(tmp_path_factory):
    b = PrivateBoard(tmp_path_factory.mktemp("boards"), "unix").start()
    yield b
    b.stop()


@pytest.fixture
def link(unix_board):
    from tinyml_host.board.link import Link
    ln = Link.open(unix_board.port)
    yield ln
    ln.close()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _tree(fs):
    return {p.relative_to(fs).as_posix(): _sha(p.read_bytes()) for p in fs.rglob("*") if p.is_file()}


def _quiet():
    import io
    return io.StringIO()


# ---------------------------------------------------------------- deploy, then verify against TFLM

def test_full_deploy_then_verify_gives_tflm_bytes(unix_board, capsys):
    from tinyml_host.board import deploy
    from tinyml_host.board import run as remote
    from tinyml_host.cli import remote as cli_remote
    from tinyml_host.oracle import tflm
    from tinyml_host.board.link import Link
    with Link.open(unix_board.port) as link:
        res = deploy.deploy(link, unix_board.profile, model=HELLO, out=_quiet())
    assert res.files and all(f.sent for f in res.files)  # a fresh board: everything goes
    names = {f.remote for f in res.files}
    assert "/lib/tinyml/model.mpy" in names and "/hello_world_int8.tml" in names
    if (ROOT / "dist" / "x64_6.3" / "tinyml_kernels.mpy").exists():
        assert "/lib/tinyml_kernels.mpy" in names
    for f in res.files:  # on the board's filesystem, byte for byte
        assert (unix_board.fs / f.remote.lstrip("/")).read_bytes() == f.data
    assert not list(unix_board.fs.rglob("*.tmp"))

    # `tinyml verify` over the link: 256 golden inputs, TFLM run here in the same test
    a = SimpleNamespace(model=str(HELLO), input=[str(HELLO_IN)], board=None, port=unix_board.port, baud=None,
                        heap=None, backend=None, window=None, mismatches_only=False)
    cli_remote.cmd_verify(a)
    out = capsys.readouterr().out
    assert "256/256 cases match TFLM" in out
    assert len([l for l in out.splitlines() if l.rstrip().endswith(" yes")]) == 256

    # and the bytes themselves, from run_model
    x = np.load(HELLO_IN)
    _, ins, outs, _ = remote.model_info(HELLO)
    with Link.open(unix_board.port) as link:
        ys, info = remote.run_model(link, "/hello_world_int8.tml", [x], ins, outs)
    ref = tflm.tflm_run(str(HELLO), [x])[0]
    assert ys[0].tobytes() == ref.astype(np.int8).tobytes()
    assert info["backend"] in ("native", "viper", "python") and info["us_per_inference"] > 0


def test_verify_exits_nonzero_on_mismatch(unix_board, monkeypatch, capsys):
    from tinyml_host.board import run as remote
    from tinyml_host.cli import remote as cli_remote
    from tinyml_host.oracle import tflm
    real = tflm.tflm_run

    def off_by_one(model, xs):
        ys = real(model, xs)
        ys[0] = ys[0].copy()
        ys[0][3] = ys[0][3] + 1
        return ys
    monkeypatch.setattr(tflm, "tflm_run", off_by_one)
    a = SimpleNamespace(model=str(HELLO), input=[str(HELLO_IN)], board=None, port=unix_board.port, baud=None,
                        heap=None, backend="python", window=None, mismatches_only=True)
    with pytest.raises(SystemExit) as e:
        cli_remote.cmd_verify(a)
    assert e.value.code == 1
    out = capsys.readouterr().out
    assert "255/256 cases match" in out and " NO" in out


def test_second_deploy_sends_nothing(unix_board, link):
    from tinyml_host.board import deploy
    deploy.deploy(link, unix_board.profile, model=HELLO, out=_quiet())
    before = _tree(unix_board.fs)
    out = _quiet()
    res = deploy.deploy(link, unix_board.profile, model=HELLO, out=out)
    assert [f.remote for f in res.sent] == [] and res.payload == 0
    assert "sent 0 files" in out.getvalue()
    # only the hash scan goes on the wire: no file contents (the scan names each file: <= 100 bytes a file,
    # below the smallest file's contents)
    assert res.wire < 100 * len(res.files), (res.wire, len(res.files))
    assert _tree(unix_board.fs) == before


def test_run_command_over_the_link(unix_board, tmp_path, capsys, monkeypatch):
    """`tinyml run MODEL --port` through the command table and its error exit; the .tflite is
    converted once, and the bytes deployed are the ones run."""
    from tinyml_host.cli import main as cli
    from tinyml_host.model import convert as convert_mod
    from tinyml_host.oracle import tflm
    calls = []
    real = convert_mod.convert
    monkeypatch.setattr(convert_mod, "convert", lambda *a, **k: calls.append(a) or real(*a, **k))
    out = tmp_path / "y.npy"
    rc = cli.main(["run", str(HELLO), "--input", str(HELLO_IN), "--output", str(out), "--port", unix_board.port])
    assert len(calls) == 1
    assert rc == 0, capsys.readouterr()
    ref = tflm.tflm_run(str(HELLO), [np.load(HELLO_IN)])[0]
    assert np.load(out).tobytes() == ref.astype(np.int8).tobytes()
    assert "measured on the board" in capsys.readouterr().out


# ---------------------------------------------------------------- the wire

def test_wire_bytes_per_payload_byte(unix_board, link, tmp_path):
    """person_detect's .tml: base64 < 1.4 wire bytes per byte, deflate less, `mpremote cp` ~3."""
    from tinyml_host.board import deploy
    from tinyml_host.model.convert import convert
    data = convert(str(PERSON))
    deploy.deploy(link, unix_board.profile, out=_quiet())  # the library first: only the model is measured
    ratios = {}
    for name, compress in (("b64", False), ("zlib", True)):
        path = tmp_path / ("pd_%s.tml" % name)
        path.write_bytes(data)
        t0 = time.monotonic()
        res = deploy.deploy(link, unix_board.profile, model=path, compress=compress, out=_quiet())
        dt = time.monotonic() - t0
        assert [f.remote for f in res.sent] == ["/" + path.name]
        assert res.method == ("deflate" if compress else "base64")
        ratios[name] = res.file_wire / len(data)
        assert (unix_board.fs / path.name).read_bytes() == data
        print("%s: %.3f wire bytes per payload byte, %.2f s" % (name, ratios[name], dt))
    cp = deploy.mpremote_cp_wire(link, data, "/pd_cp.tml") / len(data)
    assert (unix_board.fs / "pd_cp.tml").read_bytes() == data
    print("mpremote cp: %.3f wire bytes per payload byte" % cp)
    assert ratios["b64"] < 1.4
    assert ratios["zlib"] < ratios["b64"]
    assert cp > 2.5 and cp > 2 * ratios["b64"]
    for n in ("pd_b64.tml", "pd_zlib.tml", "pd_cp.tml"):
        (unix_board.fs / n).unlink()


def test_deploy_cut_off_in_the_middle_then_completed(tmp_path):
    """The board dies while person_detect's .tml is on its way: no real name holds a new file yet (the
    set is committed at once, at the end), every file before it waits whole as its staged copy, and
    the next deploy sends just what is missing, then commits the whole set."""
    from tinyml_host.board import deploy
    from tinyml_host.board.link import Link, LinkError
    board = PrivateBoard(tmp_path, "unix").start()
    try:
        model = tmp_path / "person_detect.tml"
        from tinyml_host.model.convert import convert
        model.write_bytes(convert(str(PERSON)))
        link = Link.open(board.port)
        killed = []

        def hook(f, done, size, total_done, total):
            if f.remote == "/person_detect.tml" and done >= size // 3 and not killed:
                board.kill()
                killed.append(done)
        with pytest.raises(LinkError) as e:
            deploy.deploy(link, board.profile, model=model, progress=hook, out=_quiet())
        link.close()
        assert killed, "the model was never being copied"
        assert "lost the board" in str(e.value) or "stopped answering" in str(e.value) or "restarted" in str(e.value)
        files = deploy.plan("x64", model, say=lambda s: None, build=False)
        local = {f.remote.lstrip("/"): f.data for f in files}
        on_board = {p.relative_to(board.fs).as_posix(): p.read_bytes() for p in board.fs.rglob("*") if p.is_file()}
        # no real name of the new set exists: the board has its old set (none); the staged copies wait
        assert not set(local) & set(on_board) and "tinyml.manifest" not in on_board
        for name, data in local.items():
            if name != "person_detect.tml":
                assert on_board.get(name + ".tmp") == data, name
        assert len(on_board["person_detect.tml.tmp"]) < len(local["person_detect.tml"])

        board.start()  # the board comes back with its files
        with Link.open(board.port) as link:
            res = deploy.deploy(link, board.profile, model=model, out=_quiet())
        assert [f.remote for f in res.sent] == ["/person_detect.tml"]
        assert (board.fs / "person_detect.tml").read_bytes() == local["person_detect.tml"]
        assert not list(board.fs.rglob("*.tmp"))
        assert (board.fs / "tinyml.manifest").read_text() == deploy.manifest(files)
    finally:
        board.stop()


def test_flash_space_is_checked_before_copying(unix_board, link, monkeypatch):
    from tinyml_host.board import deploy
    f = deploy.File("/big.tml", b"x" * 100000, "big")
    f.remote_hash = "-"
    with pytest.raises(deploy.DeployError) as e:
        deploy._check_space([f], free=50000, bsize=4096, say=print)
    assert "100000" in str(e.value) and "50000" in str(e.value)
    deploy._check_space([f], free=200000, bsize=4096, say=print)


def test_board_without_sha256(unix_board, link, tmp_path, monkeypatch):
    """A firmware without hashlib.sha256: sizes are checked, and every file is sent each time."""
    from tinyml_host.board import deploy
    real = deploy.helpers
    monkeypatch.setattr(deploy, "helpers", lambda: real() + "_tw_h = None\n")
    link.info()["sha256"] = False
    app = tmp_path / "nohash_app.py"
    app.write_bytes(b"x = 1\n" * 100)
    for _ in range(2):
        res = deploy.deploy(link, unix_board.profile, app=[app], build=False, out=_quiet())
        assert "/nohash_app.py" in [f.remote for f in res.sent]
    assert (unix_board.fs / "nohash_app.py").read_bytes() == app.read_bytes()
    (unix_board.fs / "nohash_app.py").unlink()


def test_ampy_tool(unix_board, link, tmp_path):
    """adafruit-ampy copies to the temporary name; the check and the rename are ours."""
    from tinyml_host.board import deploy
    deploy.deploy(link, unix_board.profile, out=_quiet())
    app = tmp_path / "my_app.py"
    app.write_bytes(b"print('hello from my app')\n" * 20)
    res = deploy.deploy(link, unix_board.profile, app=[app], tool="ampy", out=_quiet())
    assert [f.remote for f in res.sent] == ["/my_app.py"] and res.method == "ampy"
    assert (unix_board.fs / "my_app.py").read_bytes() == app.read_bytes()
    assert not (unix_board.fs / "my_app.py.tmp").exists()
    assert "hello from my app" in link.exec("exec(open('/my_app.py').read())")
    (unix_board.fs / "my_app.py").unlink()


# ---------------------------------------------------------------- errors, cause and fix

def test_missing_port():
    from tinyml_host.board.link import Link, LinkError
    with pytest.raises(LinkError) as e:
        Link.open("/dev/ttyTINYML_NOPE")
    msg = str(e.value)
    assert "does not exist" in msg and ("serial ports here" in msg or "no serial ports" in msg)


def test_busy_port_names_the_holder(unix_board):
    from tinyml_host.board.link import Link, LinkError
    holder = subprocess.Popen([PY, "-c", "import serial, sys, time\ns = serial.Serial(sys.argv[1], exclusive=True)\n"
                               "print('held', flush=True)\ntime.sleep(60)", unix_board.port],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LinkError) as e:
            Link.open(unix_board.port)
        msg = str(e.value)
        assert "busy" in msg and ("pid %d" % holder.pid) in msg
    finally:
        holder.kill()
        holder.wait()


def test_open_error_mapping():
    from tinyml_host.board.ports import open_error_message as open_error
    port = "/dev/ttyUSB0"
    # what pyserial raises (serialposix.py: SerialException(errno, "could not open port ...: [Errno ...]"))
    denied = serial.SerialException(errno.EACCES, "could not open port %s: [Errno 13] Permission denied: '%s'" % (port, port))
    msg = str(open_error(port, denied))
    assert "dialout" in msg and "usermod -aG dialout" in msg and "log out" in msg
    busy = serial.SerialException(errno.EAGAIN, "Could not exclusively lock port %s: [Errno 11] Resource temporarily unavailable" % port)
    assert "busy" in str(open_error(port, busy))
    assert "busy" in str(open_error(port, serial.SerialException(errno.EBUSY, "Device or resource busy")))
    missing = serial.SerialException(errno.ENOENT, "could not open port %s: [Errno 2] No such file or directory" % port)
    assert "does not exist" in str(open_error(port, missing))
    notty = serial.SerialException(errno.ENOTTY, "Could not configure port: (25, 'Inappropriate ioctl for device')")
    assert "not a serial port" in str(open_error(port, notty))


def test_not_a_serial_port(tmp_path):
    from tinyml_host.board.link import Link, LinkError
    f = tmp_path / "not-a-tty"
    f.write_bytes(b"")
    with pytest.raises(LinkError) as e:
        Link.open(str(f))
    assert "not a serial port" in str(e.value)


def _silent_pty(answer=b""):
    """A pty whose other end never enters a raw REPL; it sends `answer` once, when spoken to."""
    import tty
    m, s = os.openpty()
    tty.setraw(s)
    name = os.ttyname(s)
    os.close(s)
    stop = threading.Event()

    def serve():
        sent = False
        while not stop.is_set():
            import select
            r, _, _ = select.select([m], [], [], 0.05)
            if r:
                try:
                    os.read(m, 1024)
                except OSError:
                    continue
                if answer and not sent:
                    os.write(m, answer)
                    sent = True
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return name, lambda: (stop.set(), t.join(), os.close(m))


@pytest.mark.parametrize("answer, words", [
    (b"", ("does not answer", "baud", "RESET")),
    (bytes(range(128, 256)) * 2, ("baud rate is probably wrong",)),
    (b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
     b"waiting for download\r\n", ("ROM bootloader", "without holding BOOT")),
])
def test_board_not_answering(answer, words):
    from tinyml_host.board.link import Link, LinkError
    name, close = _silent_pty(answer)
    try:
        link = Link.open(name, enter=False)
        with pytest.raises(LinkError) as e:
            link.enter_raw(tries=1, wait=0.5)
        link.close()
    finally:
        close()
    for w in words:
        assert w in str(e.value)


def test_memory_error_says_needed_and_free(link):
    from tinyml_host.board.link import DeviceMemoryError
    with pytest.raises(DeviceMemoryError) as e:
        link.exec("x = bytearray(50 * 1024 * 1024)")
    err = e.value
    assert err.needed == 50 * 1024 * 1024 and 0 < err.free < err.needed
    assert "window" in str(err) and "more RAM" in str(err)
    assert link.exec("print(6 * 7)").strip() == "42"


def test_mpy_abi_and_arch_checks():
    from tinyml_host.board import deploy
    from tinyml_host.board.link import MpyMismatch, mpy_mismatch
    x64_63 = 6 | 3 << 8 | 2 << 10        # the unix port: sys.implementation._mpy
    m3_63 = 6 | 3 << 8 | 5 << 10         # a Cortex-M3 board
    arm = bytes([ord("M"), 6, 5 << 2 | 3, 0x1F])   # an armv7m native .mpy, ABI 6.3
    bytecode = bytes([ord("M"), 6, 0, 0x1F])       # no native code: any arch
    assert mpy_mismatch(m3_63, arm, "k.mpy") is None
    assert mpy_mismatch(x64_63, bytecode, "m.mpy") is None
    assert "armv7m" in mpy_mismatch(x64_63, arm, "k.mpy") and "x64" in mpy_mismatch(x64_63, arm, "k.mpy")
    assert "version 5" in mpy_mismatch(5 | 5 << 10, arm, "k.mpy")        # MicroPython 1.19-1.22: .mpy 6.x vs 5
    assert "no native code" in mpy_mismatch(6 | 3 << 8, arm, "k.mpy")  # firmware built without the native emitter
    assert "6.2" in mpy_mismatch(6 | 2 << 8 | 5 << 10, arm, "k.mpy")
    m4 = 6 | 3 << 8 | 6 << 10           # a Cortex-M3/M4 without FPU reports armv7em: it loads armv7m code
    assert mpy_mismatch(m4, arm, "k.mpy") is None
    armv7emsp = bytes([ord("M"), 6, 7 << 2 | 3, 0x1F])
    assert "armv7emsp" in mpy_mismatch(m4, armv7emsp, "k.mpy")
    assert deploy.build_arch({"mpy": m4, "arch": "armv7em"}) == "armv7m"
    assert deploy.build_arch({"mpy": x64_63, "arch": "x64"}, SimpleNamespace(name="b", arch="armv7m"), say=lambda s: None) == "x64"
    f = deploy.File("/lib/tinyml_kernels.mpy", arm + b"\0" * 16, "dist/armv7m_6.3/tinyml_kernels.mpy")
    with pytest.raises(MpyMismatch):
        deploy.check_mpy({"mpy": x64_63}, [f])
    deploy.check_mpy({"mpy": m3_63}, [f])


def test_what_each_arch_gets(tmp_path, monkeypatch):
    """The library is compiled per arch (viper code as that arch's machine code); an arch whose native
    module is missing and cannot be built (xtensawin with no toolchain: here a tree with no dist/ and
    no build script) gets no native module and a note that it will use viper and how to get one."""
    from tinyml_host.board import deploy
    notes = []
    files = deploy.plan("armv7m", HELLO, say=notes.append, build=False)
    by = {f.remote: f for f in files}
    assert by["/lib/tinyml/kernels_viper.mpy"].data[2] >> 2 == 5    # armv7m machine code
    assert by["/lib/tinyml/model.mpy"].data[2] >> 2 == 0            # bytecode only: any arch
    assert "/hello_world_int8.tml" in by
    monkeypatch.setattr(deploy, "REPO", tmp_path)  # no dist/xtensawin_6.3, no firmware/build_natmod.sh
    assert deploy.natmod("xtensawin", notes.append) is None
    assert any("viper backend" in n and "xtensa-esp32-elf-gcc" in n for n in notes)


def test_board_exception_is_reported(link):
    from tinyml_host.board.link import DeviceError
    with pytest.raises(DeviceError) as e:
        link.exec("1 / 0")
    assert "ZeroDivisionError" in str(e.value)
    assert link.exec("print('still here')").strip() == "still here"


# ---------------------------------------------------------------- long runs and Ctrl-C

def test_long_run_streams_and_has_no_timeout(link):
    lines = []
    stamps = []

    def on_line(s):
        lines.append(s)
        stamps.append(time.monotonic())
    link.exec("import time\nfor i in range(4):\n    print('tick', i)\n    time.sleep(0.4)", on_line=on_line)
    assert lines == ["tick %d" % i for i in range(4)]
    assert stamps[-1] - stamps[0] > 1.0  # each line came when printed, not all at the end


def test_ctrl_c_stops_code_on_the_board(link):
    _interrupt_a_loop(link)


def _interrupt_a_loop(link):
    lines = []
    timer = threading.Timer(1.5, _thread.interrupt_main)  # what Ctrl-C in the terminal does
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        link.exec("n = 0\nwhile True:\n    n += 1\n    if n % 20000 == 0:\n        print('n', n)", on_line=lines.append)
    timer.join()
    assert time.monotonic() - t0 < 15
    # the board stopped the loop (n no longer grows) and its REPL answers
    n1 = int(link.exec("print(n)").strip())
    time.sleep(0.3)
    n2 = int(link.exec("print(n)").strip())
    assert n1 == n2 > 0
    assert link.exec("print(6 * 7)").strip() == "42"


# ---------------------------------------------------------------- qemu-m3 (a 32-bit MCU, 140 KB heap, RAM filesystem)

def _qemu_ready():
    from tinyml_host.board import profiles as boards
    from tinyml_host.emulators import supervisor as emulators
    try:
        b = boards.load("qemu-m3")
    except Exception as e:
        return str(e)
    import shutil
    if not shutil.which(b.emulator["system"]):
        return "%s is not installed" % b.emulator["system"]
    try:
        emulators.ensure_firmware(b)
    except Exception as e:
        return "no qemu-m3 firmware: %s" % str(e)[:300]
    return None


@pytest.fixture(scope="module")
def qemu_board(tmp_path_factory):
    why = _qemu_ready()
    if why:
        pytest.skip(why)
    b = PrivateBoard(tmp_path_factory.mktemp("qemu"), "qemu-m3").start()
    yield b
    b.stop()


def test_qemu_m3_deploy_verify_and_nothing_twice(qemu_board, capsys):
    from tinyml_host.board import deploy
    from tinyml_host.board import run as remote
    from tinyml_host.cli import remote as cli_remote
    from tinyml_host.board.link import Link
    with Link.open(qemu_board.port) as link:
        info = link.info()
        assert info["arch"] in ("armv7m", "armv7em")  # MicroPython reports a Cortex-M3 as armv7em
        assert deploy.build_arch(info, qemu_board.profile) == "armv7m"
        res = deploy.deploy(link, qemu_board.profile, model=HELLO, out=_quiet())
        assert res.sent and all(f.sent for f in res.files)
        again = deploy.deploy(link, qemu_board.profile, model=HELLO, out=_quiet())
        assert [f.remote for f in again.sent] == []
        assert again.wire < 100 * len(again.files), again.wire  # the hash scan only: <= 100 B a file
    a = SimpleNamespace(model=str(HELLO), input=[str(HELLO_IN)], board=None, port=qemu_board.port, baud=None,
                        heap=None, backend=None, window=None, mismatches_only=False)
    cli_remote.cmd_verify(a)
    assert "256/256 cases match TFLM" in capsys.readouterr().out


def test_qemu_m3_ctrl_c(qemu_board):
    """On an MCU the firmware itself sees the Ctrl-C byte on its UART."""
    from tinyml_host.board.link import Link
    with Link.open(qemu_board.port) as link:
        _interrupt_a_loop(link)
