# `tinyml run | verify | bench MODEL --board BOARD [--port PORT]` over a board's serial link: the
# model is deployed first when missing or changed (only what changed is sent), inputs go over the
# wire as base64 in blocks, outputs come back the same way, and every time is measured on the board.
#
# Wire protocol of a run (raw REPL, after RUN_SETUP has loaded the model into `_tr_m`):
#   _tr_run(b'<base64 of n whole cases>', n)   small cases, several per command
#   _tr_in(k, offset, b'<base64>') ... _tr_go()  a case bigger than a block, in pieces
# and the board prints per case one line 'O <base64>' per output, then 'T <cases> <µs>' at the end.
import binascii
import os
import pathlib
import re
import sys

import numpy as np

from tinyml_host.board import deploy as deploy_mod
from tinyml_host.board import ports
from tinyml_host.board.link import Link, LinkError

BLOCK = 3072          # input bytes per command (4 KB of base64)
BACKENDS = ("native", "viper", "python")
NP_DTYPE = {1: np.int8, 2: np.int32, 3: np.uint8, 4: np.int16, 5: np.float32}


def _board(name):
    from tinyml_host.board import profiles as boards
    return boards.load(name)


def connect(board=None, port=None, baud=None, heap=None):
    """Opens the link to a board: its port (given, an emulated board's pty started or reused, or a
    real board's from TINYML_PORT, the config file or its USB ids: ports.resolve_port). board None:
    the unix board, or with a port whatever board is there (its arch is read from the board).
    Returns (link, board profile or None)."""
    if board is None and port is None:
        board = "unix"
    prof = _board(board) if board else None
    if port is None:
        if prof is None:
            raise LinkError("give --board (a board profile) or --port (the board's serial port)")
        if prof.emulated:
            from tinyml_host.emulators import supervisor as emulators
            port = emulators.start(prof.name, heap)
        else:
            try:
                port = ports.resolve_port(board=prof, say=lambda m: print(m, file=sys.stderr))
            except ports.PortError as e:
                raise LinkError(str(e)) from None
    return Link.open(port, baud or (prof.baud if prof else 115200)), prof


def model_info(model):
    """(tml bytes, inputs, outputs, ops) of a .tml or .tflite path."""
    from tinyml import tmlfile
    data, _ = deploy_mod.model_bytes(model)
    tensors, ops, ins, outs = tmlfile.parse(data, str(model))
    return data, [tensors[i] for i in ins], [tensors[i] for i in outs], ops


def prepare(link, board, model, out=None, app=None):
    """Deploys tinyml and the model (only what changed); returns the model's path on the board."""
    deploy_mod.deploy(link, board, model=model, app=app, out=out)
    return deploy_mod.model_remote(model)


RUN_SETUP = """
import sys, gc, binascii
if '/lib' not in sys.path:
    sys.path.append('/lib')
import tinyml
from time import ticks_us, ticks_diff
_tr_m = None
gc.collect()
_tr_m = tinyml.load(%(path)r, %(backend)r%(window)s)
_tr_t = 0
_tr_n = 0
gc.collect()
print('M', _tr_m.backend, gc.mem_free())
def _tr_out():
    for k in range(%(nout)d):
        print('O', binascii.b2a_base64(_tr_m.output_buffer(k)).decode().strip())
def _tr_go():
    global _tr_t, _tr_n
    t0 = ticks_us()
    _tr_m.invoke()
    _tr_t += ticks_diff(ticks_us(), t0)
    _tr_n += 1
    _tr_out()
def _tr_in(k, at, b):
    d = binascii.a2b_base64(b)
    _tr_m.input_buffer(k)[at:at + len(d)] = d
def _tr_run(b, n):
    d = memoryview(binascii.a2b_base64(b))
    at = 0
    for _ in range(n):
        for k in range(%(nin)d):
            buf = _tr_m.input_buffer(k)
            buf[:] = d[at:at + len(buf)]
            at += len(buf)
        _tr_go()
"""


