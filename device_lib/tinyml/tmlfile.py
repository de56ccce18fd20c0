# Reader of the .tml model format (docs/model-format.md): header, tensor table and op table.
# A model is read from bytes in RAM (constants are memoryview slices: nothing is copied) or from an
# open file (only the tables are read; constants are fetched by offset when an op needs them).
import struct
from array import array
from collections import namedtuple

MAGIC = b"TMLM"
VERSION = 2  # 2: conv_2d weights interleaved in runs of 4 output channels
HEADER_SIZE = 32
TENSOR_RECORD = 40
DTYPE_SIZE = {1: 1, 2: 4, 3: 1, 4: 2, 5: 4, 6: 8}
DTYPE_NAME = {1: "int8", 2: "int32", 3: "uint8", 4: "int16", 5: "float32", 6: "int64"}
FLAG_CONST = 1
FLAG_VARIABLE = 2  # a stateful op's state (SVDF, LSTM): kept across runs, reset to its zero point


class ModelFileError(ValueError):
    pass


# One per tensor, kept small (a tuple): a model may have hundreds. Only the model's inputs and
# outputs carry their names; the others are "" (the names stay in the file).
Tensor = namedtuple("Tensor", ("index", "dtype", "shape", "const", "offset", "nbytes", "zero_point",
                               "scale", "name", "variable"))
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


MAX_DIM = 65535  # a dimension of a tensor
MAX_NBYTES = 1 << 24  # a tensor's bytes: more than any microcontroller's RAM or flash holds for one


def _bad(what, record, msg):
    raise ModelFileError("%s: %s: %s; the file is damaged or was not written by 'tinyml convert': "
                         "convert the model again" % (what, record, msg))


def check_header(head, size, what):
    """Checks the 32-byte header against the file's size; returns its fields. The tables' places
    are fixed by the counts (docs/model-format.md), so no field outside the CRC can move them."""
    if size < HEADER_SIZE:
        raise ModelFileError("%s: %d bytes is too short for a .tml model (header is %d bytes); "
                             "the file is truncated: copy it again" % (what, size, HEADER_SIZE))
    if bytes(head[0:4]) != MAGIC:
        raise ModelFileError("%s: not a .tml model (starts with %r, expected %r); "
                             "convert .tflite files with 'tinyml convert'" % (what, bytes(head[0:4]), MAGIC))
    fields = struct.unpack_from("<HHIIHHHHII", head, 4)
    version, header_size, want, _, n_t, n_op, n_in, n_out, t_off, op_off = fields
    if version != VERSION:
        raise ModelFileError("%s: .tml version %d, this tinyml reads version %d; convert the model "
                             "again with the tinyml that matches this device library" % (what, version, VERSION))
    if size != want:
        raise ModelFileError("%s: file is %d bytes but its header says %d: the file is %s; copy it again"
                             % (what, size, want, "truncated" if size < want else "too long"))
    if header_size != HEADER_SIZE:
        _bad(what, "header", "header_size %d, version %d's is %d" % (header_size, VERSION, HEADER_SIZE))
    if not n_t or not n_op or not n_in or not n_out:
        _bad(what, "header", "%d tensors, %d ops, %d inputs, %d outputs: a model has at least one of each"
             % (n_t, n_op, n_in, n_out))
    if t_off != HEADER_SIZE + ((2 * (n_in + n_out) + 3) & ~3):
        _bad(what, "header", "tensors_offset %d, expected %d (right after the input and output indices)"
             % (t_off, HEADER_SIZE + ((2 * (n_in + n_out) + 3) & ~3)))
    if op_off != t_off + TENSOR_RECORD * n_t:
        _bad(what, "header", "ops_offset %d, expected %d (right after %d tensor records)"
             % (op_off, t_off + TENSOR_RECORD * n_t, n_t))
    if op_off + 4 * n_op > size:
        _bad(what, "header", "the tables end at %d or later, past the end of the file (%d bytes)"
             % (op_off + 4 * n_op, size))
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


def _name(read, off, size, end, what, i):
    """The name at off (a tensor's name field), checked: after the tables, inside the file, UTF-8."""
    if not off:
        return ""
    if not end <= off < size:
        _bad(what, "tensor %d" % i, "name at %d, outside the names (%d..%d)" % (off, end, size))
    raw = bytes(read(off, min(256, size - off)))
    n = raw.find(b"\0")
    if n < 0:
        _bad(what, "tensor %d" % i, "name at %d has no end within 256 bytes" % off)
    try:
        return str(raw[:n], "utf-8")
    except UnicodeError:
        _bad(what, "tensor %d" % i, "name at %d is not UTF-8" % off)


def _check_tensor(t, rec, end, size, what):
    """Each field of one tensor record in range, by itself and against the file."""
    dtype, ndim, flags = rec[0], rec[1], rec[2] | rec[3] << 8
    where = "tensor %d" % t.index
    if dtype not in DTYPE_SIZE:
        _bad(what, where, "dtype %d is none of %s" % (dtype, ", ".join(str(k) for k in sorted(DTYPE_SIZE))))
    if flags & ~(FLAG_CONST | FLAG_VARIABLE) or flags == FLAG_CONST | FLAG_VARIABLE:
        _bad(what, where, "flags 0x%x: bit 0 (constant) or bit 1 (variable), no other, not both" % flags)
    dims = struct.unpack_from("<4i", rec, 24)
    n = DTYPE_SIZE[dtype]
    for k in range(4):
        d = dims[k]
        if k < ndim and not 1 <= d <= MAX_DIM:
            _bad(what, where, "dims[%d] %d out of range 1..%d" % (k, d, MAX_DIM))
        if k >= ndim and d:
            _bad(what, where, "dims[%d] %d beyond its ndim %d (must be 0)" % (k, d, ndim))
        if k < ndim:
            n *= d
            if n > MAX_NBYTES:
                _bad(what, where, "shape %s is over %d bytes" % ("x".join(str(d) for d in dims[:ndim]), MAX_NBYTES))
    if t.nbytes != n:
        _bad(what, where, "nbytes %d, but %s of shape %s is %d bytes" % (
            t.nbytes, DTYPE_NAME[dtype], "x".join(str(d) for d in dims[:ndim]) or "scalar", n))
    if t.const:
        if t.offset & 3 or not end <= t.offset <= size - t.nbytes:
            _bad(what, where, "data_offset %d: constant data must be 4-byte aligned, after the tables (%d) and "
                 "inside the file (%d bytes)" % (t.offset, end, size))
    elif t.offset:
        _bad(what, where, "data_offset %d on an activation (must be 0)" % t.offset)


