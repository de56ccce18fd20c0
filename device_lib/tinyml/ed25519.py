# Ed25519 signature verification (RFC 8032, section 5.1.7) in MicroPython: verify only, for signed
# model updates (tinyml.ota). Field and scalar arithmetic on Python ints (MicroPython's arbitrary
# precision ints: the unix port, and boards built with MICROPY_LONGINT_IMPL_MPZ); SHA-512 from
# tinyml.sha512. Not constant-time: it handles public data only (a public key, a signature, a message).
#   verify(public_key_32_bytes, message, signature_64_bytes) -> True / False
# Strict as OpenSSL and libsodium: S must be below the group order, the public key and R must be
# canonical encodings, and the check is [S]B == R + [k]A on the encodings (cofactorless).
from tinyml.sha512 import sha512

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
D2 = (2 * D) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

# The base point, in extended coordinates (X, Y, Z, T), x*y = T/Z.
_BY = (4 * pow(5, P - 2, P)) % P
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
B = (_BX, _BY, 1, (_BX * _BY) % P)
IDENTITY = (0, 1, 1, 0)


def _add(p, q):
    # add-2008-hwcd-3 (a = -1): 8 multiplications
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = ((y1 - x1) * (y2 - x2)) % P
    b = ((y1 + x1) * (y2 + x2)) % P
    c = (t1 * D2 * t2) % P
    d = (2 * z1 * z2) % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return ((e * f) % P, (g * h) % P, (f * g) % P, (e * h) % P)


def _double(p):
    # dbl-2008-hwcd (a = -1): 4 multiplications, 4 squarings
    x1, y1, z1, _ = p
    a = (x1 * x1) % P
    b = (y1 * y1) % P
    c = (2 * z1 * z1) % P
    h = a + b
    s = x1 + y1
    e = h - (s * s) % P
    g = a - b
    f = c + g
    return ((e * f) % P, (g * h) % P, (f * g) % P, (e * h) % P)


def _neg(p):
    x, y, z, t = p
    return ((-x) % P, y, z, (-t) % P)


def encode(p):
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x = (x * zi) % P
    y = (y * zi) % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode(s):
    """The point a 32-byte encoding names, or None (not on the curve, or not canonical)."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    yy = (y * y) % P
    u = (yy - 1) % P
    v = (D * yy + 1) % P
    # x = sqrt(u / v) = u v^3 (u v^7)^((p-5)/8)
    v3 = (v * v * v) % P
    x = (u * v3 * pow((u * v3 * v3 * v) % P, (P - 5) // 8, P)) % P
    vxx = (v * x * x) % P
    if vxx != u:
        if vxx != (-u) % P:
            return None
        x = (x * SQRT_M1) % P
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = P - x
    return (x, y, 1, (x * y) % P)


def _double_scalarmult(a, p, b, q):
    # [a]p + [b]q, both scalars below L < 2^253, sharing the doublings (Straus-Shamir)
    pq = _add(p, q)
    r = IDENTITY
    for i in range(252, -1, -1):
        r = _double(r)
        ba = (a >> i) & 1
        bb = (b >> i) & 1
        if ba and bb:
            r = _add(r, pq)
        elif ba:
            r = _add(r, p)
        elif bb:
            r = _add(r, q)
    return r


def verify(public_key, message, signature):
    """True when signature (64 bytes) is public_key's (32 bytes) Ed25519 signature of message."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = decode(bytes(public_key))
    if a is None:
        return False
    r_enc = bytes(signature[:32])
    if decode(r_enc) is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = sha512(r_enc)
    h.update(bytes(public_key))
    h.update(message)
    k = int.from_bytes(h.digest(), "little") % L
    # [S]B - [k]A must be R
    return encode(_double_scalarmult(s, B, k, _neg(a))) == r_enc
