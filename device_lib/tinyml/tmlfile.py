# Reader of the .tml model format (docs/model-format.md): header, tensor table and op table.
# A model is read from bytes in RAM (constants are memoryview slices: nothing is copied) or from an
# open file (only the tables are read; constants are fetched by offset when an op needs them).
import struct
from array import array
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
    end = off
    while buf[end]:
        end += 1
    return str(bytes(buf[off:end]), "utf-8")


class Records:
    """A table of the file, each record decoded when asked for: hundreds of tensors cost the
    bytes of their table in the file, not an object each."""

    def __init__(self, n, decode):
        self._n = n
        self._decode = decode

    def __len__(self):
        return self._n

    def __getitem__(self, i):
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._decode(i)

    def __iter__(self):
        for i in range(self._n):
            yield self._decode(i)


def _parse_tables(read, fields, what):
    """The model's tables; read(offset, n) gives n bytes of the file (a slice of it in RAM, or a read
    from it), so a streamed model keeps no copy of its tables, only the file."""
    _, _, size, _, n_t, n_op, n_in, n_out, t_off, op_off = fields
    ios = struct.unpack("<%dH" % (n_in + n_out), read(HEADER_SIZE, 2 * (n_in + n_out)))
    names = {}
    for i in ios:
        off = struct.unpack("<I", read(t_off + i * TENSOR_RECORD + 20, 4))[0]
        names[i] = _name_at(read(off, min(256, size - off)), 0) if off else ""

    def tensor(i):
        rec = read(t_off + i * TENSOR_RECORD, TENSOR_RECORD)
        dtype, ndim, flags, doff, nbytes, zp, scale = struct.unpack_from("<BBHIIif", rec, 0)
        return Tensor(i, dtype, struct.unpack_from("<%di" % ndim, rec, 24), bool(flags & FLAG_CONST),
                      doff, nbytes, zp, scale, names.get(i, ""))

    op_at = array("I", bytes(4 * n_op))  # op records vary in size: where each starts
    o = op_off
    for i in range(n_op):
        op_at[i] = o
        _, ni, no, np_ = struct.unpack("<BBBB", read(o, 4))
        o += 4 + ((2 * (ni + no) + 3) & ~3) + 4 * np_

    def op(i):
        o = op_at[i]
        opcode, ni, no, np_ = struct.unpack("<BBBB", read(o, 4))
        at = 4 + ((2 * (ni + no) + 3) & ~3)
        rec = read(o, at + 4 * np_)
        idx = struct.unpack_from("<%dH" % (ni + no), rec, 4)
        return Op(i, opcode, idx[:ni], idx[ni:], struct.unpack_from("<%di" % np_, rec, at))

    tensors = Records(n_t, tensor)
    for t in tensors:
        if t.const and t.offset + t.nbytes > size:
            raise ModelFileError("%s: tensor %d lies outside the file" % (what, t.index))
    return tensors, Records(n_op, op), ios[:n_in], ios[n_in:]


def parse(buf, what="model", check=True):
    """Checks (unless check is False: already done) and parses a whole .tml file held in buf.
    Returns (tensors, ops, input indices, output indices); constants are at const_view(buf, t)."""
    fields = check_header(buf, len(buf), what)
    if check:
        _check_crc(fields[3], _crc32(memoryview(buf)[16:]), what)
    mv = memoryview(buf)
    return _parse_tables(lambda off, n: mv[off:off + n], fields, what)


def const_view(buf, t):
    """The bytes of constant tensor t, a slice of the model held in buf: no copy."""
    return memoryview(buf)[t.offset:t.offset + t.nbytes]


META_MAGIC = b"TMLJ"


def metadata(source):
    """The optional metadata trailer of a .tml file (a path, an open binary file, or its bytes): the
    dict it holds (e.g. "input_ref": the int8 input's reference statistics), or None when it has none.
    Only the file's last bytes are read."""
    import json
    if isinstance(source, str):
        with open(source, "rb") as f:
            return metadata(f)
    if hasattr(source, "seek"):
        size = source.seek(0, 2)
        if size < HEADER_SIZE + 8:
            return None
        source.seek(size - 8)
        tail = source.read(8)
        n = struct.unpack("<I", tail[:4])[0]
        if tail[4:] != META_MAGIC or n > size - HEADER_SIZE - 8:
            return None
        source.seek(size - 8 - n)
        raw = source.read(n)
    else:
        size = len(source)
        if size < HEADER_SIZE + 8 or bytes(source[size - 4:]) != META_MAGIC:
            return None
        n = struct.unpack("<I", bytes(source[size - 8:size - 4]))[0]
        if n > size - HEADER_SIZE - 8:
            return None
        raw = bytes(source[size - 8 - n:size - 8])
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def parse_file(f, what="model", check=True, chunk=1024):
    """Checks a .tml file open in binary mode (its CRC read through a small buffer) and parses its
    tables, which stay in the file: records are read when asked for, as constants are."""
    size = f.seek(0, 2)
    f.seek(0)
    fields = check_header(f.read(HEADER_SIZE), size, what)
    if check:
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

    def read(off, n):
        f.seek(off)
        return f.read(n)

    return _parse_tables(read, fields, what)
