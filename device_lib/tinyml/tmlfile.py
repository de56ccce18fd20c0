# Reader of the .tml model format (docs/model-format.md): header, tensor table and op table.
# A model is read from bytes in RAM (constants are memoryview slices: nothing is copied) or from an
# open file (only the tables are read; constants are fetched by offset when an op needs them).
import struct
from collections import namedtuple

MAGIC = b"TMLM"
VERSION = 1
HEADER_SIZE = 32
TENSOR_RECORD = 40
DTYPE_SIZE = {1: 1, 2: 4, 3: 1, 4: 2, 5: 4}
DTYPE_NAME = {1: "int8", 2: "int32", 3: "uint8", 4: "int16", 5: "float32"}
FLAG_CONST = 1


class ModelFileError(ValueError):
    pass


# One per tensor, kept small (a tuple): a model may have hundreds. Only the model's inputs and
# outputs carry their names; the others are "" (the names stay in the file).
Tensor = namedtuple("Tensor", ("index", "dtype", "shape", "const", "offset", "nbytes", "zero_point",
                               "scale", "name"))
Op = namedtuple("Op", ("index", "opcode", "inputs", "outputs", "params"))


try:
    from binascii import crc32 as _crc32
except ImportError:  # ports built without binascii.crc32: bitwise CRC-32, slow but right
    def _crc32(data, crc=0):
        crc ^= 0xFFFFFFFF
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
        return crc ^ 0xFFFFFFFF


def check_header(head, size, what):
    """Checks the 32-byte header against the file's size; returns its fields."""
    if size < HEADER_SIZE:
        raise ModelFileError("%s: %d bytes is too short for a .tml model (header is %d bytes); "
                             "the file is truncated: copy it again" % (what, size, HEADER_SIZE))
    if bytes(head[0:4]) != MAGIC:
        raise ModelFileError("%s: not a .tml model (starts with %r, expected %r); "
                             "convert .tflite files with 'tinyml convert'" % (what, bytes(head[0:4]), MAGIC))
    fields = struct.unpack_from("<HHIIHHHHII", head, 4)
    version, _, want = fields[:3]
    if version != VERSION:
        raise ModelFileError("%s: .tml version %d, this tinyml reads version %d; convert the model "
                             "again with the tinyml that matches this device library" % (what, version, VERSION))
    if size != want:
        raise ModelFileError("%s: file is %d bytes but its header says %d: the file is %s; copy it again"
                             % (what, size, want, "truncated" if size < want else "too long"))
    return fields


def _check_crc(crc, got, what):
    if got & 0xFFFFFFFF != crc:
        raise ModelFileError("%s: checksum mismatch (file %08x, computed %08x): the file is corrupted; "
                             "copy or convert it again" % (what, crc, got & 0xFFFFFFFF))


def _name_at(buf, off):
    if not off:
        return ""
    end = off
    while buf[end]:
        end += 1
    return str(bytes(buf[off:end]), "utf-8")


def _parse_tables(buf, fields, what):
    _, _, size, _, n_t, n_op, n_in, n_out, t_off, op_off = fields
    ios = struct.unpack_from("<%dH" % (n_in + n_out), buf, HEADER_SIZE)
    named = set(ios)
    tensors = []
    for i in range(n_t):
        o = t_off + i * TENSOR_RECORD
        dtype, ndim, flags, doff, nbytes, zp, scale, name = struct.unpack_from("<BBHIIifI", buf, o)
        const = bool(flags & FLAG_CONST)
        if const and doff + nbytes > size:
            raise ModelFileError("%s: tensor %d lies outside the file" % (what, i))
        shape = struct.unpack_from("<%di" % ndim, buf, o + 24)
        tensors.append(Tensor(i, dtype, shape, const, doff, nbytes, zp, scale,
                              _name_at(buf, name) if i in named else ""))
    ops = []
    o = op_off
    for i in range(n_op):
        opcode, ni, no, np_ = struct.unpack_from("<BBBB", buf, o)
        idx = struct.unpack_from("<%dH" % (ni + no), buf, o + 4)
        o += 4 + ((2 * (ni + no) + 3) & ~3)
        params = struct.unpack_from("<%di" % np_, buf, o)
        o += 4 * np_
        ops.append(Op(i, opcode, idx[:ni], idx[ni:], params))
    return tensors, ops, ios[:n_in], ios[n_in:]


def parse(buf, what="model"):
    """Checks and parses a whole .tml file held in buf (bytes or bytearray).
    Returns (tensors, ops, input indices, output indices); constants are at const_view(buf, t)."""
    fields = check_header(buf, len(buf), what)
    _check_crc(fields[3], _crc32(memoryview(buf)[16:]), what)
    return _parse_tables(buf, fields, what)


def const_view(buf, t):
    """The bytes of constant tensor t, a slice of the model held in buf: no copy."""
    return memoryview(buf)[t.offset:t.offset + t.nbytes]


def parse_file(f, what="model", chunk=1024):
    """Checks a .tml file open in binary mode (its CRC read through a small buffer) and parses its
    tables; constants are read from f by offset when needed. Returns what parse() does."""
    size = f.seek(0, 2)
    f.seek(0)
    head = f.read(HEADER_SIZE)
    fields = check_header(head, size, what)
    f.seek(16)
    crc = 0
    buf = bytearray(chunk)
    mv = memoryview(buf)
    while True:
        n = f.readinto(buf)
        if not n:
            break
        crc = _crc32(mv[:n], crc)
    _check_crc(fields[3], crc, what)
    # The tables and names lie between the header and the first constant's data.
    t_off, n_t = fields[8], fields[4]
    f.seek(t_off)
    table = f.read(TENSOR_RECORD * n_t)
    starts = [size]
    for i in range(n_t):
        flags, doff = struct.unpack_from("<HI", table, i * TENSOR_RECORD + 2)
        if flags & FLAG_CONST:
            starts.append(doff)
    f.seek(0)
    meta = f.read(min(starts))
    return _parse_tables(meta, fields, what)
