"""Updates pulled over HTTP (issue 16): `tinyml ota serve DIR` started here on loopback, the unix board
(MicroPython's unix port, the host's sockets) and qemu-m3 (its emulated LAN9118 with lwIP on QEMU's
user network, where the host's loopback is 10.0.2.2) pull a bundle with tinyml.ota_pull, are cut off
in the middle of the download (the board killed), resume where they stopped (a byte range from what
they hold), check and commit it, and the app at boot runs the new model. A tampered bundle on the
server is refused with the running slot untouched."""

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

import ota_board
from conftest import ROOT, SHARED

HELLO = SHARED / "tflm" / "hello_world_int8.tflite"
SPEECH = SHARED / "tflm" / "micro_speech_quantized.tflite"
APP = ROOT / "tests" / "apps" / "ota_app.py"
RATE = 16384  # bytes per second: the 34 KB bundle takes about 2 s, long enough to cut it


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _established(port):
    """Remote ports of the TCP connections the server on `port` has open (Linux /proc/net/tcp)."""
    out = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, remote, state = line.split()[1:4]
            if state == "01" and int(local.split(":")[1], 16) == port:
                out.add(int(remote.split(":")[1], 16))
    return out


@pytest.fixture(scope="module", params=("unix", "qemu-m3"))
def env(request, tmp_path_factory):
    from tinyml_host.ota import keys, push
    if request.param != "unix":
        why = ota_board.qemu_ready(request.param)
        assert why is None, why
    tmp = tmp_path_factory.mktemp("ota-http-" + request.param)
    served = tmp / "served"
    served.mkdir()
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tinyml_host.cli", "ota", "serve", str(served), "--host",
                               "127.0.0.1", "--port", str(port), "--rate", str(RATE)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT / "host_tools") + os.pathsep + str(ROOT / "device_lib")))
    assert "serving 0 bundles" in server.stdout.readline()
    log = []
    threading.Thread(target=lambda: [log.append(line.strip()) for line in server.stderr], daemon=True).start()
    board = ota_board.Board(tmp / "boards", request.param)
    try:  # the board and the server go even when the set-up fails
        board.start()
        key = tmp / "k"
        keys.keygen(key)
        from tinyml_host.ota import bundle
        first = tmp / "first.bundle"
        bundle.build(HELLO, key, 1, first)
        with board.link() as link:  # the first update goes over serial: it installs the key
            push.push(link, board.profile, first, pubkey=str(key) + ".pub", say=lambda s: None)
        host = "127.0.0.1" if board.name == "unix" else "10.0.2.2"  # the host, seen from QEMU's user network
        yield type("Env", (), {"tmp": tmp, "served": served, "url": "http://%s:%d/" % (host, port), "log": log,
                               "board": board, "key": key, "port": port})
    finally:
        board.stop()
        server.terminate()
    server.wait(10)


def _pull(link, url):
    net = "import network\nnetwork.LAN().active(True)\n" if "10.0.2.2" in url else ""  # qemu-m3: DHCP first
    return link.exec(net + "from tinyml import ota_pull\nprint('pulled', ota_pull.pull(%r))" % url)


def _part_size(link, path):
    return int(link.exec("import os\nprint(os.stat(%r)[6])" % path).split()[-1])


def _status(link):
    from tinyml_host.ota import push
    return push.board_status(link)


