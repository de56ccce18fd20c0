"""Bad model files and a native module of the wrong architecture, on the real MicroPython unix port:
a clear error, or a fallback that is said."""
import shutil
import struct
import subprocess
import zlib

import pytest

from conftest import ROOT, SHARED
from tinyml_host.board import unix as board_unix
from tinyml_host.model.convert import convert
from tinyml_host.model.tmlfile import VERSION

HELLO = SHARED / "tflm" / "hello_world_int8.tflite"


@pytest.fixture(scope="module")
def tml():
    return convert(str(HELLO))


def device_load_error(tmp_path, data):
    """What tinyml.load() on the device says about a model file holding data."""
    (tmp_path / "bad.tml").write_bytes(data)
    code = ("import tinyml\ntry:\n    tinyml.load('bad.tml')\n    print('LOADED')\n"
            "except tinyml.ModelFileError as e:\n    print('ERROR', e)\n")
    return board_unix.exec_script(code, cwd=tmp_path).strip()


def test_truncated_file(tmp_path, tml):
    for cut in (10, len(tml) // 2, len(tml) - 1):
        said = device_load_error(tmp_path, tml[:cut])
        assert said.startswith("ERROR") and "truncated" in said and "again" in said, said


def test_corrupted_byte(tmp_path, tml):
    bad = bytearray(tml)
    bad[-20] ^= 0x40  # a weight byte
    said = device_load_error(tmp_path, bytes(bad))
    assert said.startswith("ERROR") and "checksum" in said and "corrupted" in said, said


def test_wrong_version(tmp_path, tml):
    bad = bytearray(tml)
    struct.pack_into("<H", bad, 4, 7)
    struct.pack_into("<I", bad, 12, zlib.crc32(bytes(bad[16:])))
    said = device_load_error(tmp_path, bytes(bad))
    assert said.startswith("ERROR") and "version 7" in said and "reads version %d" % VERSION in said, said


def test_tflite_given_to_the_device(tmp_path):
    said = device_load_error(tmp_path, HELLO.read_bytes())
    assert said.startswith("ERROR") and "not a .tml model" in said and "tinyml convert" in said, said


def test_intact_file_loads(tmp_path, tml):
    assert device_load_error(tmp_path, tml) == "LOADED"


def run_with_module_dir(tmp_path, module_dir, backend=None):
    """Loads hello_world on the unix port with only module_dir (and the device library) on sys.path."""
    (tmp_path / "m.tml").write_bytes(convert(str(HELLO)))
    code = ("import sys\nsys.path[:0] = [%r, %r]\nimport tinyml\ntry:\n"
            "    m = tinyml.load('m.tml', %r)\n    print('BACKEND', m.backend, list(m.run(bytes([0x80]))))\n"
            "except ImportError as e:\n    print('IMPORTERROR', e)\n"
            % (str(module_dir), str(ROOT / "device_lib"), backend))
    p = subprocess.run([board_unix.micropython_path(), "-c", code], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_wrong_arch_native_module_is_not_loaded(tmp_path):
    other = ROOT / "dist" / "armv7m_6.3" / "tinyml_kernels.mpy"
    assert other.exists(), "build the armv7m module first: make natmod"
    mods = tmp_path / "mods"
    mods.mkdir()
    shutil.copy(other, mods / "tinyml_kernels.mpy")
    out = run_with_module_dir(tmp_path, mods)
    assert "not for this CPU (x64, .mpy 6.3)" in out and "using the viper backend" in out, out
    expected = run_with_module_dir(tmp_path, ROOT / "dist" / "x64_6.3").split("BACKEND native ")[1]
    assert out.strip().endswith("BACKEND viper " + expected.strip()), out


def test_forcing_native_with_wrong_arch_says_why(tmp_path):
    mods = tmp_path / "mods"
    mods.mkdir()
    shutil.copy(ROOT / "dist" / "armv7m_6.3" / "tinyml_kernels.mpy", mods / "tinyml_kernels.mpy")
    out = run_with_module_dir(tmp_path, mods, "native")
    assert "IMPORTERROR" in out and "backend 'native' cannot be used" in out and "not for this CPU" in out, out


def test_missing_native_module_falls_back_and_says_so(tmp_path):
    out = run_with_module_dir(tmp_path, tmp_path)
    assert "no native kernels for this CPU" in out and "BACKEND viper" in out, out
