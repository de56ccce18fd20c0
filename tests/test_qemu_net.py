"""qemu-m3's network (issue 16): the firmware's LAN9118 driver under lwIP with MicroPython's socket
module, on QEMU's user network (DHCP; the host's loopback is 10.0.2.2). Checked against servers
started here: a 300 KB download arrives whole (SHA-256 equal to the host's), a 200 KB upload too,
a soft reset with a connection still open leaves a working network, taking the interface down is
refused (not supported yet), and the instance counting instructions (-icount shift=0) has the same
network."""

import hashlib
import http.server
import io
import os
import socket
import threading

import pytest

import ota_board
from conftest import ROOT

APP = ROOT / "tests" / "apps" / "net_check.py"
HOST = "10.0.2.2"  # the host's loopback, from QEMU's user network


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """An HTTP server of a random 300 KB file and a TCP sink that records what each connection sent."""
    root = tmp_path_factory.mktemp("www")
    data = os.urandom(300 * 1024)
    (root / "big.bin").write_bytes(data)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen(4)
    got = []

    def take(c):
        buf = bytearray()
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                buf += d
        except OSError:
            pass
        got.append(bytes(buf))
        c.close()

    def drain():
        while True:
            try:
                c, _ = sink.accept()
            except OSError:
                return
            threading.Thread(target=take, args=(c,), daemon=True).start()
    threading.Thread(target=drain, daemon=True).start()
    yield type("S", (), {"web": web.server_address[1], "sink": sink.getsockname()[1], "got": got,
                         "sha": hashlib.sha256(data).hexdigest(), "size": len(data)})
    web.shutdown()
    sink.close()


def _check(link, s):
    out = link.exec("import net_check\nnet_check.up()")
    assert "net True ('10.0.2.15', '255.255.255.0', '10.0.2.2', '10.0.2.3') 525400123456" in out, out
    out = link.exec("net_check.download(%r, %d, '/big.bin')" % (HOST, s.web))
    assert "got 200 %d %s" % (s.size, s.sha) in out, out
    n = len(s.got)
    out = link.exec("net_check.upload(%r, %d, 200000)" % (HOST, s.sink))
    assert "sent 200000" in out, out
    want = (bytes(range(256)) * 4 * 196)[:200000]
    for _ in range(200):
        if want in s.got[n:]:
            break
        threading.Event().wait(0.05)
    assert want in s.got[n:], [len(g) for g in s.got[n:]]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    why = ota_board.qemu_ready()
    assert why is None, why
    b = ota_board.Board(tmp_path_factory.mktemp("net"), "qemu-m3")
    try:
        b.start()
        from tinyml_host.board import deploy
        with b.link() as link:
            deploy.deploy(link, b.profile, app=[APP], out=io.StringIO(), build=False)
        yield b
    finally:
        b.stop()


def test_download_and_upload_arrive_whole(board, servers):
    with board.link() as link:
        _check(link, servers)


def test_soft_reset_with_a_connection_open(board, servers):
    with board.link() as link:
        link.exec("import net_check\nnet_check.up()\nnet_check.hold(%r, %d)" % (HOST, servers.sink))
        link.soft_reset()
        link.soft_reset()
        _check(link, servers)


def test_taking_the_interface_down_is_refused(board):
    with board.link() as link:
        out = link.exec("import net_check\nnet_check.up()\nnet_check.down()")
    assert "refused qemu-m3's LAN stays up until a reset" in out and "still True" in out, out


def test_icount_instance_has_the_network(servers, tmp_path):
    b = ota_board.Board(tmp_path, "qemu-m3", icount=True)
    try:
        b.start()
        from tinyml_host.board import deploy
        with b.link() as link:
            assert "-icount" in open("/proc/%d/cmdline" % _qemu_pid(b)).read().replace("\0", " ")
            deploy.deploy(link, b.profile, app=[APP], out=io.StringIO(), build=False)
            _check(link, servers)
    finally:
        b.stop()


def _qemu_pid(b):
    import json
    return json.loads((b.sd / "state.json").read_text())["child"]
