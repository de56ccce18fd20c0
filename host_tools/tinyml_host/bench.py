# `tinyml bench` / `make bench`: the kernel backends side by side in one run on the unix port, and
# TFLM's own interpreter (tflite-micro) on the same models and inputs. Times are measured on the
# device (time.ticks_us around Model.run) and, for TFLM, around Interpreter.invoke.
import tempfile
import time
from pathlib import Path

import numpy as np

from tinyml_host import board_unix
from tinyml_host import tflite_build as tb
from tinyml_host.cli import default_hello_world
from tinyml_host.convert import convert
from tinyml_host.inspect_model import inspect

BACKENDS = ("native", "viper", "python")


def fc_256_model():
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (256, 256))
    return tb.fully_connected_model(w, rng.integers(-2000, 2000, 256), 0.02, -3, [0.004], 0.5, 1)


def tflm_us_per_inference(model, x, repeat):
    from tflite_micro import runtime
    interp = runtime.Interpreter.from_bytes(model, arena_size=max(10 * len(model), 256 * 1024))
    best = None
    for _ in range(repeat):
        total = 0.0
        for case in x:
            interp.set_input(case, 0)
            t0 = time.perf_counter()
            interp.invoke()
            total += time.perf_counter() - t0
        best = total if best is None else min(best, total)
    return best / len(x) * 1e6


def bench_model(name, model, x, repeat):
    with tempfile.TemporaryDirectory() as tmp:
        tml = Path(tmp) / "m.tml"
        tml.write_bytes(convert(model, name))
        macs = inspect(tml.read_bytes(), name, out=lambda *_: None)["macs"]
        rows = {}
        for backend in BACKENDS:
            cases = x if backend != "python" else x[: max(4, len(x) // 8)]
            us = min(board_unix.run_model(tml, [cases], backend)[1]["us_per_inference"] for _ in range(repeat))
            rows[backend] = us
    tflm = tflm_us_per_inference(model, x, repeat)
    print("\n%s: %d MACs per inference, %d inputs" % (name, macs, len(x)))
    print("  %-22s %14s %14s %16s" % ("backend", "us/inference", "MAC/s", "x python"))
    for backend in BACKENDS:
        us = rows[backend]
        print("  %-22s %14.1f %14.3g %16.1f" % (backend, us, macs / us * 1e6, rows["python"] / us))
    print("  %-22s %14.1f %14.3g" % ("tflite-micro (CPython)", tflm, macs / tflm * 1e6))
    print("  native vs tflite-micro: %.2fx the speed (TFLM us / native us)" % (tflm / rows["native"]))
    return rows, tflm


def main(args):
    repeat = 1 if args.quick else 3
    print("tinyml bench: unix port (%s), one run, best of %d" % (board_unix.micropython_path(), repeat))
    hello = Path(default_hello_world()).read_bytes()
    x_hello = np.arange(-128, 128, dtype=np.int8).reshape(256, 1, 1)
    bench_model("hello_world", hello, x_hello, repeat)
    x_fc = np.random.default_rng(1).integers(-128, 128, (32, 1, 256)).astype(np.int8)
    bench_model("fully_connected 256x256", fc_256_model(), x_fc, repeat)