def test_pull_is_cut_then_resumes_and_the_app_at_boot_runs_it(env):
    from tinyml_host.apps import boot
    from tinyml_host.board import deploy
    from tinyml_host.board.link import LinkError
    from tinyml_host.ota import bundle
    b = env.board
    with b.link() as link:
        seq = _status(link)["seq"] + 1
    path = env.served / "speech.bundle"
    made = bundle.build(SPEECH, env.key, seq, path)
    model = made.manifest["model"]
    size = made.manifest["files"][0]["size"]

    slot = "b"
    part = b.fs / "ota" / slot / (model + ".part")
    cut = []

    def cutter():  # the board dies once a third of the model is in
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if part.exists() and part.stat().st_size >= size // 3:
                b.kill()
                cut.append(part.stat().st_size)
                return
            time.sleep(0.01)

    def qemu_cutter():  # its files are in the emulator's RAM: dies half-way through the model's request,
        # the one connection that lasts (>1 s at RATE; the bundle's head and manifest take ~40 ms)
        seen, deadline = {}, time.monotonic() + 120
        while time.monotonic() < deadline:
            now = time.monotonic()
            for c in _established(env.port):
                seen.setdefault(c, now)
            if any(now - t0 >= 0.5 * size / RATE for c, t0 in seen.items() if c in _established(env.port)):
                b.kill()
                cut.append(now)
                return
            time.sleep(0.01)
    t = threading.Thread(target=cutter if b.name == "unix" else qemu_cutter)
    t.start()
    with pytest.raises(LinkError):
        with b.link() as link:
            _pull(link, env.url + path.name)
    t.join()
    assert cut, "the download was never cut"
    b.start()
    if b.name == "unix":
        held = part.stat().st_size
    else:
        with b.link() as link:
            held = _part_size(link, "/ota/%s/%s.part" % (slot, model))
    assert 0 < held < size
    n_log = len(env.log)
    main = env.tmp / "main.py"
    main.write_text(boot.main_py("ota_app", wait=1))
    with b.link() as link:
        deploy.deploy(link, b.profile, app=[APP, main], out=io.StringIO(), build=False)
        t0 = time.monotonic()
        out = _pull(link, env.url + path.name)
        seconds = time.monotonic() - t0
        assert "pulled True" in out, out
        after = boot.restart(link, 30, until=r"ota-app \S+ \w+")  # power-on: the trial, then the app
    assert "tinyml-ota: confirmed slot %s seq %d" % (slot, seq) in after, after
    assert "ota-app /ota/%s/%s " % (slot, model) in after
    # the second pull asked for the model from where the cut left it, not from its start
    start = made.data_start + made.manifest["files"][0]["offset"]
    ranges = [tuple(map(int, m.groups())) for line in env.log[n_log:]
              for m in [re.search(r"bytes (\d+)-(\d+) -> 206", line)] if m]
    assert (start + held, start + size - 1) in ranges, env.log[n_log:]
    assert not any(a <= start < b_ for a, b_ in ranges), "the model was fetched from its start again"
    with b.link() as link:
        st = _status(link)
        boot.remove(link)
    assert (st["slot"], st["seq"], st["last"]["result"]) == (slot, seq, "ok")
    print("%s: HTTP pull of %s (%d bytes at %d B/s, resumed after %d) took %.2f s"
          % (b.name, path.name, path.stat().st_size, RATE, held, seconds))


def test_tampered_bundle_on_the_server_is_refused(env):
    from tinyml_host.ota import bundle
    b = env.board
    with b.link() as link:
        st = _status(link)
        before = link.exec("from tinyml import ota\nimport os\nfor n in sorted(os.listdir('/ota/%s')):\n"
                           "    print(n, ota.sha256_file('/ota/%s/' + n)[0])" % (st["slot"], st["slot"]))
    path = env.served / "tampered.bundle"
    made = bundle.build(HELLO, env.key, st["seq"] + 1, path)
    data = bytearray(path.read_bytes())
    data[made.data_start + 100] ^= 0x20  # a byte of the model, after signing
    path.write_bytes(bytes(data))
    with b.link() as link:
        with pytest.raises(Exception) as e:
            _pull(link, env.url + path.name)
        assert "arrived damaged" in str(e.value)
        now = _status(link)
        assert (now["slot"], now["seq"]) == (st["slot"], st["seq"])
        same = link.exec("from tinyml import ota\nimport os\nfor n in sorted(os.listdir('/ota/%s')):\n"
                         "    print(n, ota.sha256_file('/ota/%s/' + n)[0])" % (st["slot"], st["slot"]))
    assert same == before
    # a manifest signed by another key never gets a byte written
    from tinyml_host.ota import keys
    other = env.tmp / "other"
    keys.keygen(other)
    path = env.served / "foreign.bundle"
    bundle.build(HELLO, other, st["seq"] + 1, path)
    with b.link() as link:
        assert "pulled False" in _pull(link, env.url + path.name)
        assert "bad signature" in _status(link)["last"]["reason"]
