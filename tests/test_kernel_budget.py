"""Issue 13: instructions per MAC of the conv2d and fully_connected kernels on qemu-m3 (native, armv7m,
weights in RAM), one budget per layer type, counted by QEMU (-icount shift=0: the same count every run).
Single-op models the size of person_detect's pointwise layers, a 3x3 conv and a wide fully connected
layer; the bench's per-layer count includes the op's dispatch (about 650 instructions)."""
import json
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from test_conv_kernels import Case, build
from test_icount import m3_icount  # noqa: F401  (fixture: qemu-m3 counting instructions)
from tinyml_host.oracle import tflite_build as tb

TINYML = str(ROOT / ".venv" / "bin" / "tinyml")

# (name, model, op, instructions per MAC at most): 4 output channels x 2 pixels a pass measure 2.2 (1x1,
# 128 channels) and 2.3 (3x3, 32 channels); fully connected, 4 output channels a pass, 2.6
LAYERS = [
    ("conv1x1", lambda: build(Case(False, 6, 6, 128, 128, 1, 1, seed=1))[0], "CONV_2D", 2.5),
    ("conv3x3", lambda: build(Case(False, 12, 12, 32, 32, 3, 3, seed=2))[0], "CONV_2D", 2.5),
    ("fc", lambda: _fc(1024, 128), "FULLY_CONNECTED", 2.75),
]


def _fc(n_in, n_out):
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, (n_out, n_in))
    return tb.fully_connected_model(w, rng.integers(-999, 999, n_out), 0.02, -3, [0.01] * n_out, 2.0, 5)


@pytest.mark.parametrize("name,make,op,budget", LAYERS, ids=[x[0] for x in LAYERS])
def test_kernel_instructions_per_mac(m3_icount, tmp_path, name, make, op, budget):  # noqa: F811
    model = tmp_path / (name + ".tflite")
    model.write_bytes(make())
    out = tmp_path / (name + ".json")
    p = subprocess.run([TINYML, "bench", str(model), "--board", "qemu-m3", "--icount", "--backend", "native",
                        "--heap", "1M", "--window", "none", "--json", str(out)], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    layers = [x for x in json.loads(out.read_text())["layers"] if x["op"] == op]
    assert len(layers) == 1 and layers[0]["macs"] > 100000, layers
    per_mac = layers[0]["instructions"] / layers[0]["macs"]
    assert per_mac <= budget, "%s: %.2f instructions per MAC, budget %.2f" % (name, per_mac, budget)
