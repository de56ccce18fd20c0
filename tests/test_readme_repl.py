"""The README's REPL session, typed as printed into `tinyml repl` (what `make repl BOARD=qemu-m3` runs)
through a pty, on a qemu-m3 of its own (with the heap the README names) where the model it loads was deployed. The session
is read from README.md, so this checks what the README says (issue 14)."""
import os
import re
import select
import signal
import subprocess
import sys
import time

import numpy as np

from conftest import ROOT, SHARED
from test_deploy import PrivateBoard

TINYML = [sys.executable, "-m", "tinyml_host.cli"]


def readme_session():
    """The `>>> ` lines of the README's python blocks from "On the board's REPL" to the next section:
    one session, in order."""
    text = (ROOT / "README.md").read_text()
    at = text.index("On the board's REPL")
    part = text[at:text.find("\n## ", at) if "\n## " in text[at:] else len(text)]
    blocks = re.findall(r"```python\n(.*?)```", part, re.S)
    return [line[4:] for block in blocks for line in block.splitlines() if line.startswith(">>> ")]


def _model_for(name):
    """The TFLite model in ../shared/models/tflm behind the README's NAME.tml."""
    for cand in (name + ".tflite", name + "_int8.tflite"):
        if (SHARED / "tflm" / cand).exists():
            return SHARED / "tflm" / cand
    raise AssertionError("the README loads %s.tml: no %s(.tflite|_int8.tflite) in ../shared/models/tflm" % (name, name))


class Pty:
    def __init__(self, cmd, cwd):
        self.master, slave = os.openpty()
        env = dict(os.environ, PYTHONPATH=str(ROOT / "host_tools"), TERM="dumb")
        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.seen = b""

    def expect(self, what, timeout=120):
        """Reads until `what` (bytes) has come after what was already consumed; returns what came before it."""
        end = time.monotonic() + timeout
        while what not in self.seen:
            left = end - time.monotonic()
            r, _, _ = select.select([self.master], [], [], max(0, left))
            if not r:
                raise AssertionError("no %r within %d s; the terminal shows:\n%s" % (what, timeout, self.text()))
            try:
                self.seen += os.read(self.master, 4096)
            except OSError:
                raise AssertionError("tinyml repl ended; the terminal shows:\n%s" % self.text())
        before, _, self.seen = self.seen.partition(what)
        return before.decode("utf-8", "replace")

    def send(self, text):
        os.write(self.master, text.encode())

    def text(self):
        return self.seen.decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        os.close(self.master)


def test_readme_repl_session_on_qemu_m3(tmp_path):
    session = readme_session()
    assert session and session[0] == "import tinyml", session
    names = re.findall(r"tinyml\.load\('([^']+)\.tml'", "\n".join(session))
    assert names, session
    env = dict(os.environ, PYTHONPATH=str(ROOT / "host_tools"))
    files = []  # the models it loads, and the input files it reads (the model's first golden input)
    for name in dict.fromkeys(names):
        files.append(tmp_path / (name + ".tml"))
        subprocess.run(TINYML + ["convert", str(_model_for(name)), "-o", str(files[-1])], check=True,
                       capture_output=True, env=env)
    for raw in dict.fromkeys(re.findall(r"open\('([^']+)', 'rb'\)", "\n".join(session))):
        golden = sorted((SHARED / "golden").glob(names[-1] + "*.input0.npy"))
        assert golden, "no golden input for %s in ../shared/models/golden to stand for %s" % (names[-1], raw)
        (tmp_path / raw).write_bytes(np.load(golden[0])[0].astype(np.int8).tobytes())
        files.append(tmp_path / raw)
    heap = re.search(r"runs in a (\d+) KB MicroPython heap", (ROOT / "README.md").read_text())  # as the README says
    board = PrivateBoard(tmp_path / "boards", "qemu-m3", int(heap.group(1)) * 1024 if heap else None).start()
    try:
        port = ["--board", "qemu-m3", "--port", board.port]
        for f in files:
            what = [str(f)] if f.suffix == ".tml" else ["--app", str(f)]
            dep = subprocess.run(TINYML + ["deploy"] + what + port, capture_output=True, text=True, timeout=600,
                                 env=env)
            assert dep.returncode == 0, dep.stdout + dep.stderr
        repl = Pty(TINYML + ["repl"] + port, cwd=tmp_path)  # = make repl BOARD=qemu-m3
        try:
            repl.expect(b">>> ")
            leftover = None
            for line in session:
                repl.send(line + "\r")
                out = repl.expect(b">>> ")
                assert "Traceback" not in out and "Error" not in out, "%s\n%s" % (line, out)
                if leftover is None:  # the first prompt after a soft reset: nothing a deploy left
                    repl.send("[k for k in globals() if k.startswith('_tw') or k == '_w']\r")
                    leftover = repl.expect(b">>> ")
                    assert "[]" in leftover, leftover
                if "array('b')" in line.partition("#")[2]:  # the README says what comes out
                    assert "array('b'" in out, "%s\n%s" % (line, out)
            repl.send("\x1d")  # Ctrl-]: mpremote leaves the REPL
            repl.proc.wait(30)
        finally:
            repl.close()
    finally:
        board.stop()
