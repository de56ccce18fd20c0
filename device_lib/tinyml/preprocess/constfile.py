# Constant files: named typed arrays in one small binary file that the device reads with struct
# (e.g. models/micro_speech/frontend.bin, written on the host by an export script).
#   header: b"TMLC", u16 version (1), u16 number of entries
#   entry:  u8 name length, name (ascii), u8 typecode (array: b B h H i I f), u32 count,
#           then count little-endian items, padded with zeros to a multiple of 4 bytes
import struct
from array import array

MAGIC = b"TMLC"
VERSION = 1
SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "f": 4}


class ConstFileError(ValueError):
    pass


def load(path):
    """Reads a constant file (a path, or its bytes) into a dict of name -> array."""
    if isinstance(path, (bytes, bytearray)):
        data = path
    else:
        with open(path, "rb") as f:
            data = f.read()
    if len(data) < 8 or data[:4] != MAGIC:
        raise ConstFileError("%s: not a tinyml constant file (no TMLC header)" % path)
    version, count = struct.unpack_from("<HH", data, 4)
    if version != VERSION:
        raise ConstFileError("%s: constant file version %d; this tinyml reads version %d"
                             % (path, version, VERSION))
    at = 8
    out = {}
    for _ in range(count):
        n = data[at]
        name = str(data[at + 1:at + 1 + n], "ascii")
        at += 1 + n
        code = chr(data[at])
        items = struct.unpack_from("<I", data, at + 1)[0]
        at += 5
        if code not in SIZES:
            raise ConstFileError("%s: entry %s has unknown type %r" % (path, name, code))
        nbytes = items * SIZES[code]
        if at + nbytes > len(data):
            raise ConstFileError("%s: entry %s runs past the end of the file" % (path, name))
        a = array(code, bytes(data[at:at + nbytes]))  # all MicroPython targets are little-endian
        at += (nbytes + 3) & ~3
        out[name] = a
    return out


def dumps(entries):
    """The bytes of a constant file for entries: (name, typecode, sequence of numbers) in order."""
    parts = [MAGIC, struct.pack("<HH", VERSION, len(entries))]
    for name, code, values in entries:
        if code not in SIZES:
            raise ConstFileError("entry %s: unknown type %r" % (name, code))
        raw = struct.pack("<%d%s" % (len(values), code), *values)
        name = name.encode("ascii") if isinstance(name, str) else name
        parts.append(struct.pack("<B", len(name)) + name + struct.pack("<BI", ord(code), len(values)))
        parts.append(raw + bytes(-len(raw) % 4))
    return b"".join(parts)