def _parse_tables(read, fields, what, check=True):
    """The model's tables; read(offset, n) gives n bytes of the file (a slice of it in RAM, or a read
    from it), so a streamed model keeps no copy of its tables, only the file. With check, every
    record's fields are checked by themselves and against the file, and unless check is "records",
    the ops against the op table and each other (tinyml/validate.py; else check_ops, later)."""
    _, _, size, _, n_t, n_op, n_in, n_out, t_off, op_off = fields
    ios = struct.unpack("<%dH" % (n_in + n_out), read(HEADER_SIZE, 2 * (n_in + n_out)))
    op_at = array("I", bytes(4 * n_op))  # op records vary in size: where each starts
    o = op_off
    for i in range(n_op):
        op_at[i] = o
        if check and o + 4 > size:
            _bad(what, "op %d" % i, "record at %d lies past the end of the file" % o)
        _, ni, no, np_ = struct.unpack("<BBBB", read(o, 4))
        o += 4 + ((2 * (ni + no) + 3) & ~3) + 4 * np_
        if check and o > size:
            _bad(what, "op %d" % i, "record of %d inputs, %d outputs, %d parameters ends past the end of the "
                 "file" % (ni, no, np_))
    end = o  # the tables end here: constant data and names come after
    names = {}
    for k, i in enumerate(ios):
        if i >= n_t:
            _bad(what, "header", "%s %d is tensor %d, of %d" % ("input" if k < n_in else "output",
                 k if k < n_in else k - n_in, i, n_t))
        if i not in names:
            off = struct.unpack("<I", read(t_off + i * TENSOR_RECORD + 20, 4))[0]
            names[i] = _name(read, off, size, end, what, i) if check else _name_at(read(off, min(256, size - off)), 0) if off else ""

    def tensor(i):
        rec = read(t_off + i * TENSOR_RECORD, TENSOR_RECORD)
        dtype, ndim, flags, doff, nbytes, zp, scale = struct.unpack_from("<BBHIIif", rec, 0)
        return Tensor(i, dtype, struct.unpack_from("<%di" % min(ndim, 4), rec, 24), bool(flags & FLAG_CONST),
                      doff, nbytes, zp, scale, names.get(i, ""), bool(flags & FLAG_VARIABLE))

    def op(i):
        o = op_at[i]
        opcode, ni, no, np_ = struct.unpack("<BBBB", read(o, 4))
        at = 4 + ((2 * (ni + no) + 3) & ~3)
        rec = read(o, at + 4 * np_)
        idx = struct.unpack_from("<%dH" % (ni + no), rec, 4)
        return Op(i, opcode, idx[:ni], idx[ni:], struct.unpack_from("<%di" % np_, rec, at))

    tensors = Records(n_t, tensor)
    tables = tensors, Records(n_op, op), ios[:n_in], ios[n_in:]
    if check:
        for i in range(n_t):
            rec = read(t_off + i * TENSOR_RECORD, TENSOR_RECORD)
            if rec[1] > 4:
                _bad(what, "tensor %d" % i, "ndim %d out of range 0..4" % rec[1])
            _check_tensor(tensor(i), rec, end, size, what)
        if check != "records":
            _validate(tables, read, what)
    return tables


def check_ops(source, tables, what="model"):
    """The ops of tables parsed from source (the file's bytes, or the file open in binary mode)
    against the op table and each other (tinyml/validate.py); raises ModelFileError."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        mv = memoryview(source)

        def read(off, n):
            return mv[off:off + n]
    else:
        def read(off, n):
            source.seek(off)
            return source.read(n)
    _validate(tables, read, what)


def _validate(tables, read, what):
    """The ops against the op table and each other (tinyml/validate.py): its code is imported for
    the check and leaves the heap again."""
    import sys
    from tinyml import validate
    try:
        validate.model(*tables, read, what, ModelFileError)
    finally:
        validate = None
        pkg = sys.modules.get("tinyml")  # its attribute would keep the module alive (no import: no circle)
        for name in ("validate", "validate_more", "validate_recurrent"):
            sys.modules.pop("tinyml." + name, None)
            if pkg is not None and name in pkg.__dict__:
                delattr(pkg, name)


def parse(buf, what="model", check=True):
    """Checks (unless check is False: already done) and parses a whole .tml file held in buf.
    Returns (tensors, ops, input indices, output indices); constants are at const_view(buf, t)."""
    fields = check_header(buf, len(buf), what)
    if check:
        _check_crc(fields[3], _crc32(memoryview(buf)[16:]), what)
    mv = memoryview(buf)
    return _parse_tables(lambda off, n: mv[off:off + n], fields, what, check)


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

    return _parse_tables(read, fields, what, check)
