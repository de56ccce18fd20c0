"""Monitoring (issue 16): tinyml.monitor in real MicroPython on the unix board and qemu-m3 counts what
the host computes from the same inputs with TFLM; a shifted input distribution (the int8/uint8
mistake) raises the drift flag; watching allocates nothing per inference; `tinyml monitor` shows an
app's reports live and saves JSON; the reports reach a real MQTT broker (Debian's mosquitto, started
here on loopback) through umqtt.simple, from the unix board and from qemu-m3 (its emulated LAN9118
on QEMU's user network, where the host's loopback is 10.0.2.2)."""

import io
import json
import os
import re
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

import ota_board
from conftest import ROOT, SHARED

SPEECH = SHARED / "tflm" / "micro_speech_quantized.tflite"
APP = ROOT / "tests" / "apps" / "monitor_app.py"
N = 40


def _inputs(rng, n, shift=False):
    """n micro_speech-sized int8 inputs around -60 (std 25); shift: the same bytes read as uint8 by
    mistake and recentred the wrong way (x + 128, wrapped), the classic preprocessing slip."""
    x = np.clip(rng.normal(-60, 25, (n, 1960)), -128, 127).astype(np.int8)
    if shift:
        x = (x.astype(np.int16) + 128).astype(np.uint8).view(np.int8)
    return x


