# `tinyml bench MODEL --board B --icount` and the instruction table of `make bench`: instructions per
# inference, per MAC and per layer, counted by QEMU (-icount shift=0: the board's clock advances 1 ns
# per executed instruction, so its µs are 1,000 instructions; deterministic, unlike wall time).
import json
import os
import re

from tinyml_host import paths
from tinyml_host.board import run
from tinyml_host.errors import BoardError

OPSUM = re.compile(r"tinyml-opsum (\d+) us=(\d+) runs=(\d+)")
# Published figures, cycles per MAC, for the table (issue 13)
ANCHORS = [("CMSIS-NN, Cortex-M4/M7", "1-2.5"), ("ESP-NN, ESP32", "about 13"),
           ("TFLM reference kernels", "10-137")]
TABLE_MODELS = [("person_detect", ("tflm", "person_detect.tflite")),
                ("micro_speech", ("tflm", "micro_speech_quantized.tflite")),
                ("mnist", ("tinymaix", "mnist_valid_q.tflite")),
                ("hello_world", None)]
TABLE_BOARDS = ("qemu-m3", "qemu-m4", "qemu-esp32")


def measure(link, remote, prof, m, clock, backend="native", window=-1):
    """Counts instructions of ModelSource m (deployed at `remote`) on the board behind link, whose
    clock is `clock` ns per instruction. Returns the dict `--json` writes."""
    printed, failed = run.bench_on_board(link, remote, [backend], window, seconds=0.05, repeat=10,
                                         first_backend=backend, board=prof)
    if failed:
        raise failed
    link.exec("_w.op_times(%r, %d, %d)" % (backend, 100000, 40), on_line=printed.append)
    return result(m, printed, clock, backend)


def result(m, printed, clock, backend):
    from tinyml import ops as op_table
    from tinyml.model import op_macs
    from tinyml import tmlfile
    text = "\n".join(printed)
    f = run.FOOTPRINT.search(text)
    timed = [ln.split() for ln in printed if ln.startswith("B ")]
    if not f or not timed or not timed[-1][2].isdigit():
        raise BoardError("the board did not count the %s backend's instructions; it printed:\n%s" % (backend, text))
    n, us = int(timed[-1][2]), int(timed[-1][3])
    tensors, ops, _, _ = tmlfile.parse(m.data, str(m.path))
    by_index = {op.index: op for op in ops}
    layers = []
    for idx, total, runs in OPSUM.findall(text):
        op = by_index[int(idx)]
        layers.append({"index": op.index, "op": op_table.name(op.opcode), "macs": op_macs(op, tensors),
                       "instructions": round(int(total) * 1000 / clock / int(runs))})
    macs = sum(op_macs(op, tensors) for op in ops)
    per_inference = round(us * 1000 / clock / n)
    return {"model": m.path.name, "backend": f.group(1), "macs": macs,
            "instructions_per_inference": per_inference,
            "instructions_per_mac": round(per_inference / macs, 3) if macs else None,
            "layers": layers, "arena_bytes": int(f.group(4)), "peak_ram_bytes": int(f.group(3)),
            "load_ram_bytes": int(f.group(2))}


def by_op(res):
    """{op name: [layers, MACs, instructions]} of a result, for instructions per MAC per layer type."""
    out = {}
    for layer in res["layers"]:
        row = out.setdefault(layer["op"], [0, 0, 0])
        row[0] += 1
        row[1] += layer["macs"]
        row[2] += layer["instructions"]
    return out


def report(res, where, out=print):
    out("%s on %s, %s backend, instructions counted by QEMU (-icount shift=0)" % (res["model"], where, res["backend"]))
    out("  %3s  %-20s %10s %12s %9s" % ("#", "op", "MACs", "instructions", "per MAC"))
    for layer in res["layers"]:
        per = "%9.2f" % (layer["instructions"] / layer["macs"]) if layer["macs"] else ""
        out("  %3d  %-20s %10d %12d %s" % (layer["index"], layer["op"], layer["macs"], layer["instructions"], per))
    out("  per layer type:")
    for name, (k, macs, ins) in sorted(by_op(res).items(), key=lambda kv: -kv[1][2]):
        out("    %-20s %3d layers %10d MACs %12d instructions%s" % (
            name, k, macs, ins, ", %.2f per MAC" % (ins / macs) if macs else ", %d per layer" % (ins // k)))
    per_mac = res["instructions_per_mac"]
    out("  %d instructions per inference, %d MACs%s; arena %d bytes, peak RAM %d bytes" % (
        res["instructions_per_inference"], res["macs"], ", %.2f instructions per MAC" % per_mac if per_mac else "",
        res["arena_bytes"], res["peak_ram_bytes"]))


def write_json(res, path):
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


def table(backend="native", boards=TABLE_BOARDS, out=print, heap="1M"):
    """`make bench`'s instruction table: each shared model on each instruction-counting board, with a
    1 MB heap (person_detect needs its 55 KB arena in one block; the instructions do not depend on it)."""
    from tinyml_host.emulators import supervisor as emulators
    from tinyml_host.model.source import ModelSource
    rows = []
    for board in boards:
        for name, rel in TABLE_MODELS:
            path = paths.hello_world_model() if rel is None else paths.SHARED_MODELS / rel[0] / rel[1]
            try:
                m = ModelSource(path)
                link, prof = run.connect(board, start=lambda b, h: emulators.start(b, heap, icount=True))
                try:
                    with open(os.devnull, "w") as quiet:
                        remote = run.prepare(link, prof, m, out=quiet)
                    res = measure(link, remote, prof, m, emulators.counts_instructions(emulators.instance(board, True)),
                                  backend)
                finally:
                    link.close()
                rows.append((board, name, res))
            except Exception as e:  # a model that does not fit or fails on a board is a row, not the end
                rows.append((board, name, str(e).splitlines()[0] if str(e) else type(e).__name__))
    out("\ninstructions per inference and per MAC, %s backend, counted by QEMU (-icount shift=0; heap %s)"
        % (backend, heap))
    out("  %-11s %-14s %11s %13s %8s  %s" % ("board", "model", "MACs", "instructions", "per MAC",
                                            "per MAC by layer type"))
    for board, name, res in rows:
        if isinstance(res, str):
            out("  %-11s %-14s %s" % (board, name, res))
            continue
        kinds = ", ".join("%s %.1f" % (op, ins / macs) for op, (k, macs, ins) in sorted(by_op(res).items()) if macs)
        out("  %-11s %-14s %11d %13d %8s  %s" % (board, name, res["macs"], res["instructions_per_inference"],
                                                "%.2f" % res["instructions_per_mac"] if res["macs"] else "-", kinds))
    out("  anchors, cycles per MAC: " + "; ".join("%s %s" % a for a in ANCHORS))
    return rows
