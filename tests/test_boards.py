"""Board profiles, and the emulated boards driven like real ones: over their serial device (a pty)
with mpremote's raw REPL. Each emulated board is started once for the session (reused when it
already runs, and then left running) and stopped at the end."""

import contextlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time
import types
import zlib

import pytest

from tinyml_host.board import profiles as boards
from tinyml_host.emulators import supervisor as emulators

ROOT = pathlib.Path(__file__).resolve().parents[1]
EMULATED = [n for n in boards.names() if boards.load(n).emulated]
REQUIRED = {"unix", "qemu-m3", "qemu-m4", "qemu-rv32", "esp32", "esp32s3", "esp32s2", "esp32c3", "esp32c6", "rp2", "pyboard"}
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
         "xtensa", "xtensawin", "rv32imc", "rv64imc")  # MP_NATIVE_ARCH_* order
CROSS = {"qemu-system-arm": ("arm-none-eabi-gcc", "gcc-arm-none-eabi"),
         "qemu-system-riscv32": ("riscv64-unknown-elf-gcc", "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf")}


# ---- profiles -----------------------------------------------------------------------------------

def test_profiles_load_and_are_complete():
    names = boards.names()
    assert REQUIRED <= set(names)
    for b in boards.all_boards():
        assert b.name and b.description and b.arch in ARCHS[1:]
        assert isinstance(b.heap, int) and b.heap > 0 and b.baud > 0
        assert all(re.fullmatch(r"[0-9a-f]{4}:([0-9a-f]{4}|\*)", u) for u in b.usb_ids)
        if b.emulated:
            assert b.emulator["kind"] in ("unix", "qemu") and not b.chip
        else:
            assert b.usb_ids, b.name
        if b.name.startswith("esp32"):
            assert b.chip == b.name and b.is_esp
        if b.name in ("rp2", "pyboard"):
            assert b.chip is None
    assert boards.load("esp32").matches_usb(0x10C4, 0xEA60)
    assert boards.load("esp32s3").matches_usb(0x303A, 0x4001)  # native USB: any pid
    assert not boards.load("rp2").matches_usb(0x10C4, 0xEA60)
    assert boards.load("unix").heap == boards.load("qemu-m3").heap == 140 * 1024


def test_no_flash_offset_in_profiles():
    for path in boards.PROFILES.glob("*.toml"):
        assert "flash_offset" not in path.read_text(), path  # esptool knows it


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(boards.BoardError) as e:
        boards.load("esp33")
    for name in ("esp32", "unix", "qemu-m3"):
        assert name in str(e.value)


def test_parse_size():
    assert boards.parse_size("140K") == 143360
    assert boards.parse_size("2M") == 2 * 1024 * 1024
    assert boards.parse_size(1000) == 1000
    with pytest.raises(boards.BoardError):
        boards.parse_size("lots")


def test_cli_board_list(capsys):
    from tinyml_host.cli import main as cli
    from tinyml_host.cli.commands import COMMANDS
    from tinyml_host.cli.table import build_parser
    a = build_parser(COMMANDS).parse_args(["board", "start", "qemu-m3", "--heap", "256K"])
    assert a.board == "qemu-m3" and a.heap == "256K" and a.handler == "tinyml_host.cli.board:cmd_start"
    assert cli.main(["board", "list"]) == 0
    assert "qemu-m3" in capsys.readouterr().out


# ---- emulated boards ----------------------------------------------------------------------------

def _why_not(name):
    b = boards.load(name)
    if b.emulator["kind"] == "qemu":
        system = b.emulator["system"]
        if not shutil.which(system):
            return "%s is not installed (apt-get install %s)" % (system, emulators.APT_HINT.get(system, "qemu-system"))
        cc, apt = CROSS.get(system, (None, None))
        if not emulators.firmware_path(b).exists() and cc and not shutil.which(cc):
            return "no %s firmware and no %s to build it (apt-get install %s)" % (name, cc, apt)
    return None


_started = []


@pytest.fixture(scope="session")
def emulated_boards():
    """Every emulated board that can run here: name -> namespace(name, profile, device, heap), or the
    reason it cannot. Boards this session starts are stopped at its end."""
    out = {}
    for name in EMULATED:
        why = _why_not(name)
        if why:
            out[name] = why
            continue
        st = emulators.running(name)
        if st is None:
            device = emulators.start(name)
            _started.append(name)
            heap = boards.load(name).heap
        else:
            device, heap = st["device"], st["heap"]
        out[name] = types.SimpleNamespace(name=name, profile=boards.load(name), device=device, heap=heap)
    yield out
    for name in _started:
        emulators.stop(name)


@pytest.fixture(params=EMULATED)
def board(request, emulated_boards):
    b = emulated_boards[request.param]
    if isinstance(b, str):
        pytest.skip(b)
    return b


