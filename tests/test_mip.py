"""package.json: `mip` installs the device library and every arch's native module from a loopback HTTP
server holding the tree (as a release or raw.githubusercontent.com serves it), into a fresh /lib of
MicroPython's unix port; the board picks its own {arch}_{abi} module; then hello_world runs there,
bit for bit as tflite-micro."""
import functools
import http.server
import json
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

from tinyml_host.model.convert import convert
from tinyml_host.oracle import tflm

ROOT = pathlib.Path(__file__).resolve().parents[1]
MICROPYTHON = str(pathlib.Path(sys.executable).parent / "micropython")
HELLO = ROOT.parent / "shared" / "models" / "tflm" / "hello_world_int8.tflite"
sys.path.insert(0, str(ROOT / "host_tools"))
import make_package_json  # noqa: E402


def test_package_json_is_current():
    """Every device library file is in it (and nothing else but the native modules): regenerate with
    .venv/bin/python host_tools/make_package_json.py after adding a device file."""
    pkg = json.loads((ROOT / "package.json").read_text())
    lib = ROOT / "device_lib" / "tinyml"
    want = {"tinyml/" + p.relative_to(lib).as_posix() for p in lib.rglob("*.py") if "__pycache__" not in p.parts}
    got = {dst for dst, _ in pkg["urls"] if dst.startswith("tinyml/")}
    assert got == want, "package.json is stale: run host_tools/make_package_json.py"
    for dst, src in pkg["urls"]:
        assert (ROOT / src).is_file(), src
    archs = {dst.split("/")[1] for dst, _ in pkg["urls"] if dst.startswith("tinyml_native/")}
    assert archs == {"x64_6.3", "armv6m_6.3", "armv7m_6.3", "armv7emsp_6.3", "rv32imc_6.3", "xtensawin_6.3"}
    assert (ROOT / "package.json").read_text() == make_package_json.text()


def _serve(directory):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    return "http://127.0.0.1:%d" % httpd.server_address[1], httpd


@pytest.fixture
def release(tmp_path):
    """A release tree (make_package_json.py --release: the repository's layout, as raw.githubusercontent.com
    serves a `github:` install, with dist/) over HTTP: (its URL, its folder)."""
    tree = make_package_json.release(tmp_path / "release")
    url, httpd = _serve(tree)
    yield url, tree
    httpd.shutdown()
    httpd.server_close()


def test_mip_installs_the_library_and_the_native_module_then_a_model_runs(release, tmp_path):
    release, tree = release
    lib = tmp_path / "lib"
    p = subprocess.run([MICROPYTHON, "-c", "import mip; mip.install(%r, target=%r)" % (release + "/package.json", str(lib))],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "Done" in p.stdout, p.stdout + p.stderr
    assert (lib / "tinyml" / "model.py").is_file()
    assert (lib / "tinyml_native" / "x64_6.3" / "tinyml_kernels.mpy").read_bytes() == \
        (tree / "dist" / "x64_6.3" / "tinyml_kernels.mpy").read_bytes()
    (tmp_path / "hello.tml").write_bytes(convert(str(HELLO)))
    x = np.arange(-128, 128, dtype=np.int8)
    code = ("import sys\nsys.path.insert(0, %r)\nimport tinyml\nm = tinyml.load('hello.tml')\n"
            "out = bytearray()\nfor v in range(-128, 128):\n    out += m.run(bytes([v & 255]))\n"
            "print(m.backend, bytes(out).hex())\n" % str(lib))
    p = subprocess.run([MICROPYTHON, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    backend, hexed = p.stdout.split()[-2:]
    assert backend == "native"  # the x64 module mip put in tinyml_native/x64_6.3/, found by the board
    want = tflm.tflm_run(str(HELLO), [x.reshape(256, 1, 1)])[0].astype(np.int8).tobytes()
    assert bytes.fromhex(hexed) == want


def test_mpremote_mip_install_puts_the_package_on_a_board(release):
    """`mpremote mip install URL` (mpremote downloads on the host and writes over the board's serial
    link) onto the unix board behind its pty: every file lands byte for byte."""
    import os
    from tinyml_host.emulators import supervisor
    device = supervisor.start("unix")
    target = "/mip_test_%d" % os.getpid()
    fs = supervisor.state_dir("unix") / "fs" / target.lstrip("/")  # the unix board's "/" is this folder
    try:
        p = subprocess.run([str(pathlib.Path(sys.executable).parent / "mpremote"), "connect", device, "mip", "install",
                            "--target", target, release[0] + "/package.json"], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0 and "Done" in p.stdout, p.stdout + p.stderr
        for dst, src in json.loads((release[1] / "package.json").read_text())["urls"]:
            assert (fs / dst).read_bytes() == (release[1] / src).read_bytes(), dst
    finally:
        import shutil
        shutil.rmtree(fs, ignore_errors=True)


def test_deploy_removes_a_py_that_would_shadow_the_mpy_it_writes(tmp_path):
    """A tinyml .py copied by hand (mpremote cp) beside the .mpy a deploy writes would be imported
    instead of it (MicroPython looks for .py first): deploy removes it and says so."""
    import io
    from tinyml_host.board import deploy, run
    from tinyml_host.emulators import supervisor
    link, prof = run.connect("unix", None, start=supervisor.start)
    try:
        deploy.deploy(link, prof, out=io.StringIO())
        link.exec("import os\nf = open('/lib/tinyml/planner.py', 'w')\nf.write('raise ImportError(\"stale\")\\n')\n"
                  "f.close()\nprint(os.stat('/lib/tinyml/planner.py')[6])")
        out = io.StringIO()
        deploy.deploy(link, prof, model=str(HELLO), out=out)
        assert "removed /lib/tinyml/planner.py: it would be imported instead of the /lib/tinyml/planner.mpy" in out.getvalue()
        got = link.exec("import os, sys\nprint('planner.py' in os.listdir('/lib/tinyml'))\n"
                        "sys.path.append('/lib') if '/lib' not in sys.path else None\nimport tinyml\n"
                        "m = tinyml.load('/hello_world_int8.tml')\nprint(list(m.run(bytes([0]))))").split("\n")
    finally:
        link.close()
    assert got[0].strip() == "False"
    want = tflm.tflm_run(str(HELLO), [np.zeros((1, 1, 1), np.int8)])[0].reshape(-1).tolist()
    assert eval(got[1]) == want
