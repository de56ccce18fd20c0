# Writer of the .tml model format; docs/model-format.md is the spec, and the device's reader
# (device_lib/tinyml/tmlfile.py) follows the same page.
import struct
import zlib

import numpy as np

MAGIC = b"TMLM"
VERSION = 2  # 2: conv_2d weights interleaved in runs of 4 output channels
HEADER_SIZE = 32
TENSOR_RECORD = 40
DTYPES = {np.dtype(np.int8): 1, np.dtype(np.int32): 2, np.dtype(np.uint8): 3,
          np.dtype(np.int16): 4, np.dtype(np.float32): 5, np.dtype(np.int64): 6}
FLAG_CONST = 1
FLAG_VARIABLE = 2  # a stateful op's state: kept across runs, reset to its zero point (docs/model-format.md)


class TmlTensor:
    def __init__(self, name, dtype, shape, data=None, scale=0.0, zero_point=0, variable=False):
        self.name = name
        self.variable = variable
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(d) for d in shape)
        self.data = None if data is None else np.ascontiguousarray(data, dtype=self.dtype).reshape(self.shape)
        self.scale = float(scale)
        self.zero_point = int(zero_point)
        if len(self.shape) > 4:
            raise ValueError("tensor %s has %d dimensions; .tml holds at most 4" % (name, len(self.shape)))

    @property
    def nbytes(self):
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


class TmlOp:
    def __init__(self, opcode, inputs, outputs, params=()):
        self.opcode = opcode
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.params = [int(p) for p in params]


def _pad4(b):
    return b + bytes(-len(b) % 4)


META_MAGIC = b"TMLJ"


def metadata_trailer(meta):
    """The optional metadata trailer (docs/model-format.md): JSON, its u32 length, b"TMLJ"."""
    import json
    raw = json.dumps(meta, separators=(",", ":"), sort_keys=True).encode()
    return raw + struct.pack("<I", len(raw)) + META_MAGIC


def write_tml(tensors, ops, inputs, outputs, meta=None):
    """Returns the bytes of a .tml file holding these tensors (TmlTensor) and ops (TmlOp); meta: a
    dict for the optional metadata trailer (e.g. {"input_ref": ...}), inside file_size and the CRC."""
    head = _pad4(struct.pack("<%dH" % (len(inputs) + len(outputs)), *inputs, *outputs))
    t_off = HEADER_SIZE + len(head)
    op_blob = b"".join(
        struct.pack("<BBBB", op.opcode, len(op.inputs), len(op.outputs), len(op.params))
        + _pad4(struct.pack("<%dH" % (len(op.inputs) + len(op.outputs)), *op.inputs, *op.outputs))
        + struct.pack("<%di" % len(op.params), *op.params)
        for op in ops)
    op_off = t_off + TENSOR_RECORD * len(tensors)
    # Constant data after the op table, 4-byte aligned; then the names, which the device reads
    # only for the model's inputs and outputs (so a streaming reader never loads the rest).
    pos = op_off + len(op_blob)
    data = bytearray()
    data_at = []
    for t in tensors:
        if t.data is None:
            data_at.append(0)
            continue
        data_at.append(pos + len(data))
        data += _pad4(t.data.astype(t.data.dtype.newbyteorder("<")).tobytes())
    pos += len(data)
    names = bytearray()
    name_at = []
    for t in tensors:
        name_at.append(pos + len(names) if t.name else 0)
        if t.name:
            names += t.name.encode() + b"\0"
    records = b"".join(
        struct.pack("<BBHIIifI", DTYPES[t.dtype], len(t.shape),
                    FLAG_CONST if t.data is not None else FLAG_VARIABLE if t.variable else 0,
                    data_at[i], t.nbytes, t.zero_point, t.scale, name_at[i])
        + struct.pack("<4i", *(list(t.shape) + [0] * (4 - len(t.shape))))
        for i, t in enumerate(tensors))
    body = head + records + op_blob + bytes(data) + bytes(names) + (metadata_trailer(meta) if meta else b"")
    size = HEADER_SIZE + len(body)
    tail = struct.pack("<HHHHII", len(tensors), len(ops), len(inputs), len(outputs), t_off, op_off) + body
    return MAGIC + struct.pack("<HHII", VERSION, HEADER_SIZE, size, zlib.crc32(tail)) + tail
