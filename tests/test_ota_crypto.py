"""The device's Ed25519 verifier and SHA-512 (device_lib/tinyml/ed25519.py, sha512.py), run in real
MicroPython (the unix port, and qemu-m3, a 32-bit MCU with MPZ long ints), against RFC 8032's test
vectors, CPython's hashlib and PyPI's cryptography (signatures made here, in the same test)."""

import hashlib
import json
import os
import random
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ota_board

# RFC 8032, section 7.1, TEST 1 to 3: (secret key, public key, message, signature)
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]
L = 2 ** 252 + 27742317777372353535851937790883648493

# What the device runs: each case's verify() result and each message's SHA-512, in one go.
DEVICE_CODE = """
import json, binascii, gc
from tinyml import ed25519
from tinyml.sha512 import sha512
from time import ticks_ms, ticks_diff
cases = json.loads(open(%(path)r).read())
u = binascii.unhexlify
res = []
for pk, msg, sig in cases['verify']:
    res.append(ed25519.verify(u(pk), u(msg), u(sig)))
print('V', json.dumps(res))
print('H', json.dumps([sha512(u(m)).hexdigest() for m in cases['sha']]))
pk, msg, sig = cases['verify'][0]
gc.collect()
t = ticks_ms()
ed25519.verify(u(pk), u(msg), u(sig))
print('T', ticks_diff(ticks_ms(), t))
"""


def _vectors(n_random=12, seed=5):
    """[(pk hex, msg hex, sig hex)] and the expected verify() results; messages for SHA-512."""
    rng = random.Random(seed)
    cases, want = [], []
    for sk, pk, msg, sig in RFC8032:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sk))
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert raw.hex() == pk and key.sign(bytes.fromhex(msg)).hex() == sig  # the constants are right
        cases.append((pk, msg, sig))
        want.append(True)
    for i in range(n_random):
        key = Ed25519PrivateKey.generate()
        pk = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        msg = os.urandom(rng.choice((0, 1, 63, 64, 111, 112, 127, 128, 200, 700)))
        sig = key.sign(msg)
        cases.append((pk.hex(), msg.hex(), sig.hex()))
        want.append(True)
        k = i % 4  # and a case that must fail
        if k == 0 and msg:
            bad = bytearray(msg)
            bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
            cases.append((pk.hex(), bytes(bad).hex(), sig.hex()))
        elif k == 1:
            bad = bytearray(sig)
            bad[rng.randrange(64)] ^= 1 << rng.randrange(8)
            cases.append((pk.hex(), msg.hex(), bytes(bad).hex()))
        elif k == 2:  # the same S plus the group order: a non-canonical S, which is refused
            s = int.from_bytes(sig[32:], "little") + L
            cases.append((pk.hex(), msg.hex(), (sig[:32] + s.to_bytes(32, "little")).hex()))
        else:  # another key's signature
            other = Ed25519PrivateKey.generate().sign(msg)
            cases.append((pk.hex(), msg.hex(), other.hex()))
        want.append(False)
    shas = [os.urandom(n).hex() for n in (0, 1, 3, 111, 112, 113, 127, 128, 129, 255, 256, 1000)]
    return {"verify": cases, "sha": shas}, want


def _check(printed, vec, want):
    printed = printed.replace("\r", "")
    got = json.loads(re.search(r"^V (.*)$", printed, re.M).group(1))
    assert got == want
    hashes = json.loads(re.search(r"^H (.*)$", printed, re.M).group(1))
    assert hashes == [hashlib.sha512(bytes.fromhex(m)).hexdigest() for m in vec["sha"]]
    return int(re.search(r"^T (\d+)$", printed, re.M).group(1))


def test_ed25519_and_sha512_on_the_unix_port(tmp_path):
    from tinyml_host.board import unix as board_unix
    vec, want = _vectors()
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(vec))
    ms = _check(board_unix.exec_script(DEVICE_CODE % {"path": str(path)}), vec, want)
    print("unix port: one Ed25519 verify takes %d ms" % ms)


def test_ed25519_and_sha512_on_qemu_m3(tmp_path):
    why = ota_board.qemu_ready()
    assert why is None, why
    from tinyml_host.board import deploy
    vec, want = _vectors(n_random=4)
    b = ota_board.Board(tmp_path, "qemu-m3").start()
    try:
        with b.link() as link:
            deploy.deploy(link, b.profile, out=open(os.devnull, "w"))
            link.exec("f = open('/cases.json', 'w')\nf.write(%r)\nf.close()" % json.dumps(vec))
            assert "MPZ" in link.exec("import sys\nprint('MPZ' if 2 ** 300 > 2 ** 299 else '-')")
            printed = link.exec(DEVICE_CODE % {"path": "/cases.json"})
            ms = _check(printed, vec, want)
            mem = link.exec("import gc, micropython\ngc.collect()\nfrom tinyml import ed25519\nimport binascii\n"
                            "u = binascii.unhexlify\ngc.collect()\nf0 = gc.mem_free()\n"
                            "ed25519.verify(u(%r), u(%r), u(%r))\nprint(f0 - gc.mem_free())" % vec["verify"][0])
        print("qemu-m3: one Ed25519 verify takes %d ms (QEMU time), leaves %s bytes of garbage" % (ms, mem.strip()))
    finally:
        b.stop()