@contextlib.contextmanager
def repl(b, soft_reset=True):
    """mpremote's own serial transport on the board's device, in the raw REPL."""
    from mpremote.transport_serial import SerialTransport
    t = SerialTransport(b.device, baudrate=b.profile.baud)
    try:
        t.enter_raw_repl(soft_reset=soft_reset)
        yield t
    finally:
        try:
            t.exit_raw_repl()
        finally:
            t.close()


def run(t, code):
    return t.exec(code).decode().replace("\r\n", "\n")


def test_device_is_a_serial_port(board):
    assert os.path.realpath(board.device).startswith("/dev/pts/")
    st = emulators.running(board.name)
    assert st and st["device"] == board.device
    assert emulators.start(board.name, board.heap) == board.device  # reused, not restarted
    assert emulators.running(board.name)["pid"] == st["pid"]
    assert any(s["name"] == board.name and s["running"] for s in emulators.status())


def test_exec_and_arch(board):
    with repl(board) as t:
        assert run(t, "print(1 + 1)") == "2\n"
        mpy = int(t.eval("__import__('sys').implementation._mpy"))
        assert t.use_raw_paste  # the board speaks raw-paste mode
    assert (mpy & 0xFF, mpy >> 8 & 3) == (6, 3)  # .mpy ABI 6.3
    arch, want = ARCHS[mpy >> 10], board.profile.arch
    if want.startswith("armv"):
        # A Thumb-2 firmware without FPU reports armv7em and loads armv6m..armv7em native code
        # (py/persistentcode.h): the profile names what to build for this CPU.
        assert ARCHS.index("armv6m") <= ARCHS.index(want) <= ARCHS.index(arch), (want, arch)
        if want in ("armv7emsp", "armv7emdp"):  # a hard-float firmware reports its FPU (qemu-m4)
            assert arch == want
    else:
        assert arch == want


def test_filesystem(board):
    with repl(board) as t:
        out = run(t, """
import os
try:
    os.mkdir('/lib')
except OSError:
    pass
with open('/tb_a.txt', 'w') as f:
    f.write('hello board')
os.rename('/tb_a.txt', '/tb_b.txt')
with open('tb_b.txt') as f:
    print(f.read())
print('tb_a.txt' in os.listdir('/'), 'tb_b.txt' in os.listdir(), os.stat('/tb_b.txt')[6])
with open('/lib/tb_mod.py', 'w') as f:
    f.write('def hi():\\n    return 42\\n')
import tb_mod
print(tb_mod.hi(), os.getcwd())
os.remove('/tb_b.txt')
os.remove('/lib/tb_mod.py')
s = os.statvfs('/')
print(s[0] * s[3] > 100000)
""")
    assert out.split("\n")[:5] == ["hello board", "False True 11", "42 /", "True", ""]


def test_files_copied_by_mpremote(board, tmp_path):
    src = tmp_path / "tb_data.bin"
    src.write_bytes(bytes(range(256)) * 20)
    with repl(board) as t:
        if not t.fs_exists("/lib"):
            t.fs_mkdir("/lib")
        t.fs_writefile("/lib/tb_data.bin", src.read_bytes())
        assert t.fs_readfile("/lib/tb_data.bin") == src.read_bytes()
        assert {e.name: e.st_size for e in t.fs_listdir("/lib")}["tb_data.bin"] == 5120
        t.fs_rmfile("/lib/tb_data.bin")
    if board.name == "unix":  # the unix board's filesystem is a folder here
        assert (emulators.state_dir("unix") / "fs" / "lib").is_dir()


def test_heap(board):
    with repl(board) as t:
        total = int(t.eval("__import__('gc').mem_free() + __import__('gc').mem_alloc()"))
    assert 0.95 * board.heap <= total <= board.heap


def test_time(board):
    with repl(board) as t:
        out = run(t, """
import time
t0 = time.ticks_us(); m0 = time.ticks_ms()
time.sleep_ms(200)
print(time.ticks_diff(time.ticks_us(), t0), time.ticks_diff(time.ticks_ms(), m0))
""")
    us, ms = map(int, out.split())
    assert 190_000 <= us <= 2_000_000 and 190 <= ms <= 2000


def test_viper_and_native_emitters(board):
    with repl(board) as t:
        out = run(t, """
import micropython
@micropython.viper
def vsum(n: int) -> int:
    s = 0
    for i in range(n):
        s += i
    return s
@micropython.native
def twice(x):
    return 2 * x
print(vsum(1000), twice(21))
""")
    assert out == "499500 42\n"


