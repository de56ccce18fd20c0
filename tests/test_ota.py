"""Signed model updates over the serial link (issue 16), on the unix board and on qemu-m3: `tinyml ota
keygen | bundle | push | status` through the tinyml command, the board's own checks (tinyml.ota in
real MicroPython), the app at boot running the new model, refusals that change nothing, the health
check's rollback, and power cuts (the emulator killed) at 20 random points of updates."""

import io
import json
import pathlib
import random
import re
import threading
import time

import numpy as np
import pytest

import ota_board
from conftest import ROOT, SHARED

HELLO = SHARED / "tflm" / "hello_world_int8.tflite"
SPEECH = SHARED / "tflm" / "micro_speech_quantized.tflite"
APP = ROOT / "tests" / "apps" / "ota_app.py"
BOARDS = ("unix", "qemu-m3")


def cli(*args):
    """Runs the tinyml command in this process; returns its exit status."""
    from tinyml_host.cli.main import main
    try:
        return main([str(a) for a in args])
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module", params=BOARDS)
def env(request, tmp_path_factory):
    if request.param != "unix":
        why = ota_board.qemu_ready(request.param)
        assert why is None, why
    tmp = tmp_path_factory.mktemp("ota-" + request.param)
    board = ota_board.Board(tmp / "boards", request.param)
    try:  # the board goes even when the set-up fails
        board.start()
        key = tmp / "owner.key"
        assert cli("ota", "keygen", "-o", key) == 0
        assert key.exists() and (tmp / "owner.key.pub").exists()
        yield type("Env", (), {"board": board, "tmp": tmp, "key": key, "pub": tmp / "owner.key.pub"})
    finally:
        board.stop()


def _status(env):
    from tinyml_host.ota import push
    with env.board.link() as link:
        return push.board_status(link)


def _slot_files(link, slot):
    """{name: sha256} of every file in the slot, hashed on the board."""
    out = link.exec("import os\nfrom tinyml import ota\nfor n in sorted(os.listdir('/ota/%s')):\n"
                    "    print('F', n, ota.sha256_file('/ota/%s/' + n)[0])" % (slot, slot))
    return dict(line.split()[1:3] for line in out.splitlines() if line.startswith("F "))


def _tflm_zero(model):
    from tinyml_host.board import run
    from tinyml_host.oracle import tflm
    _, ins, _, _ = run.model_info(model)
    x = np.zeros((1,) + tuple(ins[0].shape), np.int8)
    return tflm.tflm_run(str(model), [x])[0][0].astype(np.int8).tobytes().hex()


def _floor(st):
    """The lowest sequence number the board would refuse: the running one, or higher after a fallback."""
    return max(st["seq"], st.get("floor") or 0)


def _next_seq(env):
    return _floor(_status(env)) + 1


def test_serial_push_replaces_the_model_and_the_app_at_boot_runs_it(env, capsys):
    from tinyml_host.apps import boot
    from tinyml_host.board import deploy
    b = env.board
    main = env.tmp / "main.py"
    main.write_text(boot.main_py("ota_app", wait=1))
    with b.link() as link:
        deploy.deploy(link, b.profile, model=HELLO, app=[APP, main], out=io.StringIO())
        first = boot.restart(link, 30, until=r"ota-app \S+ \w+")
    assert "ota-app hello_world_int8.tml " + _tflm_zero(HELLO) in first

    bundle = env.tmp / "speech1.bundle"
    assert cli("ota", "bundle", SPEECH, "--key", env.key, "--seq", 1, "-o", bundle) == 0
    t0 = time.monotonic()
    assert cli("ota", "push", bundle, "--port", b.port, "--pubkey", env.pub, "--no-restart") == 0
    seconds = time.monotonic() - t0
    out = capsys.readouterr().out
    assert "the board runs seq 1 from slot a" in out

    assert cli("ota", "status", "--port", b.port, "--json") == 0
    st = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert st["seq"] == 1 and st["slot"] == "a" and st["last"]["result"] == "ok"

    with b.link() as link:  # power-on again: main.py runs the app, with the update's model
        after = boot.restart(link, 30, until=r"ota-app \S+ \w+")
    assert "ota-app /ota/a/micro_speech_quantized.tml " + _tflm_zero(SPEECH) in after, after
    print("%s: serial update of %s (%d bytes) took %.2f s" % (b.name, bundle.name, bundle.stat().st_size, seconds))


def _bundle_bytes(env, model, seq, key=None, **kw):
    from tinyml_host.ota import bundle, keys
    manifest, files = bundle.plan(model, seq, **kw)
    return manifest, files, bundle.pack(manifest, files, keys.load_private(key or env.key))


