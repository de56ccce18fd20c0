"""The model-file fuzzer (issue 10): structure-aware mutations of converted .tml models, run on the
real MicroPython unix port per backend, or on a board over its serial link.

Each case changes one thing in a converted model: a field of the header, of a tensor record or of an
op record, one of an op's parameters, a value in a constant tensor, the file's length (truncated or
extended), or a few random bytes; then file_size and the CRC-32 are fixed, so only the loader's
validation can catch it. A case is (index, length, patches): the device (device_lib/programs/
fuzz_cases.py) patches its copy of the clean model and loads it, in RAM or streamed from a file
object, then runs one inference. Cases come from a seed, so a run is reproducible; a case that
crashes, hangs, corrupts memory or fails with another error than ModelFileError is written to a
file (`--save DIR`) that `--replay FILE` runs again.

Outcomes per case: ok (the change was harmless: a zero point, a weight), mfe (tinyml's
ModelFileError), native (the native module's ValueError naming its argument: acceptable), err
(any other error), crash (the process died: a signal), hang (no answer within the time limit),
corrupt (the clean model's output changed afterwards).

    python -m tinyml_host.apps.fuzz --cases 2000 --backend viper --seed 1 [--save DIR]
    python -m tinyml_host.apps.fuzz --replay DIR/case.json
"""
import argparse
import json
import os
import pathlib
import random
import select
import struct
import subprocess
import sys
import threading
import time
import zlib

from tinyml_host.paths import BUILD, DIST, SHARED_MODELS, device_program

MODELS = ("hello_world_int8", "mnist_valid_q", "micro_speech_quantized")
BACKENDS = ("native", "viper", "python")
KINDS = ("ok", "mfe", "native", "err", "crash", "hang", "corrupt")

HEADER = (("version", 4, "H"), ("header_size", 6, "H"), ("n_tensors", 16, "H"), ("n_ops", 18, "H"),
          ("n_inputs", 20, "H"), ("n_outputs", 22, "H"), ("tensors_offset", 24, "I"), ("ops_offset", 28, "I"))
TENSOR = (("dtype", 0, "B"), ("ndim", 1, "B"), ("flags", 2, "H"), ("data_offset", 4, "I"), ("nbytes", 8, "I"),
          ("zero_point", 12, "i"), ("scale", 16, "I"), ("name", 20, "I"), ("dims[0]", 24, "i"),
          ("dims[1]", 28, "i"), ("dims[2]", 32, "i"), ("dims[3]", 36, "i"))
BOUNDS = {"B": (0, 0xFF), "H": (0, 0xFFFF), "I": (0, 0xFFFFFFFF), "i": (-0x80000000, 0x7FFFFFFF)}


def model_paths():
    """The fuzzed models, from ../shared/models (as tests/test_models.py finds them)."""
    src = {"hello_world_int8": "tflm", "mnist_valid_q": "tinymaix", "micro_speech_quantized": "tflm"}
    return {name: SHARED_MODELS / src[name] / (name + ".tflite") for name in MODELS}


class Layout:
    """Where each record and field of a clean .tml file is."""

    def __init__(self, data):
        self.data = bytes(data)
        (self.n_t, self.n_op, self.n_in, self.n_out, self.t_off,
         self.op_off) = struct.unpack_from("<HHHHII", data, 16)
        self.ops = []  # (offset, opcode, n_in, n_out, n_params, params offset)
        o = self.op_off
        for _ in range(self.n_op):
            opcode, ni, no, np_ = struct.unpack_from("<BBBB", data, o)
            at = o + 4 + ((2 * (ni + no) + 3) & ~3)
            self.ops.append((o, opcode, ni, no, np_, at))
            o = at + 4 * np_
        self.consts = []  # (tensor index, offset, nbytes)
        for i in range(self.n_t):
            flags, off, nbytes = struct.unpack_from("<HII", data, self.t_off + 40 * i + 2)
            if flags & 1:
                self.consts.append((i, off, nbytes))