def test_modules(board):
    data = b"tinyml " * 100
    z = zlib.compress(data)
    with repl(board) as t:
        out = run(t, """
import gc, struct, array, binascii, hashlib, os, sys, micropython, time, io
try:
    import deflate
    d = deflate.DeflateIO(io.BytesIO(%r), deflate.ZLIB).read() == %r
except ImportError:
    d = None
print(struct.unpack('<hI', struct.pack('<hI', -2, 7)), array.array('b', [1, -1])[1],
      binascii.crc32(b'abc'), binascii.a2b_base64(b'aGVsbG8='),
      binascii.hexlify(hashlib.sha256(b'abc').digest())[:16], d,
      all(hasattr(os, n) for n in ('listdir', 'rename', 'remove', 'stat', 'statvfs', 'mkdir')),
      callable(micropython.const) or True, gc.isenabled())
""" % (z, data))
    assert out == "(-2, 7) -1 891568578 b'hello' b'ba7816bf8f01cfea' True True True True\n"


def _native_mpy(arch):
    mpy = ROOT / "dist" / ("%s_6.3" % arch) / "tinyml_kernels_dense.mpy"  # the family of fully_connected
    if not mpy.exists():
        subprocess.run(["bash", str(ROOT / "firmware" / "build_natmod.sh")], env=dict(os.environ, ARCHS=arch),
                       capture_output=True)
    return mpy if mpy.exists() else None


def test_native_module(board):
    mpy = _native_mpy(board.profile.arch)
    if mpy is None:
        pytest.skip("no %s native module (firmware/build_natmod.sh)" % board.profile.arch)
    with repl(board) as t:
        if not t.fs_exists("/lib"):
            t.fs_mkdir("/lib")
        t.fs_writefile("/lib/tinyml_kernels_dense.mpy", mpy.read_bytes())
        out = run(t, """
import tinyml_kernels_dense as k
from array import array
y = bytearray(2)
k.fully_connected(bytes(array('b', [10, -20, 5])), bytes(array('b', [1, 2, 3, 4, 5, 6])),
                  array('i', [0, 100]), array('i', [1 << 30]), array('i', [0]), y, 3, 2, 0, -128, 127)
print(list(array('b', y)), k.__file__)
""")
        t.fs_rmfile("/lib/tinyml_kernels_dense.mpy")
    # x . w rows: [-15, -30 + 100] scaled by 0.5 (mult 2^30 in Q31) with TFLM's rounding
    assert out == "[-7, 35] /lib/tinyml_kernels_dense.mpy\n"


def test_ctrl_c_interrupts(board):
    with repl(board) as t:
        t.exec_raw_no_follow("x = 0\nwhile True:\n    x += 1\n")
        time.sleep(0.5)
        t.serial.write(b"\x03")
        out, err = t.follow(10)
        assert b"KeyboardInterrupt" in err
        assert int(t.eval("x")) > 0
        t.exec_raw_no_follow("import time\ntime.sleep(30)\n")
        time.sleep(0.3)
        t0 = time.monotonic()
        t.serial.write(b"\x03")
        out, err = t.follow(10)
        assert b"KeyboardInterrupt" in err and time.monotonic() - t0 < 5


def test_mpremote_cli_long_running_and_cp(emulated_boards, tmp_path):
    """mpremote's command line on every emulated board at once: a command that runs longer than
    mpremote's 10 s timeouts without printing, then cp both ways and ls."""
    live = {n: b for n, b in emulated_boards.items() if not isinstance(b, str)}
    if not live:
        pytest.skip("no emulated board can run here")
    src = tmp_path / "tb_cli.py"
    src.write_text("print('from a file')\n" * 20)
    results = {}

    def one(b):
        back = tmp_path / ("back-%s.py" % b.name)
        cmd = [sys.executable, "-m", "mpremote", "connect", b.device,
               "exec", "import time\ntime.sleep(11)\nprint('long done')", "+",
               "cp", str(src), ":tb_cli.py", "+", "ls", "+", "cp", ":tb_cli.py", str(back), "+",
               "rm", ":tb_cli.py"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        results[b.name] = (p, back)

    threads = [threading.Thread(target=one, args=(b,)) for b in live.values()]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for name, (p, back) in results.items():
        assert p.returncode == 0, (name, p.stdout, p.stderr)
        assert "long done" in p.stdout and "tb_cli.py" in p.stdout, (name, p.stdout)
        assert back.read_text() == src.read_text(), name


def test_heap_set_at_start():
    """The heap size is a start-time choice: a board restarted with another heap has it."""
    name = next((n for n in ("qemu-rv32", "qemu-m3", "unix") if n in _started), None)
    if name is None:
        pytest.skip("no emulated board started by this session (a board another user runs is left alone)")
    try:
        dev = emulators.start(name, "1M")
        b = types.SimpleNamespace(name=name, profile=boards.load(name), device=dev, heap=1024 * 1024)
        with repl(b) as t:
            total = int(t.eval("__import__('gc').mem_free() + __import__('gc').mem_alloc()"))
        assert 0.95 * b.heap <= total <= b.heap
        assert emulators.running(name)["heap"] == b.heap
    finally:
        emulators.start(name)  # back to the profile's heap for the rest of the session
