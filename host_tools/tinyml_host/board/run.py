# Running a model on a board over its serial link, the one way for every board (the unix port, the
# emulated boards, real ones): the model is deployed first when missing or changed (only what
# changed is sent), inputs go over the wire as base64 in blocks to the device's tinyml.wire
# (device_lib/tinyml/wire.py), outputs come back the same way, and every time is measured on the board.
# The caller opens the link: connect() to a port, or to an emulated board the caller starts (start=).
import binascii
import re
import sys

import numpy as np

from tinyml_host.board import deploy as deploy_mod
from tinyml_host.board import ports
from tinyml_host.board.link import Link, LinkError
from tinyml_host.errors import TinymlError
from tinyml_host.model.source import model_source

BLOCK = 3072          # input bytes per command (4 KB of base64)
BACKENDS = ("native", "viper", "python")
NP_DTYPE = {1: np.int8, 2: np.int32, 3: np.uint8, 4: np.int16, 5: np.float32}
IMPORT_WIRE = "import sys\nif '/lib' not in sys.path:\n    sys.path.append('/lib')\nfrom tinyml import wire as _w\n"
IMPORT_MEASURE = IMPORT_WIRE.replace("wire as _w", "measure as _w")


class InputError(TinymlError):
    """Input files that do not fit the model (count, type, shape)."""


def connect(board=None, port=None, baud=None, heap=None, start=None, clean=True):
    """Opens the link to a board: its port (given; an emulated board's pty, from start(name, heap),
    which the caller hands down; or a real board's from TINYML_PORT, the config file or its USB ids:
    ports.resolve_port). board and port None: the one attached USB board (discover.default_board); board
    None with a port: whatever board is there (its arch is read from the board). clean (the default):
    the board starts from a soft reset and is soft reset again when the link closes (Link.open), so
    no command meets what another left (a model, the deploy's helpers, a heap cut up by a Ctrl-C).
    Returns (link, board profile or None)."""
    from tinyml_host.board import profiles
    if board is None and port is None:  # as mpremote: the one attached USB board (board/discover.py)
        from tinyml_host.board import discover
        prof, port = discover.default_board(say=lambda m: print(m, file=sys.stderr))
        return Link.open(port, baud or (prof.baud if prof else 115200), clean=clean), prof
    prof = profiles.load(board) if board else None
    if port is None:
        if prof is None:
            raise LinkError("give --board (a board profile) or --port (the board's serial port)")
        if prof.emulated:
            if start is None:
                raise LinkError("%s is an emulated board: start it (tinyml board start %s) and give its --port"
                                % (prof.name, prof.name))
            port = start(prof.name, heap)
        else:
            port = ports.resolve_port(board=prof, say=lambda m: print(m, file=sys.stderr))
    return Link.open(port, baud or (prof.baud if prof else 115200), clean=clean), prof


def model_info(model):
    """(tml bytes, inputs, outputs, ops) of a .tml or .tflite path (or a ModelSource)."""
    m = model_source(model)
    return m.data, m.inputs, m.outputs, m.ops


def prepare(link, board, model, out=None, app=None):
    """Deploys tinyml and the model (only what changed); returns the model's path on the board."""
    m = model_source(model)
    deploy_mod.deploy(link, board, model=m, app=app, out=out)
    return m.remote


