# A signed update bundle (`tinyml ota bundle`): one file a board can take over serial or pull over
# HTTP with byte ranges.
#
#   offset 0   8 bytes   magic b"TMLOTA\x00\x01"
#          8   u32 LE    n: the manifest's length
#         12   n bytes   the manifest (UTF-8 JSON)
#     12 + n   64 bytes  Ed25519 signature of the manifest's bytes
#     76 + n   ...       the files, back to back, each at its manifest "offset" (from here)
#
# The manifest: {"format": 1, "product": id, "seq": n (only goes up), "runtime": the lowest tinyml
# version that can run it, "abi": the .mpy ABI its .mpy files need (null: none), "model": its file,
# "files": [{"name", "size", "sha256", "offset"}], "golden": {"file", "cases", "inputs", "outputs"}
# (golden.bin holds per case the input bytes, then the output bytes TFLM gives for them), "budget":
# {"us": worst inference µs, "heap": free heap bytes after loading} (null: unchecked), "ref": the
# input's reference statistics (monitoring's drift check)}. The board checks the signature before it
# uses anything, then every file against its size and SHA-256.
import hashlib
import json
import os
import pathlib
import struct

import numpy as np

from tinyml_host.ota import keys
from tinyml_host.ota.errors import OtaError

MAGIC = b"TMLOTA\x00\x01"
HEAD = 12
SIG = 64
FORMAT = 1
NP_DTYPE = {1: np.int8, 2: np.int32, 3: np.uint8, 4: np.int16, 5: np.float32}


class Bundle:
    """A bundle read back: manifest (dict), raw (its bytes), sig, files {name: bytes}, data_start."""

    def __init__(self, manifest, raw, sig, files, data_start):
        self.manifest = manifest
        self.raw = raw
        self.sig = sig
        self.files = files
        self.data_start = data_start

    @property
    def seq(self):
        return self.manifest["seq"]


def runtime_version():
    import tinyml
    return tinyml.__version__


