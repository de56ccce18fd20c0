"""The interpreter's data moves on each backend: PAD and CONCATENATION (with the native backend the
native module's remap and concat, with viper a viper gather and a viper concatenation of short runs,
with Python slices), int8 single-op models with random shapes and paddings on every axis, compared
byte for byte with tflite-micro run in the same test on the real MicroPython unix port; and their
instruction counts on qemu-m3 (deterministic under -icount) against a budget the Python slices
were far above."""
import json
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from test_sub import run_everywhere
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor


def cases(rng, shape, n=4):
    return np.concatenate([rng.integers(-128, 128, (n,) + shape), np.full((1,) + shape, -128),
                           np.full((1,) + shape, 127)]).astype(np.int8)


def pad_model(shape, pads, zp):
    out = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    return tb.single_op_model("PAD", [T(shape, scale=0.05, zero_point=zp),
                                      T(data=np.array(pads, np.int32), dtype="int32")],
                              [T(out, scale=0.05, zero_point=zp)])


@pytest.mark.parametrize("rank", [2, 3, 4])
def test_pad_on_every_axis_matches_tflm(tmp_path, rank):
    """TFLM's PAD (the output zero point in the padding) with random paddings before and after each
    axis, batch included, zero points at the int8 edges too."""
    for k in range(3):
        rng = np.random.default_rng([rank, k])
        shape = tuple(int(d) for d in rng.integers(1, 6, rank))
        pads = [[int(a), int(b)] for a, b in rng.integers(0, 3, (rank, 2))]
        zp = int(rng.choice([-128, 127, rng.integers(-128, 128)]))
        expected = run_everywhere(tmp_path, pad_model(shape, pads, zp), [cases(rng, shape)])
        assert zp in expected[0] or not any(a or b for a, b in pads)


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1])
def test_concatenation_on_every_axis_matches_tflm(tmp_path, axis):
    """CONCATENATION of 2 to 4 inputs along each axis: long runs (an outer axis) and short ones (the
    channels of each pixel)."""
    rng = np.random.default_rng([axis + 1])
    base = [2, 3, 4, 5]
    shapes = []
    for _ in range(int(rng.integers(2, 5))):
        s = list(base)
        s[axis] = int(rng.integers(1, 4))
        shapes.append(tuple(s))
    out = list(base)
    out[axis] = sum(s[axis] for s in shapes)
    q = dict(scale=0.1, zero_point=-3)
    model = tb.single_op_model("CONCATENATION", [T(s, **q) for s in shapes], [T(tuple(out), **q)],
                               {"axis": axis, "fused_activation_function": "NONE"})
    run_everywhere(tmp_path, model, [cases(rng, s) for s in shapes])


def test_pad_and_concatenation_instruction_budget_on_qemu_m3(tmp_path):
    """qemu-m3, native backend, instructions counted by QEMU: a PAD of a 48x48x16 image (65 M
    instructions as Python slices, a row at a time: 1,700 per byte) and a channel concatenation of two
    32x32x8 images each stay under 4 instructions per byte moved."""
    q = dict(scale=0.1, zero_point=3)
    concat = tb.single_op_model("CONCATENATION", [T((1, 32, 32, 8), **q), T((1, 32, 32, 8), **q)],
                                [T((1, 32, 32, 16), **q)], {"axis": 3})
    for name, model, out_bytes in (("pad", pad_model((1, 48, 48, 16), [[0, 0], [0, 1], [0, 1], [0, 0]], 3), 49 * 49 * 16),
                                   ("concat", concat, 32 * 32 * 16)):
        path, js = tmp_path / (name + ".tflite"), tmp_path / (name + ".json")
        path.write_bytes(model)
        p = subprocess.run([str(ROOT / ".venv" / "bin" / "tinyml"), "bench", str(path), "--board", "qemu-m3", "--icount",
                            "--backend", "native", "--heap", "1M", "--json", str(js)], capture_output=True, text=True,
                           cwd=ROOT)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        layer = json.loads(js.read_text())["layers"][0]
        assert layer["instructions"] <= 4 * out_bytes, (name, layer)