def _value(rng, old, fmt, choices=()):
    lo, hi = BOUNDS[fmt]
    pool = [0, 1, 2, 3, 4, 255, 256, 65535, 65536, 1 << 20, 0x7FFFFFFF, old + 1, old - 1, old * 2, old // 2,
            old ^ (1 << rng.randrange(8 * struct.calcsize(fmt))), rng.randint(lo, hi), rng.randint(0, 300), -1,
            -128, 127, -0x80000000]
    pool += list(choices) * 4
    for _ in range(50):
        v = rng.choice(pool)
        if fmt != "i":
            v &= hi
        if lo <= v <= hi and v != old:
            return v
    return old ^ 1


def mutate(lay, rng, opcodes):
    """One mutation of a clean model: (what it changed, length, [(offset, bytes)])."""
    data = lay.data
    r = rng.random()
    size = len(data)
    if r < 0.10:
        name, off, fmt = rng.choice(HEADER)
        old = struct.unpack_from("<" + fmt, data, off)[0]
        v = _value(rng, old, fmt)
        what, patch = "header %s %d -> %d" % (name, old, v), [(off, struct.pack("<" + fmt, v))]
    elif r < 0.13:
        k = rng.randrange(lay.n_in + lay.n_out)
        off = 32 + 2 * k
        old = struct.unpack_from("<H", data, off)[0]
        v = _value(rng, old, "H", range(lay.n_t))
        what, patch = "io index %d %d -> %d" % (k, old, v), [(off, struct.pack("<H", v))]
    elif r < 0.40:
        i = rng.randrange(lay.n_t)
        name, foff, fmt = rng.choice(TENSOR)
        off = lay.t_off + 40 * i + foff
        old = struct.unpack_from("<" + fmt, data, off)[0]
        v = _value(rng, old, fmt)
        what, patch = "tensor %d %s %d -> %d" % (i, name, old, v), [(off, struct.pack("<" + fmt, v))]
    elif r < 0.80:
        k = rng.randrange(lay.n_op)
        o, opcode, ni, no, np_, at = lay.ops[k]
        s = rng.random()
        if s < 0.15:
            v = _value(rng, opcode, "B", opcodes)
            what, patch = "op %d opcode %d -> %d" % (k, opcode, v), [(o, bytes([v]))]
        elif s < 0.25:
            j = rng.randrange(1, 4)
            old = data[o + j]
            v = _value(rng, old, "B")
            what, patch = "op %d %s %d -> %d" % (k, ("n_in", "n_out", "n_params")[j - 1], old, v), [(o + j, bytes([v]))]
        elif s < 0.50 or not np_:
            j = rng.randrange(ni + no)
            off = o + 4 + 2 * j
            old = struct.unpack_from("<H", data, off)[0]
            v = _value(rng, old, "H", range(lay.n_t))
            what, patch = "op %d index %d %d -> %d" % (k, j, old, v), [(off, struct.pack("<H", v))]
        else:
            j = rng.randrange(np_)
            old = struct.unpack_from("<i", data, at + 4 * j)[0]
            v = _value(rng, old, "i")
            what, patch = "op %d param %d %d -> %d" % (k, j, old, v), [(at + 4 * j, struct.pack("<i", v))]
    elif r < 0.88 and lay.consts:
        i, off, nbytes = rng.choice(lay.consts)
        at = off + 4 * rng.randrange(max(1, nbytes // 4)) if nbytes >= 4 else off
        old = struct.unpack_from("<i", data, at)[0] if at + 4 <= len(data) else 0
        v = _value(rng, old, "i")
        what, patch = "tensor %d data at %d %d -> %d" % (i, at, old, v), [(at, struct.pack("<i", v))]
    elif r < 0.94:
        size = rng.choice((rng.randrange(32, len(data)), rng.randrange(32, 200), len(data) + rng.randrange(1, 64)))
        what, patch = "length %d -> %d" % (len(data), size), []
    else:
        n = rng.randrange(1, 9)
        off = rng.randrange(16, len(data) - n)
        b = bytes(rng.randrange(256) for _ in range(n))
        what, patch = "%d random bytes at %d" % (n, off), [(off, b)]
    return fixed(data, what, size, patch)


def fixed(data, what, size, patch):
    """A case: the patches to data (and its new length), with file_size and the CRC-32 made right."""
    buf = bytearray(data[:size]) + bytearray(max(0, size - len(data)))
    for off, b in patch:
        buf[off:off + len(b)] = b
    fix = struct.pack("<II", size, zlib.crc32(bytes(buf[16:])))
    return what, size, patch + [(8, fix)]


def reproducers(tmls):
    """Issue 10's reproducers, each one field of a converted model changed and the CRC fixed:
    {name: (model name, case)}; tmls: {model name: path of its .tml}."""
    out = {}

    def add(name, model, what, off, fmt, old, new):
        data = pathlib.Path(tmls[model]).read_bytes()
        have = struct.unpack_from("<" + fmt, data, off)[0]
        if have != old:
            raise RuntimeError("%s: %s is %d in this conversion, not %d" % (model, what, have, old))
        out[name] = (model, fixed(data, "%s %d -> %d" % (what, old, new), len(data), [(off, struct.pack("<" + fmt, new))]))

    def lay(model):
        return Layout(pathlib.Path(tmls[model]).read_bytes())

    add("conv_as_depthwise", "mnist_valid_q", "op 0 opcode", lay("mnist_valid_q").ops[0][0], "B", 3, 4)
    hello = lay("hello_world_int8")
    add("huge_dim", "hello_world_int8", "tensor 1 dims[1]", hello.t_off + 40 + 28, "i", 1, 1048576)
    speech = lay("micro_speech_quantized")
    add("wrong_channels", "micro_speech_quantized", "tensor 6 dims[3]", speech.t_off + 40 * 6 + 36, "i", 8, 256)
    add("short_nbytes", "micro_speech_quantized", "tensor 6 nbytes", speech.t_off + 40 * 6 + 8, "I", 4000, 31)
    softmax = [o for o in speech.ops if o[1] == 25][0]
    add("softmax_as_concat", "micro_speech_quantized", "op %d opcode" % speech.ops.index(softmax), softmax[0],
        "B", 25, 2)
    add("header_size", "hello_world_int8", "header header_size", 6, "H", 32, 64)
    return out


def cases(data, n, seed, opcodes):
    """n reproducible mutations of the clean model data: [(what, length, patches)]."""
    rng = random.Random(seed)
    lay = Layout(data)
    return [mutate(lay, rng, opcodes) for _ in range(n)]


def case_line(i, case):
    _, size, patches = case
    return "%d %d %s\n" % (i, size, " ".join("%d:%s" % (off, b.hex()) for off, b in patches))


def classify(said, backend):
    """The kind of a device's answer line (after 'fz <i> ')."""
    kind, _, rest = said.partition(" ")
    if kind == "corrupt":
        return "corrupt"
    if kind == "err" and backend == "native" and rest.startswith("ValueError "):
        return "native"
    return kind if kind in KINDS else "err"


def run_unix(model_path, backend, batch, timeout=10.0, heap=None, lib=None):
    """Runs the cases (index, case) on the real unix port, many per process: a new process after a
    crash or a hang. Returns {index: (kind, said)}. lib: another device library directory to fuzz
    (e.g. an older tinyml's, for a before/after figure), as source."""
    from tinyml_host.board import unix as board_unix
    prelude = board_unix.prelude() if lib is None else (
        "import sys\nsys.path[:0] = [%r]\ntry:\n    from tinyml import backends as _b\n"
        "    sys.path.insert(1, %r + '/%%s_%%s' %% _b.cpu())\nexcept ImportError:\n    pass\n" % (str(lib), str(DIST)))
    program = prelude + device_program("fuzz_cases") + "fuzz_serve(%r, %r)\n" % (str(model_path), backend)
    todo = list(batch)
    out = {}
    while todo:
        cmd = [board_unix.micropython_path()] + (["-X", "heapsize=%s" % heap] if heap else []) + [
            "-c", program]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        current, lines = None, b""
        try:
            _await(p, b"fz-ready", 60)
            feed = threading.Thread(target=_feed, args=(p, "".join(case_line(i, c) for i, c in todo).encode() + b"\n"))
            feed.daemon = True
            feed.start()  # while this thread reads the answers: neither pipe fills up and blocks
            deadline = time.monotonic() + timeout
            remaining = {i for i, _ in todo}
            while remaining:
                ready = select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]
                if not ready:
                    p.kill()
                    out[current if current is not None else todo[0][0]] = ("hang", "no answer in %gs" % timeout)
                    break
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    rc = p.wait()
                    at = current if current is not None else todo[0][0]
                    out[at] = ("crash", "exit status %d %s" % (rc, p.stderr.read()[-300:].decode(errors="replace")))
                    break
                lines += chunk
                while b"\n" in lines:
                    line, lines = lines.split(b"\n", 1)
                    line = line.decode(errors="replace")
                    if line.startswith("fz-begin "):
                        current = int(line.split()[1])
                        deadline = time.monotonic() + timeout
                    elif line.startswith("fz "):
                        _, i, said = line.split(" ", 2)
                        out[int(i)] = (classify(said, backend), said)
                        remaining.discard(int(i))
                        current = None
                        deadline = time.monotonic() + timeout
            todo = [(i, c) for i, c in todo if i not in out]
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr):
                f.close()
    return out


