"""Issue 13: instructions counted by QEMU (-icount shift=0, deterministic) and the budgets they allow;
the memory planner's ties (a board's arena is the figure `tinyml inspect` prints)."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED

sys.path.insert(0, str(ROOT / "device_lib"))
from tinyml import planner, tmlfile  # noqa: E402

TINYML = str(ROOT / ".venv" / "bin" / "tinyml")


@pytest.fixture(scope="module")
def m3_icount():
    """qemu-m3 counting instructions (its own instance beside the usual one), stopped after if started here."""
    from tinyml_host.emulators import supervisor as emulators
    name = emulators.instance("qemu-m3", icount=True)
    started = emulators.running(name) is None
    emulators.start("qemu-m3", icount=True)
    yield name
    if started:
        emulators.stop(name)


class _T:
    def __init__(self, nbytes, const=False):
        self.nbytes, self.const, self.variable = nbytes, const, False


class _Op:
    def __init__(self, index, inputs, outputs):
        self.index, self.inputs, self.outputs = index, inputs, outputs


def test_planner_ties_do_not_depend_on_dict_order(monkeypatch):
    # a chain of equal-sized activations (a DS-CNN's blocks): which goes first decides the arena when
    # ties follow the dict's order; MicroPython's dicts iterate by hash, CPython's by insertion
    tensors = [_T(4000) for _ in range(7)]
    ops = [_Op(0, [6], [0]), _Op(1, [0], [1]), _Op(2, [1], [2]), _Op(3, [1], [3]), _Op(4, [1, 2], [4]),
           _Op(5, [2, 4], [5])]
    plain = planner.plan(tensors, ops, [6], [5])
    real = planner.lifetimes

    def reversed_order(*a):
        life = real(*a)
        return {t: life[t] for t in reversed(list(life))}
    monkeypatch.setattr(planner, "lifetimes", reversed_order)
    assert planner.plan(tensors, ops, [6], [5]) == plain
    assert plain[1] == 12000  # three 4,000-byte tensors live at once, at most


def _tml(tmp_path, rel):
    out = tmp_path / (rel.split("/")[-1].replace(".tflite", ".tml"))
    subprocess.run([TINYML, "convert", str(SHARED / rel), "-o", str(out)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("rel", ["tflm/micro_speech_quantized.tflite", "tinymaix/mnist_valid_q.tflite"])
def test_board_arena_is_inspects(m3_icount, tmp_path, rel):
    from tinyml_host.board import run
    from tinyml_host.emulators import supervisor as emulators
    tml = _tml(tmp_path, rel)
    t, o, i, u = tmlfile.parse(tml.read_bytes(), tml.name)
    host_arena = planner.plan(t, o, i, u)[1]
    link, prof = run.connect("qemu-m3", start=lambda b, h: emulators.start(b, h, icount=True))
    try:
        remote = run.prepare(link, prof, tml, out=open("/dev/null", "w"))
        lines = []
        link.soft_reset()
        link.exec("import tinyml\nm = tinyml.load(%r)\nprint('arena', m.arena_bytes)" % remote, on_line=lines.append)
    finally:
        link.close()
    assert "arena %d" % host_arena in lines


def test_bench_icount_json_hello_world(m3_icount, tmp_path):
    """tinyml bench --board qemu-m3 --icount --json: the counts, and hello_world's per-op cost."""
    out = tmp_path / "hw.json"
    p = subprocess.run([TINYML, "bench", str(SHARED / "tflm" / "hello_world_int8.tflite"), "--board", "qemu-m3",
                        "--icount", "--backend", "native", "--json", str(out)], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["macs"] == 16 + 256 + 16 and res["backend"] == "native"
    assert [x["op"] for x in res["layers"]] == ["FULLY_CONNECTED"] * 3
    assert [x["macs"] for x in res["layers"]] == [16, 256, 16]
    assert res["instructions_per_mac"] == round(res["instructions_per_inference"] / res["macs"], 3)
    assert res["arena_bytes"] > 0 and res["peak_ram_bytes"] >= res["arena_bytes"]
    assert "instructions per inference" in p.stdout


def test_micro_speech_instruction_budget(m3_icount, tmp_path):
    """Kernel budgets on qemu-m3 (native, weights in RAM), deterministic under -icount: micro_speech's
    depthwise layer and the whole inference (issue 13's progress: 4.43 M before the kernel work)."""
    out = tmp_path / "ms.json"
    p = subprocess.run([TINYML, "bench", str(SHARED / "tflm" / "micro_speech_quantized.tflite"), "--board",
                        "qemu-m3", "--icount", "--heap", "1M", "--window", "none", "--json", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = json.loads(out.read_text())
    dw = [x for x in res["layers"] if x["op"] == "DEPTHWISE_CONV_2D"]
    assert dw and sum(x["instructions"] for x in dw) <= 10 * sum(x["macs"] for x in dw)
    assert res["instructions_per_inference"] <= 3300000