def run_model(link, remote, inputs, in_tensors, out_tensors, backend=None, window=-1, block=BLOCK, progress=None):
    """Runs every case of inputs (one array (N, *shape) per model input) on the board; returns
    (outputs [(N, *shape) arrays], info: backend, µs per inference (measured on the board), notes)."""
    n = len(inputs[0])
    notes = []
    head = {}

    def on_line(line):
        if line.startswith("M "):
            head["backend"], head["free"] = line.split()[1], int(line.split()[2])
        elif line.startswith("tinyml:"):
            notes.append(line)

    win = "" if window == -1 else ", window=%r" % (window,)
    link.soft_reset()  # a fresh heap: the model's big blocks fit where the deploy's garbage was
    link.exec(RUN_SETUP % {"path": remote, "backend": backend, "window": win, "nin": len(in_tensors),
                           "nout": len(out_tensors)}, on_line=on_line)
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
            link.exec("_tr_run(b'%s', %d)" % (binascii.b2a_base64(data, newline=False).decode(), m), on_line=collect)
        else:
            m = 1
            for k, f in enumerate(flat):
                row = f[done].tobytes()
                for at in range(0, len(row), block):
                    link.exec("_tr_in(%d, %d, b'%s')" % (k, at, binascii.b2a_base64(row[at:at + block], newline=False).decode()))
            link.exec("_tr_go()", on_line=collect)
        take()
        done += m
        if progress:
            progress(done, n)
    t = link.exec("print('T', _tr_n, _tr_t)\n_tr_m = None\nimport gc\ngc.collect()").split()
    cases, us = int(t[1]), int(t[2])
    if cases != n or any(len(o) != n for o in outs):
        raise LinkError("the board ran %d of %d cases" % (cases, n))
    ys = [np.stack(o).reshape((n,) + tuple(t.shape)) for o, t in zip(outs, out_tensors)]
    return ys, {"backend": head.get("backend"), "us_per_inference": us / max(n, 1), "notes": notes}


def load_inputs(paths, in_tensors):
    if len(paths) != len(in_tensors):
        raise LinkError("the model has %d input(s) (%s); give one --input each, in that order"
                        % (len(in_tensors), ", ".join(t.name for t in in_tensors)))
    xs = []
    for path, t in zip(paths, in_tensors):
        x = np.load(path)
        want = NP_DTYPE.get(t.dtype, np.int8)
        if x.dtype != want:
            raise LinkError("%s holds %s; the model's input '%s' takes %s (quantize with scale %g and zero "
                            "point %d)" % (path, x.dtype, t.name, np.dtype(want).name, t.scale, t.zero_point))
        if tuple(x.shape[1:]) != tuple(t.shape):
            if x.ndim >= 1 and int(np.prod(x.shape[1:])) == int(np.prod(t.shape)):
                x = x.reshape((len(x),) + tuple(t.shape))
            else:
                raise LinkError("%s has shape %s; expected (N, %s) for input '%s'"
                                % (path, x.shape, ", ".join(map(str, t.shape)), t.name))
        xs.append(x)
    if len({len(x) for x in xs}) != 1:
        raise LinkError("the --input files hold different numbers of cases: %s" % [len(x) for x in xs])
    return xs


def _session(a):
    link, prof = connect(a.board, a.port, getattr(a, "baud", None), getattr(a, "heap", None))
    return link, prof


def _interrupted(link):
    print("tinyml: interrupted: the code on the board was stopped and its REPL answers again", file=sys.stderr)
    raise SystemExit(130)


# ---------------------------------------------------------------- commands

def _run_inputs(a, xs, ins, outs):
    """Deploys a.model to the board when it is missing or changed, runs every case of xs there and
    prints what the board noted. Returns (outputs, info, where it ran)."""
    link, prof = _session(a)
    try:
        remote = prepare(link, prof, a.model)
        ys, info = run_model(link, remote, xs, ins, outs, a.backend, _window(a))
    except KeyboardInterrupt:
        _interrupted(link)
    finally:
        link.close()
    for note in info["notes"]:
        print(note)
    return ys, info, prof.name if prof else link.port