def _feed(p, data):
    try:
        p.stdin.write(data)
        p.stdin.close()
    except OSError:  # the process died (a crash): the reader counts it
        pass


def _await(p, word, timeout):
    end = time.monotonic() + timeout
    got = b""
    while word not in got:
        if not select.select([p.stdout], [], [], max(0.0, end - time.monotonic()))[0]:
            raise RuntimeError("the unix port did not start the fuzzer: %r" % got[-500:])
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            raise RuntimeError("the unix port stopped before the fuzzer started: %r %r" % (got[-500:], p.stderr.read()[-500:]))
        got += chunk


BOARD_PRELUDE = "import sys\nif '/lib' not in sys.path:\n    sys.path.append('/lib')\n"


def run_board(reopen, remote, backend, batch, link, per_case=20.0, chunk=20):
    """Runs the cases (index, case) on a board over its serial link (link: open, the board holding
    tinyml and the clean model at remote), chunk cases per command. After a case that made the board
    stop answering (a crash: e.g. a HardFault) reopen() must give a fresh link to a board in that
    state again. Returns ({index: (kind, said)}, the link, still open)."""
    from tinyml_host.board.diagnose import DeviceError, LinkError
    out = {}
    todo = list(batch)
    fresh = True
    while todo:
        if link is None:
            link = reopen()
            fresh = True
        if fresh:
            link.soft_reset()
            link.exec(BOARD_PRELUDE + device_program("fuzz_cases"))
            fresh = False
        part = todo[:chunk]
        seen = {}

        def on_line(line, seen=seen):
            if line.startswith("fz-begin "):
                seen["current"] = int(line.split()[1])
            elif line.startswith("fz "):
                _, i, said = line.split(" ", 2)
                out[int(i)] = (classify(said, backend), said)
                seen.pop("current", None)

        lines = [case_line(i, c).strip() for i, c in part]
        try:
            link.exec("fuzz_batch(%r, %r, %r)" % (remote, backend, lines), on_line=on_line,
                      timeout=per_case * len(part) + 30)
        except DeviceError as e:  # the board raised outside a case's own try (it still answers)
            at = seen.get("current", part[0][0])
            out.setdefault(at, ("err", "%s: %s" % (type(e).__name__, e)))
        except LinkError as e:
            at = seen.get("current", part[0][0])
            out.setdefault(at, ("crash", "the board stopped answering: %s" % e))
            link.close()
            link = None
        todo = [(i, c) for i, c in todo if i not in out]
    return out, link


