# The device half of tests/test_qemu_net.py: qemu-m3's network (network.LAN over the emulated LAN9118,
# MicroPython's lwIP socket module) brought up, then a download hashed as it comes and an upload.
import binascii
import hashlib
import socket

import network

TIMEOUT = 30  # seconds without progress: an error, not a hang

def up():
    lan = network.LAN()
    lan.active(True)
    print("net", lan.isconnected(), lan.ifconfig(), binascii.hexlify(lan.config("mac")).decode())


def down():
    lan = network.LAN()
    try:
        lan.active(False)
        print("went down")
    except OSError as e:
        print("refused", e)
    print("still", lan.isconnected())


def download(host, port, path):
    s = socket.socket()
    s.settimeout(TIMEOUT)
    s.connect(socket.getaddrinfo(host, port)[0][-1])
    s.write(b"GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path.encode(), host.encode()))
    status = s.readline()
    while s.readline() not in (b"\r\n", b""):
        pass
    h = hashlib.sha256()
    buf = bytearray(1024)
    mv = memoryview(buf)
    n = 0
    while True:
        k = s.readinto(buf)
        if not k:
            break
        h.update(mv[:k])
        n += k
    s.close()
    print("got", status.split()[1].decode(), n, binascii.hexlify(h.digest()).decode())


def upload(host, port, n):
    s = socket.socket()
    s.settimeout(TIMEOUT)
    s.connect((host, port))
    block = bytes(range(256)) * 4
    sent = 0
    while sent < n:
        sent += s.write(block[:min(len(block), n - sent)])
    s.close()
    print("sent", sent)


def hold(host, port):
    """A connection left open (a soft reset must drop it without harm)."""
    global _held
    _held = socket.socket()
    _held.connect((host, port))
    print("holding")