def cmd_run(a):
    _, ins, outs, _ = model_info(a.model)
    ys, info, where = _run_inputs(a, load_inputs(a.input, ins), ins, outs)
    for k, (y, t) in enumerate(zip(ys, outs)):
        path = a.output if k == 0 else "%s.%d.npy" % (a.output[:-4] if a.output.endswith(".npy") else a.output, k)
        np.save(path, y)
        print("wrote %s: %d outputs of shape %s" % (path, len(y), tuple(t.shape)))
    print("board %s, backend %s, %.1f us per inference (measured on the board)"
          % (where, info["backend"], info["us_per_inference"]))


def _window(a):
    w = getattr(a, "window", None)
    if w is None:
        return -1
    return None if str(w).lower() in ("none", "all") else int(w)


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


def cmd_verify(a):
    from tinyml_host.oracle import tflm
    if not str(a.model).endswith(".tflite"):
        raise LinkError("verify needs the .tflite model: TFLM runs it on this machine, and the board runs "
                        "its conversion")
    _, ins, outs, _ = model_info(a.model)
    xs = load_inputs(a.input, ins)
    ref = tflm.tflm_run(a.model, xs)
    ys, info, where = _run_inputs(a, xs, ins, outs)
    rows = verify_rows(ys, ref)
    w = max(12, max(len(r[1]) for r in rows))
    print("%6s  %-*s  %-*s  %s" % ("case", w, "ours", w, "TFLM", "match"))
    shown = rows if not getattr(a, "mismatches_only", False) else [r for r in rows if not r[3]]
    for c, o, r, ok in shown:
        print("%6d  %-*s  %-*s  %s" % (c, w, o, w, r, "yes" if ok else "NO"))
    bad = sum(1 for r in rows if not r[3])
    print("%d/%d cases match TFLM bit for bit on %s, backend %s, %.1f us per inference on the board"
          % (len(rows) - bad, len(rows), where, info["backend"], info["us_per_inference"]))
    if bad:
        print("tinyml: %d case(s) differ from TFLM" % bad, file=sys.stderr)
        raise SystemExit(1)


BENCH_CODE = """
import sys, gc
if '/lib' not in sys.path:
    sys.path.append('/lib')
import tinyml
from tinyml import batch, backends
from time import ticks_us, ticks_diff
try:
    batch.footprint(%(path)r, %(backend)r, %(window)r)
except MemoryError:
    # footprint's zero inputs are copies; on a tight heap measure with the input buffers in place
    gc.collect()
    backends.load(%(backend)r)
    gc.collect()
    _b = gc.mem_alloc()
    _m = tinyml.load(%(path)r, %(backend)r, %(window)r)
    gc.collect()
    _l = gc.mem_alloc() - _b
    _, _r, _p = _m.profile(*[_m.input_buffer(k) for k in range(len(_m.inputs))])
    print('tinyml-footprint backend=%%s load=%%d peak=%%d arena=%%d window=%%d' %% (
        _m.backend, _l, _p - _b, _m.arena_bytes, _m.window_bytes))
    for _i, _u, _h in _r:
        print('tinyml-op %%d us=%%d heap=%%d' %% (_i, _u, _h - _b))
    _m = _r = None
gc.collect()
def _tb(name, budget_us, most):
    try:
        backends.load(name)
    except ImportError as e:
        print('B', name, 'skip', str(e).replace('\\n', ' '))
        return
    m = None
    gc.collect()
    n = 0
    t = 0
    try:
        m = tinyml.load(%(path)r, name, %(window)r)
        m.invoke()
        while n < most and (n < 1 or t < budget_us):
            t0 = ticks_us()
            m.invoke()
            t += ticks_diff(ticks_us(), t0)
            n += 1
    except MemoryError as e:
        m = None
        gc.collect()
        print('B', name, 'memory', gc.mem_free(), str(e))
        return
    print('B', name, n, t)
    m = None
    gc.collect()
"""