def expected(model, xs):
    """What the monitor must count, computed here: TFLM's outputs for xs, then the same rules."""
    from tinyml_host.board import run
    from tinyml_host.oracle import tflm
    _, ins, outs, _ = run.model_info(model)
    ys = tflm.tflm_run(str(model), [xs.reshape((len(xs),) + tuple(ins[0].shape))])[0].reshape(len(xs), -1)
    ys = ys.astype(np.int64)
    best = ys.argmax(axis=1)
    top = ys[np.arange(len(ys)), best]
    stride = max(1, xs.shape[1] // 256)
    sample = xs[:, ::stride].astype(np.int64)
    return {"inferences": len(xs), "conf": np.bincount((top + 128) >> 4, minlength=16).tolist(),
            "classes": np.bincount(best, minlength=ys.shape[1]).tolist(),
            "saturated": int(((ys == 127) | (ys == -128)).sum()), "values": int(ys.size),
            "input": {"sum": int(sample.sum()), "sumsq": int((sample * sample).sum()), "n": int(sample.size)}}


def _ref(xs):
    stride = max(1, xs.shape[1] // 256)
    s = xs[:, ::stride].astype(np.float64)
    return {"mean": float(s.mean()), "var": float(s.var())}


@pytest.fixture(scope="module", params=("unix", "qemu-m3"))
def board(request, tmp_path_factory):
    if request.param != "unix":
        why = ota_board.qemu_ready(request.param)
        assert why is None, why
    b = ota_board.Board(tmp_path_factory.mktemp("mon-" + request.param), request.param)
    try:  # the board goes even when the set-up fails
        b.start()
        from tinyml_host.board import deploy
        with b.link() as link:
            deploy.deploy(link, b.profile, model=SPEECH, app=[APP], out=io.StringIO())
        yield b
    finally:
        b.stop()


def _run_on_board(b, tmp, xs, ref=None, mqtt=None, model="/micro_speech_quantized.tml", extra=()):
    from tinyml_host.board import deploy
    path = tmp / "mon_in.bin"
    path.write_bytes(xs.tobytes())
    with b.link() as link:
        deploy.deploy(link, b.profile, app=[path] + list(extra), out=io.StringIO(), build=False)
        link.soft_reset()
        out = link.exec("import monitor_app\nmonitor_app.run(%r, '/mon_in.bin', %r, %r)" % (model, ref, mqtt))
    alloc = int(re.search(r"monitor-alloc (-?\d+)", out).group(1))
    report = [json.loads(line[len("tinyml-monitor "):]) for line in out.splitlines() if line.startswith("tinyml-monitor ")]
    return report[0], alloc


def test_counts_equal_the_hosts(board, tmp_path):
    rng = np.random.default_rng(3)
    xs = _inputs(rng, N)
    got, alloc = _run_on_board(board, tmp_path, xs)
    want = expected(SPEECH, xs)
    for k in ("inferences", "conf", "classes", "saturated", "values"):
        assert got[k] == want[k], k
    for k in ("sum", "sumsq", "n"):
        assert got["input"][k] == want["input"][k], k
    assert sum(got["latency_us"]) == N and len(got["latency_us"]) == 16
    assert 0 < got["heap_min"] < board.heap
    assert got["drift"] is None  # no reference given
    assert alloc == 0, "the monitor allocated %d bytes in 50 inferences" % alloc


def test_shifted_inputs_raise_the_drift_flag(board, tmp_path):
    rng = np.random.default_rng(4)
    ref = _ref(_inputs(rng, 200))   # what the model was calibrated on
    same, _ = _run_on_board(board, tmp_path, _inputs(rng, N), ref)
    assert same["drift"] is False
    shifted, _ = _run_on_board(board, tmp_path, _inputs(rng, N, shift=True), ref)
    assert shifted["drift"] is True
    assert abs(shifted["input"]["mean"] - ref["mean"]) > 50


def test_reference_from_the_converters_metadata_trailer(board, tmp_path):
    """`tinyml convert --ref-input` stores the input's statistics in the .tml's metadata trailer; both
    readers load the file as before (the board runs it, TFLM's counts again), and the monitor takes
    its drift reference from it."""
    from tinyml import tmlfile as device_reader
    from tinyml_host.cli.main import main as cli
    rng = np.random.default_rng(6)
    calib = tmp_path / "calib.npy"
    np.save(calib, _inputs(rng, 200))
    tml = tmp_path / "speech_ref.tml"
    assert cli(["convert", str(SPEECH), "-o", str(tml), "--ref-input", str(calib)]) == 0
    data = tml.read_bytes()
    device_reader.parse(data, "speech_ref.tml")  # the CRC and the tables check out, trailer and all
    meta = device_reader.metadata(data)
    assert meta["input_ref"] == pytest.approx(dict(_ref(np.load(calib)), n=meta["input_ref"]["n"]), abs=1e-3)
    xs = _inputs(rng, N)
    same, _ = _run_on_board(board, tmp_path, xs, model="/speech_ref.tml", extra=[tml])
    assert same["classes"] == expected(SPEECH, xs)["classes"] and same["drift"] is False
    shifted, _ = _run_on_board(board, tmp_path, _inputs(rng, N, shift=True), model="/speech_ref.tml", extra=[tml])
    assert shifted["drift"] is True


def test_monitor_command_shows_an_apps_reports(board, tmp_path):
    """An app at boot with MONITOR = True; `tinyml monitor` reads its reports off the port."""
    from tinyml_host.apps import boot
    from tinyml_host.board import deploy
    from tinyml_host.cli.main import main as cli
    if board.name != "unix":
        pytest.skip("one board is enough for the host view")
    app = tmp_path / "watched.py"
    boot.new_app(app, SPEECH)
    text = app.read_text().replace("PUBLISH = 10", "PUBLISH = 1").replace("RATE = 10", "RATE = 50")
    app.write_text(text)
    main = tmp_path / "main.py"
    main.write_text(boot.main_py("watched", wait=0))
    with board.link() as link:
        deploy.deploy(link, board.profile, app=[app, main], out=io.StringIO(), build=False)
        boot.restart(link, 10, until=r"app: running")
        link.close()
    out = tmp_path / "last.json"
    png = tmp_path / "last.png"
    assert cli(["monitor", "--port", board.port, "--count", "2", "--seconds", "30", "--json", str(out),
                "--png", str(png)]) == 0
    r = json.loads(out.read_text())
    assert r["inferences"] > 0 and sum(r["classes"]) == r["inferences"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    with board.link() as link:  # stops the app (Ctrl-C) and takes main.py away for the next tests
        boot.remove(link)


# ---------------------------------------------------------------- MQTT, against mosquitto on loopback

def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def broker(tmp_path):
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    assert exe and shutil.which("mosquitto_sub"), "mosquitto is not installed: run make setup"
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
    p = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            assert p.poll() is None and time.monotonic() < deadline, p.stdout.read().decode()
            time.sleep(0.05)
    yield port
    p.terminate()
    p.wait(5)


def test_reports_reach_the_mqtt_broker(board, tmp_path, broker):
    from tinyml_host.apps import monitor
    host = "127.0.0.1"
    if board.name != "unix":  # qemu-m3's LAN9118 on QEMU's user network, where the host is 10.0.2.2
        host = "10.0.2.2"
        with board.link() as link:
            link.exec("import network\nnetwork.LAN().active(True)")
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker), "-t", "tinyml/#", "-C", "1",
                            "-W", "60", "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # subscribed before the board publishes
    with board.link() as link:
        monitor.install_mqtt(link)
    xs = _inputs(np.random.default_rng(5), 8)
    cfg = {"broker": host, "port": broker, "topic": "tinyml/test-board", "client": "tinyml-test"}
    printed, _ = _run_on_board(board, tmp_path, xs, mqtt=cfg)
    out, err = sub.communicate(timeout=60)
    assert sub.returncode == 0, err
    topic, payload = out.strip().split(" ", 1)
    assert topic == "tinyml/test-board"
    assert json.loads(payload) == printed
    assert json.loads(payload)["classes"] == expected(SPEECH, xs)["classes"]