def summarize(results):
    """{kind: count} plus the share of rejected cases that got ModelFileError (or native ValueError)."""
    counts = {k: 0 for k in KINDS}
    for kind, _ in results.values():
        counts[kind] += 1
    rejected = counts["mfe"] + counts["native"] + counts["err"]
    counts["cases"] = len(results)
    counts["designed_share"] = (counts["mfe"] + counts["native"]) / rejected if rejected else 1.0
    return counts


def save_failures(directory, model, backend, seed, batch, results):
    """Each case whose outcome is not ok/mfe/native, as a JSON file --replay runs again."""
    saved = []
    directory = pathlib.Path(directory)
    for i, case in batch:
        kind, said = results[i]
        if kind in ("ok", "mfe", "native"):
            continue
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / ("%s-%s-%d-%d.json" % (model, backend, seed, i))
        what, size, patches = case
        path.write_text(json.dumps({"model": model, "backend": backend, "seed": seed, "index": i, "what": what,
                                    "kind": kind, "said": said, "length": size,
                                    "patches": [[off, b.hex()] for off, b in patches]}, indent=1))
        saved.append(path)
    return saved


def convert_models(directory):
    from tinyml_host.model.convert import convert
    out = {}
    for name, src in model_paths().items():
        out[name] = pathlib.Path(directory) / (name + ".tml")
        if not out[name].exists():
            out[name].write_bytes(convert(str(src)))
    return out