@pytest.mark.parametrize("case", ["signature", "hash", "sequence", "abi"])
def test_refused_updates_change_nothing(env, case, capsys):
    from tinyml_host.ota import keys
    st = _status(env)
    if not st["slot"]:
        pytest.fail("the first test installs an update; run the module whole")
    seq = _floor(st) + 1
    if case == "signature":
        other = env.tmp / "other.key"
        if not other.exists():
            keys.keygen(other)
        data = _bundle_bytes(env, HELLO, seq, key=other)[2]
        why = "bad signature"
    elif case == "hash":
        manifest, files, data = _bundle_bytes(env, HELLO, seq)
        data = bytearray(data)
        data[len(data) - len(files[-1][1]) - 40] ^= 0x01   # a byte of the model, after signing
        data = bytes(data)
        why = "SHA-256"
    elif case == "sequence":
        data = _bundle_bytes(env, HELLO, _floor(st))[2]
        why = "not above the running one"
    else:
        data = _bundle_bytes(env, HELLO, seq, abi="9.9")[2]
        why = ".mpy ABI 9.9"
    path = env.tmp / ("bad-%s.bundle" % case)
    path.write_bytes(data)
    with env.board.link() as link:
        before = _slot_files(link, st["slot"])
    assert cli("ota", "push", path, "--port", env.board.port, "--no-restart") == 1
    err = capsys.readouterr().err
    assert "refused" in err and why in err
    after_st = _status(env)
    assert (after_st["slot"], after_st["seq"]) == (st["slot"], st["seq"])
    assert after_st["last"]["result"] == "refused" and why in after_st["last"]["reason"]
    with env.board.link() as link:
        assert _slot_files(link, st["slot"]) == before   # 0 bytes of the running slot changed
        link.soft_reset()
        assert "tinyml-ota-check ok %s %d" % (st["slot"], st["seq"]) in link.exec("from tinyml import ota\nota.check()")


def test_failed_health_check_rolls_back(env, capsys):
    from tinyml_host.ota import bundle, keys
    st = _status(env)
    manifest, files = bundle.plan(HELLO, _floor(st) + 1)
    g = manifest["golden"]
    blob = bytearray(files[1][1])
    blob[sum(g["inputs"])] ^= 0x01  # case 0's first output byte: not what the model gives
    files[1] = ("golden.bin", bytes(blob))
    path = env.tmp / "bad-golden.bundle"
    path.write_bytes(bundle.pack(manifest, files, keys.load_private(env.key)))
    assert cli("ota", "push", path, "--port", env.board.port, "--no-restart") == 1
    assert "rolled back" in capsys.readouterr().err
    assert cli("ota", "status", "--port", env.board.port) == 0
    out = capsys.readouterr().out
    assert "rolled back" in out and "golden output 0 of case 0 differs" in out
    now = _status(env)
    assert (now["slot"], now["seq"]) == (st["slot"], st["seq"]) and now["pending"] is None


def test_key_replacement_only_over_serial_with_the_flag(env, capsys):
    from tinyml_host.ota import keys
    new = env.tmp / "new.key"
    keys.keygen(new)
    seq = _next_seq(env)
    path = env.tmp / "newkey.bundle"
    path.write_bytes(_bundle_bytes(env, HELLO, seq, key=new)[2])
    assert cli("ota", "push", path, "--port", env.board.port, "--pubkey", str(new) + ".pub", "--no-restart") == 2
    assert "--replace-key" in capsys.readouterr().err
    assert cli("ota", "push", path, "--port", env.board.port, "--pubkey", str(new) + ".pub", "--replace-key",
               "--no-restart") == 0
    assert _status(env)["key"] == keys.public_raw(str(new) + ".pub").hex()
    env.key, env.pub = new, pathlib.Path(str(new) + ".pub")


def test_a_damaged_running_slot_falls_back_at_boot(env):
    """Every boot checks the running slot's files against its manifest: a byte flipped in the
    running model (flash gone bad) brings back the previous slot; the sequence floor stays."""
    from tinyml_host.ota import push
    b = env.board
    seq = _next_seq(env)
    path = env.tmp / "fresh.bundle"
    path.write_bytes(_bundle_bytes(env, HELLO, seq)[2])
    with b.link() as link:
        st = push.push(link, b.profile, path, say=lambda s: None)
        prev = st["prev"]
        prev_seq = st["slots"][prev]["seq"]
        model = "/ota/%s/%s" % (st["slot"], st["slots"][st["slot"]]["model"])
        link.exec("f = open(%r, 'r+b')\nf.seek(100)\nc = f.read(1)[0]\nf.seek(100)\nf.write(bytes([c ^ 1]))\n"
                  "f.close()" % model)
        link.soft_reset()
        out = link.exec(push.IMPORT + "_ota.boot()")
        link.soft_reset()
        out += link.exec(push.IMPORT + "_ota.check()")
        assert "is damaged" in out and "tinyml-ota-check ok %s %d" % (prev, prev_seq) in out
        now = push.board_status(link)
    assert (now["slot"], now["seq"], now["last"]["result"]) == (prev, prev_seq, "rolled back")
    path = env.tmp / "replay.bundle"  # above the slot it fell back to, but not above the floor
    path.write_bytes(_bundle_bytes(env, HELLO, seq)[2])
    assert cli("ota", "push", path, "--port", b.port, "--no-restart") == 1


