# Ed25519 key pairs for signed updates, with PyPI's `cryptography`: the private key as PKCS#8 PEM
# (KEY, readable by the owner only), the public key as SubjectPublicKeyInfo PEM (KEY.pub). The board
# keeps the raw 32 bytes of the public key (/ota/key.pub), installed over serial by the first push.
import os
import pathlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tinyml_host.ota.errors import OtaError


def keygen(path):
    """Writes a new key pair: `path` (private) and `path`.pub; returns both paths."""
    path = pathlib.Path(path)
    pub = path.with_name(path.name + ".pub")
    for p in (path, pub):
        if p.exists():
            raise OtaError("%s exists: a key is not overwritten (a board trusting it would refuse every "
                           "update signed by a new one); choose another name or delete it yourself" % p)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return path, pub


def load_private(path):
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as e:
        raise OtaError("cannot read the private key %s: %s" % (path, e.strerror)) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise OtaError("%s is not an unencrypted PEM private key (%s): make one with `tinyml ota keygen -o KEY`"
                       % (path, e)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise OtaError("%s is not an Ed25519 key: make one with `tinyml ota keygen -o KEY`" % path)
    return key


def public_raw(path):
    """The 32 raw bytes of a public key file (PEM from keygen, or the 32 bytes themselves)."""
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as e:
        raise OtaError("cannot read the public key %s: %s" % (path, e.strerror)) from None
    if len(data) == 32:
        return data
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as e:
        raise OtaError("%s is not a PEM public key (%s): use the KEY.pub that `tinyml ota keygen` wrote"
                       % (path, e)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise OtaError("%s is not an Ed25519 public key" % path)
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def raw_of(private):
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verify(pub_raw, message, signature):
    try:
        Ed25519PublicKey.from_public_bytes(pub_raw).verify(signature, message)
        return True
    except InvalidSignature:
        return False