def campaign(n, backends=BACKENDS, seed=1, work=None, save=None, timeout=10.0, log=print, lib=None):
    """n cases per backend, spread over the models; returns {backend: summary}."""
    from tinyml import ops
    opcodes = [r[0] for r in ops.rows()]
    work = pathlib.Path(work or BUILD / "fuzz")
    work.mkdir(parents=True, exist_ok=True)
    tmls = convert_models(work)
    report = {}
    for backend in backends:
        results = {}
        for k, name in enumerate(MODELS):
            count = n // len(MODELS) + (1 if k < n % len(MODELS) else 0)
            s = seed * 1000 + k
            batch = list(enumerate(cases(tmls[name].read_bytes(), count, s, opcodes)))
            got = run_unix(tmls[name], backend, batch, timeout, lib=lib)
            if save:
                for p in save_failures(save, name, backend, s, batch, got):
                    log("fuzz: %s: %s" % (p, json.loads(p.read_text())["said"][:200]))
            results.update(("%s/%d" % (name, i), v) for i, v in got.items())
        report[backend] = summarize(results)
        log("fuzz %s: %s" % (backend, format_summary(report[backend])))
    return report


def format_summary(s):
    return "%d cases: %d ok, %d ModelFileError, %d native ValueError, %d other errors, %d crashes, %d hangs, " \
           "%d corruptions; %.2f%% of rejected files rejected as designed" % (
               s["cases"], s["ok"], s["mfe"], s["native"], s["err"], s["crash"], s["hang"], s["corrupt"],
               100 * s["designed_share"])


def replay(path, timeout=10.0, lib=None, work=BUILD / "fuzz"):
    """Runs a saved case (save_failures) again on the unix port: its (kind, said)."""
    case = json.loads(pathlib.Path(path).read_text())
    tml = pathlib.Path(work) / (case["model"] + ".tml")
    if not tml.exists():
        tml = convert_models(pathlib.Path(work))[case["model"]]
    c = (case["what"], case["length"], [(off, bytes.fromhex(h)) for off, h in case["patches"]])
    return run_unix(tml, case["backend"], [(case["index"], c)], timeout, lib=lib)[case["index"]]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tinyml_host.apps.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=2000, help="cases per backend (default 2000)")
    ap.add_argument("--backend", action="append", choices=BACKENDS, help="a backend (default: all three)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--save", default=str(BUILD / "fuzz" / "failures"), help="where failing cases are written")
    ap.add_argument("--replay", help="run one saved case again")
    ap.add_argument("--lib", help="fuzz another device library directory (e.g. an older tinyml's)")
    a = ap.parse_args(argv)
    if a.replay:
        print(replay(a.replay, a.timeout, a.lib))
        return 0
    report = campaign(a.cases, a.backend or BACKENDS, a.seed, save=a.save, timeout=a.timeout, lib=a.lib)
    bad = any(s["crash"] or s["hang"] or s["corrupt"] or s["designed_share"] < 0.99 for s in report.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