def test_crash_during_the_trial_rolls_back(env, capsys):
    """The board dies while it tries an update (its golden check made long here): the next boot
    finds a trial that never finished, returns to the previous slot and records why."""
    from tinyml_host.board.link import LinkError
    from tinyml_host.ota import bundle, keys, push
    b = env.board
    st = _status(env)
    manifest, files = bundle.plan(HELLO, _floor(st) + 1, cases=200000 if b.name == "unix" else 40000)
    path = env.tmp / "long-trial.bundle"
    path.write_bytes(bundle.pack(manifest, files, keys.load_private(env.key)))
    with b.link() as link:
        assert push.push(link, b.profile, path, say=lambda s: None, trial=False)["pending"]
        link.soft_reset()
        assert "checked; its health check follows a restart" in link.exec(push.IMPORT + "_ota.boot()")
        link.soft_reset()
        t0 = time.monotonic()
        timer = threading.Timer(0.3, b.kill)
        timer.start()
        try:
            with pytest.raises(LinkError):
                link.exec(push.IMPORT + "_ota.boot()")
        finally:
            timer.cancel()
    print("%s: the trial was cut after %.2f s" % (b.name, time.monotonic() - t0))
    b.kill()
    b.start()
    with b.link() as link:  # main.py's runner may have done it already at power-on: boot() again is a no-op
        link.exec(push.IMPORT + "_ota.boot()")
    assert cli("ota", "status", "--port", b.port, "--json") == 0
    now = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (now["slot"], now["seq"]) == (st["slot"], st["seq"])
    assert now["last"]["result"] == "rolled back" and "did not finish" in now["last"]["reason"]


# ---------------------------------------------------------------- power cuts

def test_power_cut_at_20_random_points(env):
    """The board dies at a random point of an update (while its files are written, at the commit, at
    the reset, during the trial), 20 times: each time it comes back running a complete, verified
    model, the old one or the new one, and the next update goes through."""
    from tinyml_host.apps import boot
    from tinyml_host.board.link import LinkError
    from tinyml_host.ota import bundle, keys, push
    from tinyml_host.errors import TinymlError
    b = env.board
    rng = random.Random(16)
    key = keys.load_private(env.key)
    plans = [bundle.plan(m, 1) for m in (HELLO, SPEECH)]
    with b.link() as link:
        boot.remove(link)  # this test calls boot() itself, as main.py would

    def make(seq, k):
        manifest, files = plans[k]
        path = env.tmp / ("cut-%d.bundle" % seq)
        path.write_bytes(bundle.pack(dict(manifest, seq=seq), files, key))
        return path

    # one update without a cut, counting its steps
    steps = []
    seq = _next_seq(env)
    with b.link() as link:
        push.push(link, b.profile, make(seq, 1), say=lambda s: None, step=steps.append)
    outcomes = []
    for run in range(20):
        st = _status(env)
        old = st["seq"]
        new = _floor(st) + 1
        path = make(new, run % 2)
        at = rng.randrange(len(steps))
        delay = rng.uniform(0, 0.05)
        seen = []

        def step(name):
            seen.append(name)
            if len(seen) == at + 1:
                threading.Timer(delay, b.kill).start()
        try:
            with b.link() as link:
                push.push(link, b.profile, path, say=lambda s: None, step=step)
        except (LinkError, TinymlError, OSError):
            pass
        time.sleep(delay + 0.4)
        b.kill()  # if the push won the race, the cut comes right after it
        b.start()
        with b.link() as link:  # power-on, as the app runner does it; then what runs, checked
            push.run_boot(link, say=lambda s: None)
            link.soft_reset()
            out = link.exec("from tinyml import ota\nota.check()")
        m = re.search(r"tinyml-ota-check ok (\w) (\d+)", out)
        assert m, "run %d (cut at %s + %.3f s): %s" % (run, seen[-1] if seen else "-", delay, out)
        got = int(m.group(2))
        assert got in (old, new), (old, new, got)
        outcomes.append((seen[-1] if seen else "-", "new" if got == new else "old"))
    # and an update after all that goes through
    seq = _next_seq(env)
    with b.link() as link:
        st = push.push(link, b.profile, make(seq, 0), say=lambda s: None)
    assert st["seq"] == seq
    print("%s power cuts: %s" % (b.name, outcomes))