def golden(model, tml, cases=8, inputs=None, seed=0):
    """(golden.bin bytes, its description, int8-input statistics) for the model: `cases` random
    inputs (or the given arrays, one per model input, (N, ...)), through TFLM."""
    from tinyml import tmlfile
    from tinyml_host.oracle import tflm
    tensors, _, in_ids, out_ids = tmlfile.parse(tml, str(model))
    ins = [tensors[i] for i in in_ids]
    if inputs is None:
        rng = np.random.default_rng(seed)
        inputs = []
        for t in ins:
            dt = NP_DTYPE[t.dtype]
            n = t.nbytes // np.dtype(dt).itemsize
            if dt == np.float32:
                inputs.append(rng.standard_normal((cases, n)).astype(dt))
            else:
                info = np.iinfo(dt)
                inputs.append(rng.integers(info.min, info.max + 1, (cases, n), dtype=dt))
    xs = []
    for t, x in zip(ins, inputs):
        x = np.asarray(x)
        dt = NP_DTYPE[t.dtype]
        if x.dtype != dt:
            raise OtaError("golden input for %s is %s; the model takes %s" % (t.name, x.dtype, np.dtype(dt)))
        xs.append(np.ascontiguousarray(x).reshape(len(x), -1))
    n = len(xs[0])
    shaped = [x.reshape((n,) + tuple(int(d) for d in t.shape)) if t.shape else x for t, x in zip(ins, xs)]
    ys = tflm.tflm_run(str(model), shaped)
    blob = bytearray()
    for c in range(n):
        for x in xs:
            blob += x[c].tobytes()
        for y in ys:
            blob += np.ascontiguousarray(y[c]).tobytes()
    desc = {"file": "golden.bin", "cases": n, "inputs": [int(x[0].nbytes) for x in xs],
            "outputs": [int(np.asarray(y[0]).nbytes) for y in ys]}
    ref = None
    if ins and ins[0].dtype == 1:  # sampled as tinyml.monitor samples: every stride-th byte
        v = xs[0][:, ::max(1, xs[0].shape[1] // 256)].astype(np.float64)
        ref = {"mean": round(float(v.mean()), 4), "var": round(float(v.var()), 4), "n": int(v.size)}
    return bytes(blob), desc, ref


def plan(model, seq, product="tinyml", app=(), tflite=None, cases=8, inputs=None, max_us=None,
         min_free=None, abi=None, runtime=None):
    """The manifest (dict, without offsets) and the files [(name, bytes)] of a bundle for MODEL
    (.tflite, converted here; or .tml with `tflite` its source, for TFLM's golden outputs)."""
    if not isinstance(seq, int) or seq < 1:
        raise OtaError("--seq must be a whole number from 1 up (each update's above the last)")
    model = pathlib.Path(model)
    if model.suffix == ".tflite":
        from tinyml_host.model.convert import convert
        tml, src, name = convert(str(model)), model, model.stem + ".tml"
    elif model.suffix == ".tml":
        if tflite is None:
            raise OtaError("%s is a .tml: give --tflite SOURCE.tflite too (its golden outputs come from TFLM), "
                           "or bundle the .tflite itself" % model)
        tml, src, name = model.read_bytes(), pathlib.Path(tflite), model.name
    else:
        raise OtaError("%s: give a .tflite (or a .tml with --tflite)" % model)
    blob, gdesc, ref = golden(src, tml, cases, inputs)
    from tinyml import tmlfile
    ref = (tmlfile.metadata(tml) or {}).get("input_ref") or ref  # the converter's, from calibration data
    files = [(name, tml), ("golden.bin", blob)]
    for a in app or ():
        a = pathlib.Path(a)
        files.append((a.name, a.read_bytes()))
    names = [n for n, _ in files]
    if len(set(names)) != len(names):
        raise OtaError("two files of the bundle have the same name: %s" % ", ".join(names))
    if abi is None and any(n.endswith(".mpy") for n in names):
        from tinyml_host.board.deploy import ABI
        abi = ABI
    manifest = {"format": FORMAT, "product": product, "seq": seq, "runtime": runtime or runtime_version(),
                "abi": abi, "model": name, "files": [], "golden": gdesc,
                "budget": {"us": max_us, "heap": min_free}, "ref": ref}
    return manifest, files


def pack(manifest, files, private_key):
    """The bundle's bytes: the manifest (offsets and hashes filled in from files) signed by the key."""
    m = dict(manifest)
    m["files"] = []
    at = 0
    for name, data in files:
        m["files"].append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "offset": at})
        at += len(data)
    return pack_raw(json.dumps(m, separators=(",", ":"), sort_keys=True).encode(), files, private_key)


def pack_raw(raw, files, private_key, sig=None):
    sig = private_key.sign(raw) if sig is None else sig
    return MAGIC + struct.pack("<I", len(raw)) + raw + sig + b"".join(d for _, d in files)


def build(model, key, seq, out, **kw):
    """`tinyml ota bundle`: writes the bundle to `out` (via a temporary name); returns its Bundle."""
    manifest, files = plan(model, seq, **kw)
    data = pack(manifest, files, keys.load_private(key))
    tmp = str(out) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)
    return read(data, str(out))


def read(data, name="bundle"):
    """A Bundle from its bytes (a path is read), checked for shape (not for its signature)."""
    if isinstance(data, (str, os.PathLike)):
        name = str(data)
        try:
            data = pathlib.Path(data).read_bytes()
        except OSError as e:
            raise OtaError("cannot read %s: %s" % (data, e.strerror)) from None
    if data[:8] != MAGIC:
        raise OtaError("%s is not a tinyml update bundle (make one with `tinyml ota bundle`)" % name)
    n = struct.unpack_from("<I", data, 8)[0]
    if HEAD + n + SIG > len(data):
        raise OtaError("%s is cut short (its manifest says %d bytes)" % (name, n))
    raw = data[HEAD:HEAD + n]
    sig = data[HEAD + n:HEAD + n + SIG]
    try:
        m = json.loads(raw)
    except ValueError:
        raise OtaError("%s: its manifest is not JSON" % name) from None
    start = HEAD + n + SIG
    files = {}
    for f in m.get("files", ()):
        a = start + f["offset"]
        if a + f["size"] > len(data):
            raise OtaError("%s is cut short: %s does not fit" % (name, f["name"]))
        files[f["name"]] = data[a:a + f["size"]]
    return Bundle(m, raw, sig, files, start)