def run_model(link, remote, inputs, in_tensors, out_tensors, backend=None, window=-1, block=BLOCK, progress=None):
    """Runs every case of inputs (one array (N, *shape) per model input) on the board, through the
    device's tinyml.wire; returns (outputs [(N, *shape) arrays], info: backend, µs per inference
    (measured on the board), notes)."""
    n = len(inputs[0])
    notes = []
    head = {}

    def on_line(line):
        if line.startswith("M "):
            head["backend"], head["free"] = line.split()[1], int(line.split()[2])
        elif line.startswith("tinyml:"):
            notes.append(line)

    link.soft_reset()  # a fresh heap: the model's big blocks fit where the deploy's garbage was
    link.exec(IMPORT_WIRE + "_w.load(%r, %r, %r, %d, %d)" % (remote, backend, window, len(in_tensors),
                                                               len(out_tensors)), on_line=on_line)
    # RAM: each command's text (while it compiles), its bytes and their decoded copy must each find
    # one free block beside the model, and a loaded model leaves the heap in pieces (qemu-m3 with
    # person_detect: 25 KB free, the largest free block 2 KB): blocks of free/40 bytes
    block = max(192, min(block, head.get("free", 1 << 20) // 40)) // 3 * 3
    case_bytes = sum(t.nbytes for t in in_tensors)
    flat = [np.ascontiguousarray(x).reshape(n, -1).view(np.uint8) for x in inputs]
    outs = [[] for _ in out_tensors]
    got = []

    def collect(line):
        if line.startswith("O "):
            got.append(binascii.a2b_base64(line[2:]))
        elif line.startswith("tinyml:"):
            notes.append(line)

    def take():
        for j in range(0, len(got), len(out_tensors)):
            for k, t in enumerate(out_tensors):
                outs[k].append(np.frombuffer(got[j + k], NP_DTYPE.get(t.dtype, np.int8)))
        got.clear()

    done = 0
    while done < n:
        if case_bytes <= block:
            m = max(1, min(n - done, block // max(case_bytes, 1)))
            data = b"".join(f[c].tobytes() for c in range(done, done + m) for f in flat)
            link.exec("_w.run(b'%s', %d)" % (binascii.b2a_base64(data, newline=False).decode(), m), on_line=collect)
        else:
            m = 1
            for k, f in enumerate(flat):
                row = f[done].tobytes()
                for at in range(0, len(row), block):
                    link.exec("_w.part(%d, %d, b'%s')" % (k, at, binascii.b2a_base64(row[at:at + block], newline=False).decode()))
            link.exec("_w.go()", on_line=collect)
        take()
        done += m
        if progress:
            progress(done, n)
    t = link.exec("_w.done()").split()
    cases, us = int(t[1]), int(t[2])
    if cases != n or any(len(o) != n for o in outs):
        raise LinkError("the board ran %d of %d cases" % (cases, n))
    ys = [np.stack(o).reshape((n,) + tuple(t.shape)) for o, t in zip(outs, out_tensors)]
    return ys, {"backend": head.get("backend"), "us_per_inference": us / max(n, 1), "notes": notes}


def _load_npy(path, t):
    """One --input file as an array of at least one case, or InputError saying what it is instead."""
    fix = ("save the cases with numpy: np.save(%r, x) with x of shape (N, %s)"
           % (str(path), ", ".join(map(str, t.shape))))
    try:
        with open(path, "rb") as f:
            head = f.read(6)
        x = np.load(path, allow_pickle=False)
    except OSError as e:
        raise InputError("--input %s cannot be read (%s)" % (path, e.strerror or e), fix=fix)
    except ValueError as e:
        what = ("a text file" if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head)
                else "empty" if not head else "not a .npy file (it starts with %r, not b'\\x93NUMPY')" % head)
        raise InputError("--input %s is %s, not a NumPy .npy array (%s)" % (path, what, str(e).split("\n")[0]),
                         fix=fix)
    if not isinstance(x, np.ndarray):
        raise InputError("--input %s is a .npz archive, not one .npy array" % path, fix=fix)
    if x.ndim == 0 or len(x) == 0:
        raise InputError("--input %s holds %s, no case to run (its shape is %s)"
                         % (path, "a single number" if x.ndim == 0 else "0 cases", x.shape), fix=fix)
    return x


def load_inputs(paths, in_tensors):
    if len(paths) != len(in_tensors):
        raise InputError("the model has %d input(s) (%s); give one --input each, in that order"
                        % (len(in_tensors), ", ".join(t.name for t in in_tensors)))
    xs = []
    for path, t in zip(paths, in_tensors):
        x = _load_npy(path, t)
        want = NP_DTYPE.get(t.dtype, np.int8)
        if x.dtype != want:
            raise InputError("%s holds %s; the model's input '%s' takes %s (quantize with scale %g and zero "
                            "point %d)" % (path, x.dtype, t.name, np.dtype(want).name, t.scale, t.zero_point))
        if tuple(x.shape[1:]) != tuple(t.shape):
            if x.ndim >= 1 and int(np.prod(x.shape[1:])) == int(np.prod(t.shape)):
                x = x.reshape((len(x),) + tuple(t.shape))
            else:
                raise InputError("%s has shape %s; expected (N, %s) for input '%s'"
                                % (path, x.shape, ", ".join(map(str, t.shape)), t.name))
        xs.append(x)
    if len({len(x) for x in xs}) != 1:
        raise InputError("the --input files hold different numbers of cases: %s" % [len(x) for x in xs])
    return xs


def _fmt(arr, k=8):
    v = np.asarray(arr).reshape(-1)
    s = " ".join(str(int(x)) if np.issubdtype(v.dtype, np.integer) else "%.4g" % x for x in v[:k])
    return s + (" ..." if len(v) > k else "")


def verify_rows(ours, ref):
    """(case, ours text, TFLM text, match) per case, over all outputs."""
    rows = []
    for c in range(len(ours[0])):
        ok = all(np.array_equal(np.asarray(o[c]).reshape(-1), np.asarray(r[c]).reshape(-1)) for o, r in zip(ours, ref))
        rows.append((c, " | ".join(_fmt(o[c]) for o in ours), " | ".join(_fmt(r[c]) for r in ref), ok))
    return rows


def bench_on_board(link, remote, backends, window=-1, seconds=1.0, repeat=100, first_backend=None, board=None):
    """The model's RAM and per-op times on the board, then µs per inference of each backend (for at
    most `seconds` and `repeat` runs). Returns (printed lines, the LinkError that stopped it or None).
    board: its profile, whose [emulator] bench_setup (code) runs first (qemu-esp32: IRAM check off)."""
    printed = []
    link.soft_reset()
    setup = ((board.emulator or {}) if board else {}).get("bench_setup")
    if setup:
        link.exec(setup)
    link.exec(IMPORT_MEASURE + "_w.bench_setup(%r, %r, %r)" % (remote, first_backend, window), on_line=printed.append)
    for name in backends:
        try:
            link.exec("_w.bench(%r, %d, %d)" % (name, int(seconds * 1e6), repeat), on_line=printed.append)
        except LinkError as e:  # the board crashed or hung in this backend: report what was measured
            printed.append("B %s failed" % name)
            return printed, e
    return printed, None


FOOTPRINT = re.compile(r"tinyml-footprint backend=(\w+) load=(\d+) peak=(-?\d+) arena=(\d+) window=(\d+)")
OP_ROW = re.compile(r"tinyml-op (\d+) us=(\d+) heap=(-?\d+)")


def profiles_emulator(where):
    """The [emulator] table of the board profile named `where` (None: not an emulated board's name)."""
    from tinyml_host.board import profiles
    try:
        return profiles.load(where).emulator
    except profiles.BoardError:
        return None


def _instruction_clock(where):
    """ns of board time per instruction when the board named `where` is an emulator that counts
    instructions (its profile's [emulator] icount = shift: 2**shift ns each), else None."""
    emu = profiles_emulator(where) or {}
    return 2 ** emu["icount"] if "icount" in emu else None


def _macs(m):
    from tinyml import tmlfile
    from tinyml.model import op_macs
    tensors, ops, _, _ = tmlfile.parse(m.data, str(m.path))
    return sum(op_macs(op, tensors) for op in ops)


def bench_report(m, where, printed):
    """Prints what bench_on_board measured of ModelSource m on the board called `where`."""
    from tinyml import ops as op_table
    text = "\n".join(printed)
    f = FOOTPRINT.search(text)
    if not f:
        raise LinkError("the board did not report its memory use; it printed:\n%s" % text)
    print("%s on %s: per layer, %s backend (one inference; heap = gc.mem_alloc() after the op, above what "
          "was in use before loading)" % (m.path.name, where, f.group(1)))
    print("  %3s  %-18s %10s %10s" % ("#", "op", "us", "heap"))
    by_index = {op.index: op for op in m.ops}
    total = 0
    for idx, us, heap in OP_ROW.findall(text):
        op = by_index.get(int(idx))
        total += int(us)
        print("  %3s  %-18s %10s %10s" % (idx, op_table.name(op.opcode) if op else "?", us, heap))
    print("  %3s  %-18s %10d" % ("", "total", total))
    load, peak, arena, window = (int(f.group(i)) for i in range(2, 6))
    print("RAM on the board: loaded %d bytes (activation arena %d, weight window %d, interpreter %d); "
          "peak during one inference %d bytes" % (load, arena, window, load - arena - window, peak))
    print("us per inference, measured on the board:")
    counted = _instruction_clock(where)
    macs = _macs(m) if counted else 0
    for line in printed:
        if line.startswith("B "):
            parts = line.split()
            if parts[2] == "skip":
                print("  %-8s not available: %s" % (parts[1], " ".join(parts[3:])))
            elif parts[2] == "failed":
                print("  %-8s failed: see below" % parts[1])
            elif parts[2] == "memory":
                print("  %-8s out of memory on this board (%s; %s bytes free after it): try --window 2048, "
                      "or a board with more RAM" % (parts[1], " ".join(parts[4:]), parts[3]))
            else:
                n, t = int(parts[2]), int(parts[3])
                per_mac = ""
                if counted and macs:
                    per_mac = ", %.1f instructions per MAC" % (t / n * 1000 / counted / macs)
                print("  %-8s %12.1f   (%d runs)%s" % (parts[1], t / n, n, per_mac))
    if counted:
        print("  (%s counts instructions: QEMU -icount, %d ns of board time per instruction; %d MACs per "
              "inference. Published ESP32 figures, cycles per MAC: TFLite Micro's reference kernels "
              "about 137, with ESP-NN about 13)" % (where, counted, macs))
        setup = (profiles_emulator(where) or {}).get("bench_setup")
        if setup:
            print("  (timed after the board's bench_setup: %s)" % setup.replace("\n", "; "))
    for line in printed:
        if line.startswith("tinyml:"):
            print(line)
