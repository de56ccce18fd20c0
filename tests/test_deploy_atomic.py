"""Deploy commits a set of files at once (issue 10): cut at 20 random points (10 with the host process
killed, 10 with the board killed, its filesystem surviving: the unix board's is a host folder), the
board's files are never a mix of two sets: every real name holds the old set or every one the new,
and /tinyml.manifest (written last) names that set. A cut after the commit's journal is finished by
the next deploy's first command (roll forward), which this test runs as a deploy would."""
import hashlib
import os
import random
import subprocess
import sys
import threading
import time

from conftest import ROOT, SHARED
from test_deploy import PrivateBoard

NAMES = ("m.tml", "app_a.py", "app_b.py")


def make_set(root, tag, model):
    from tinyml_host.model.convert import convert
    d = root / tag
    d.mkdir()
    (d / "m.tml").write_bytes(convert(str(model)))
    for n in NAMES[1:]:
        (d / n).write_text("# set %s\nSET = %r\n" % (tag, tag) + "X = %r\n" % (tag * 2000))
    return d


def files_of(d):
    return {n: (d / n).read_bytes() for n in NAMES}


def deploy_args(d):
    return dict(model=d / "m.tml", app=[str(d / n) for n in NAMES[1:]])

def deploy_killed_at(board, at, files):
    """Deploys files to board over a link of its own, killing the board (its files kept) once `at`
    bytes have gone out; the board is started again after."""
    import io
    from tinyml_host.board import deploy
    from tinyml_host.board.link import Link, LinkError
    link = Link.open(board.port)
    w0 = link.wire.tx
    stop = threading.Event()

    def killer():
        while link.wire.tx - w0 < at and not stop.is_set():
            time.sleep(0.0005)
        if not stop.is_set():
            board.kill()
    t = threading.Thread(target=killer)
    t.start()
    try:
        deploy.deploy(link, board.profile, out=io.StringIO(), **deploy_args(files))
    except LinkError:
        pass
    finally:
        stop.set()
        t.join()
        link.close()
    if board.proc.poll() is not None:
        board.start()



def state(board):
    return {n: (board.fs / n).read_bytes() if (board.fs / n).exists() else None for n in NAMES}


def which(board, sets):
    """'A' or 'B' when every file (and the manifest) is that set's, else a description of the mix."""
    now = state(board)
    manifest = (board.fs / "tinyml.manifest").read_text() if (board.fs / "tinyml.manifest").exists() else None
    for tag, (d, want) in sets.items():
        if now == want:  # the manifest names exactly what the board holds, this set's files among them
            assert manifest, "set %s on the board, without its manifest" % tag
            rows = dict(ln.split(" ", 1) for ln in manifest.splitlines())
            for path, row in rows.items():
                data = (board.fs / path.lstrip("/")).read_bytes()
                assert row == "%s %d" % (hashlib.sha256(data).hexdigest(), len(data)), (tag, path)
            assert {"/" + n for n in NAMES} <= set(rows), rows
            return tag
    return {n: next((t for t, (_, w) in sets.items() if w[n] == v), "partial" if v else "missing")
            for n, v in now.items()}


def recover(board):
    """What the next deploy does first: a commit cut off after its journal is rolled forward."""
    from tinyml_host.board import deploy
    from tinyml_host.board.link import Link
    with Link.open(board.port) as link:
        link.exec(deploy.helpers())
        link.exec("_tw_recover()")


def full_deploy(board, d):
    from tinyml_host.board import deploy
    from tinyml_host.board.link import Link
    import io
    with Link.open(board.port) as link:
        return deploy.deploy(link, board.profile, out=io.StringIO(), **deploy_args(d))


HOST = """
import io, sys, pathlib
sys.path.insert(0, %(host)r)
from tinyml_host.board import deploy, profiles
from tinyml_host.board.link import Link
d = pathlib.Path(%(d)r)
link = Link.open(%(port)r)
print('open', flush=True)
deploy.deploy(link, profiles.load('unix'), model=d / 'm.tml', app=[str(d / n) for n in %(apps)r], out=io.StringIO())
print('done', flush=True)
"""


def test_deploy_cut_at_20_random_points_never_leaves_a_mix(tmp_path):
    board = PrivateBoard(tmp_path / "b", "unix").start()
    rng = random.Random(10)
    A = make_set(tmp_path, "A", SHARED / "tflm" / "hello_world_int8.tflite")
    B = make_set(tmp_path, "B", SHARED / "tflm" / "micro_speech_quantized.tflite")
    sets = {"A": (A, files_of(A)), "B": (B, files_of(B))}
    seen = []
    try:
        full_deploy(board, B)  # the full length of an A -> B deploy, in seconds and bytes on the wire
        full_deploy(board, A)
        assert which(board, sets) == "A"
        t0 = time.monotonic()
        res = full_deploy(board, B)
        seconds, wire = time.monotonic() - t0, res.wire
        assert which(board, sets) == "B" and wire > 20000
        for cut in range(20):
            full_deploy(board, A)
            assert which(board, sets) == "A"
            if cut % 2 == 0:  # the host process killed (SIGKILL) at a random time of its deploy
                p = subprocess.Popen([sys.executable, "-c", HOST % {"host": str(ROOT / "host_tools"), "d": str(B),
                                                                      "port": board.port, "apps": list(NAMES[1:])}],
                                     stdout=subprocess.PIPE, text=True)
                assert p.stdout.readline().strip() == "open"
                time.sleep(rng.uniform(0, seconds * 1.1))
                p.kill()
                p.wait()
                how = "host killed"
            else:  # the board killed after a random number of bytes of the deploy; it restarts, files kept
                # half anywhere, half in the deploy's last 3 KB (the last block, the hash check, the commit)
                at = rng.randrange(wire + 2000) if cut % 4 == 1 else rng.randrange(wire - 3000, wire + 200)
                deploy_killed_at(board, at, B)
                how = "board killed at byte %d" % at
            journal = (board.fs / "tinyml.manifest.new").exists()
            before = which(board, sets)
            assert before in ("A", "B") or journal, (cut, how, before)  # a mix only inside a commit's journal
            recover(board)
            after = which(board, sets)
            assert after in ("A", "B"), (cut, how, after)
            seen.append((how, before, after))
        print(seen)
        assert {a for _, _, a in seen} == {"A", "B"}, seen  # cuts landed both before and after the commit
    finally:
        board.stop()