def cmd_bench(a):
    from tinyml.model import OP_NAMES
    _, ins, outs, ops = model_info(a.model)
    chosen = [a.backend] if a.backend else list(BACKENDS)
    link, prof = _session(a)
    failed = None
    try:
        remote = prepare(link, prof, a.model)
        printed = []
        link.soft_reset()
        link.exec(BENCH_CODE % {"path": remote, "backend": a.backend, "window": _window(a)}, on_line=printed.append)
        for name in chosen:
            try:
                link.exec("_tb(%r, %d, %d)" % (name, int(a.seconds * 1e6), a.repeat), on_line=printed.append)
            except LinkError as e:  # the board crashed or hung in this backend: report what was measured
                printed.append("B %s failed" % name)
                failed = e
                break
    except KeyboardInterrupt:
        _interrupted(link)
    finally:
        link.close()
    text = "\n".join(printed)
    m = re.search(r"tinyml-footprint backend=(\w+) load=(\d+) peak=(-?\d+) arena=(\d+) window=(\d+)", text)
    if not m:
        raise LinkError("the board did not report its memory use; it printed:\n%s" % text)
    where = prof.name if prof else link.port
    print("%s on %s: per layer, %s backend (one inference; heap = gc.mem_alloc() after the op, above what "
          "was in use before loading)" % (pathlib.Path(a.model).name, where, m.group(1)))
    print("  %3s  %-18s %10s %10s" % ("#", "op", "us", "heap"))
    by_index = {op.index: op for op in ops}
    total = 0
    for idx, us, heap in re.findall(r"tinyml-op (\d+) us=(\d+) heap=(-?\d+)", text):
        op = by_index.get(int(idx))
        total += int(us)
        print("  %3s  %-18s %10s %10s" % (idx, OP_NAMES.get(op.opcode, op.opcode) if op else "?", us, heap))
    print("  %3s  %-18s %10d" % ("", "total", total))
    load, peak, arena, window = (int(m.group(i)) for i in range(2, 6))
    print("RAM on the board: loaded %d bytes (activation arena %d, weight window %d, interpreter %d); "
          "peak during one inference %d bytes" % (load, arena, window, load - arena - window, peak))
    print("us per inference, measured on the board:")
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
                print("  %-8s %12.1f   (%d runs)" % (parts[1], t / n, n))
    for line in printed:
        if line.startswith("tinyml:"):
            print(line)
    if failed:
        raise failed


def cmd_deploy(a):
    import tempfile
    from tinyml_host.apps.pipeline import app_files
    link, prof = _session(a)
    try:
        with tempfile.TemporaryDirectory(prefix="tinyml-deploy-") as tmp:
            apps = []
            for app in a.app or ():
                # an app (tinyml.app) brings its FILES and its MODEL; any other script goes alone
                for name, data in (app_files(app) if app.endswith(".py") else
                                   [(pathlib.Path(app).name, pathlib.Path(app).read_bytes())]):
                    apps.append(os.path.join(tmp, name))
                    pathlib.Path(apps[-1]).write_bytes(data)
            deploy_mod.deploy(link, prof, model=a.model, app=apps, tool=a.tool,
                              compress=False if a.no_compress else None)
    except KeyboardInterrupt:
        _interrupted(link)
    finally:
        link.close()


def cmd_repl(a):
    """mpremote's REPL on the board, once tinyml is deployed and imports."""
    from types import SimpleNamespace
    from mpremote.main import State
    from mpremote.repl import do_repl
    link, prof = _session(a)
    try:
        deploy_mod.deploy(link, prof, model=a.model, app=a.app or ())
        v = link.exec("import sys\nif '/lib' not in sys.path:\n    sys.path.append('/lib')\n"
                      "import tinyml\nfrom tinyml import backends\nprint(tinyml.__version__, backends.load()[0])").split()
        print("tinyml %s imports on the board; fastest backend there: %s" % (v[0], v[1]))
        if a.model:
            print("try: m = tinyml.load(%r); m.summary()" % deploy_mod.model_remote(a.model))
        link.friendly()
        state = State()
        state.transport = link.transport
        do_repl(state, SimpleNamespace(escape_non_printable=False, capture=None, inject_code=None, inject_file=None))
    except KeyboardInterrupt:
        _interrupted(link)
    finally:
        link.close()
