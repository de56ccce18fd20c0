# Reader of the .tml model format (docs/model-format.md): header, tensor table and op table.
# Constant tensors are memoryview slices of the file's bytes: nothing is copied.
import struct

MAGIC = b"TMLM"
VERSION = 1
HEADER_SIZE = 32
TENSOR_RECORD = 40
DTYPE_SIZE = {1: 1, 2: 4, 3: 1, 4: 2, 5: 4}
DTYPE_NAME = {1: "int8", 2: "int32", 3: "uint8", 4: "int16", 5: "float32"}
FLAG_CONST = 1


class ModelFileError(ValueError):
    pass


class Tensor:
    def __init__(self, index, dtype, shape, const, nbytes, zero_point, scale, name, data):
        self.index = index
        self.dtype = dtype
        self.shape = shape
        self.const = const
        self.nbytes = nbytes
        self.zero_point = zero_point
        self.scale = scale
        self.name = name
        self.data = data  # memoryview for constants, set to an arena slice for activations

    def __repr__(self):
        return "<Tensor %d %s %s %s>" % (self.index, self.name, DTYPE_NAME.get(self.dtype), self.shape)


class Op:
    def __init__(self, index, opcode, inputs, outputs, params):
        self.index = index
        self.opcode = opcode
        self.inputs = inputs
        self.outputs = outputs
        self.params = params


def _crc32(data):
    try:
        from binascii import crc32
    except ImportError:
        crc32 = None
    if crc32 is not None:
        return crc32(data) & 0xFFFFFFFF
    crc = 0xFFFFFFFF  # ports built without binascii.crc32: bitwise CRC-32, slow but right
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _name_at(buf, off):
    if not off:
        return ""
    end = off
    while buf[end]:
        end += 1
    return str(bytes(buf[off:end]), "utf-8")


def parse(buf, what="model"):
    """Checks and parses a whole .tml file held in buf (bytes or bytearray).
    Returns (tensors, ops, input indices, output indices)."""
    if len(buf) < HEADER_SIZE:
        raise ModelFileError("%s: %d bytes is too short for a .tml model (header is %d bytes); "
                             "the file is truncated: copy it again" % (what, len(buf), HEADER_SIZE))
    if bytes(buf[0:4]) != MAGIC:
        raise ModelFileError("%s: not a .tml model (starts with %r, expected %r); "
                             "convert .tflite files with 'tinyml convert'" % (what, bytes(buf[0:4]), MAGIC))
    version, hsize, size, crc, n_t, n_op, n_in, n_out, t_off, op_off = struct.unpack_from(
        "<HHIIHHHHII", buf, 4)
    if version != VERSION:
        raise ModelFileError("%s: .tml version %d, this tinyml reads version %d; convert the model "
                             "again with the tinyml that matches this device library" % (what, version, VERSION))
    if size != len(buf):
        raise ModelFileError("%s: file is %d bytes but its header says %d: the file is %s; copy it again"
                             % (what, len(buf), size, "truncated" if len(buf) < size else "too long"))
    got = _crc32(memoryview(buf)[16:])
    if got != crc:
        raise ModelFileError("%s: checksum mismatch (file %08x, computed %08x): the file is corrupted; "
                             "copy or convert it again" % (what, crc, got))
    ios = struct.unpack_from("<%dH" % (n_in + n_out), buf, HEADER_SIZE)
    mv = memoryview(buf)
    tensors = []
    for i in range(n_t):
        o = t_off + i * TENSOR_RECORD
        dtype, ndim, flags, doff, nbytes, zp, scale, name = struct.unpack_from("<BBHIIifI", buf, o)
        shape = struct.unpack_from("<%di" % ndim, buf, o + 24)
        const = bool(flags & FLAG_CONST)
        if const and doff + nbytes > size:
            raise ModelFileError("%s: tensor %d lies outside the file" % (what, i))
        data = mv[doff:doff + nbytes] if const else None
        tensors.append(Tensor(i, dtype, shape, const, nbytes, zp, scale, _name_at(buf, name), data))
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