def test_deploy_with_a_model_loaded_at_the_repl(tmp_path):
    """A user loaded a model at the REPL (it holds most of a small heap), then deploys: the deploy
    soft-resets the board first, 3 times out of 3, whether by the CLI or on the same link."""
    from tinyml_host.board import deploy
    from tinyml_host.board.link import Link
    import io
    board = PrivateBoard(tmp_path / "b", "unix", heap=160 * 1024).start()
    A = make_set(tmp_path, "A", SHARED / "tflm" / "micro_speech_quantized.tflite")
    B = make_set(tmp_path, "B", SHARED / "tflm" / "hello_world_int8.tflite")
    try:
        full_deploy(board, A)
        for i, d in enumerate((B, A, B)):
            link = Link.open(board.port)  # as the REPL leaves it: no soft reset
            link.exec("import tinyml\n_m = tinyml.load('/m.tml', None, None)\n_junk = [bytearray(1000) for _ in range(40)]")
            assert link.eval("'_m' in globals()")
            deploy.deploy(link, board.profile, out=io.StringIO(), **deploy_args(d))
            assert not link.eval("'_m' in globals()")  # the model was let go before the copy
            link.close()
            assert state(board) == files_of(d), i
        link = Link.open(board.port)
        link.exec("import tinyml\n_m = tinyml.load('/m.tml', None, None)")
        link.close()
        p = subprocess.run([sys.executable, "-m", "tinyml_host.cli", "deploy", str(A / "m.tml"), "--port", board.port,
                            "--board", "unix", "--app", str(A / "app_a.py"), "--app", str(A / "app_b.py")],
                           env=dict(os.environ, PYTHONPATH=str(ROOT / "host_tools")), capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert state(board) == files_of(A)
    finally:
        board.stop()


def _hashes(link, names):
    out = link.exec("for _p in %r:\n print(_tw_hash(_p))\ntry:\n print(open('/tinyml.manifest').read())\n"
                    "except OSError:\n print('-')\ntry:\n open('/tinyml.manifest.new').close()\n print('J')\n"
                    "except OSError:\n pass" % ["/" + n for n in names])
    lines = out.splitlines()
    rows = dict(ln.split(" ", 1) for ln in lines[len(names):] if ln.startswith("/"))
    return dict(zip(names, lines)), rows, "J" in lines


def test_qemu_m3_deploy_cut_by_board_kills_never_leaves_a_mix(tmp_path):
    """qemu-m3 killed at random points of a deploy (its RAM disk survives, as flash does): after it
    restarts, its files are one set or the other, and so is its manifest."""
    from test_deploy import _qemu_ready
    import io
    from tinyml_host.board import deploy
    from tinyml_host.board.link import Link
    why = _qemu_ready()
    if why:
        import pytest
        pytest.skip(why)
    board = PrivateBoard(tmp_path / "q", "qemu-m3").start()
    rng = random.Random(11)
    A = make_set(tmp_path, "A", SHARED / "tflm" / "hello_world_int8.tflite")
    B = make_set(tmp_path, "B", SHARED / "tflm" / "micro_speech_quantized.tflite")
    want = {t: {n: "%s %d" % (hashlib.sha256(b).hexdigest(), len(b)) for n, b in files_of(d).items()}
            for t, d in (("A", A), ("B", B))}
    seen = []
    try:
        full_deploy(board, B)
        full_deploy(board, A)
        with Link.open(board.port) as link:
            res = deploy.deploy(link, board.profile, out=io.StringIO(), **deploy_args(B))
        wire = res.wire
        for cut in range(6):
            full_deploy(board, A)
            at = rng.randrange(wire + 1000) if cut % 2 else rng.randrange(wire - 3000, wire + 200)
            deploy_killed_at(board, at, B)
            with Link.open(board.port) as link:
                link.exec(deploy.helpers())
                before, _, journal = _hashes(link, NAMES)
                link.exec("_tw_recover()")
                after, rows, _ = _hashes(link, NAMES)
            tag = next((t for t, w in want.items() if after == w), None)
            assert tag, (cut, at, after)
            assert before == after or journal, (cut, at, before)  # a mix only inside a commit's journal
            assert {n: rows.get("/" + n) for n in NAMES} == want[tag], (cut, at, rows)
            seen.append((at, tag))
        print(seen)
    finally:
        board.stop()
