# `tinyml bench` / `make bench`: the kernel backends side by side in one run on the unix port, and
# TFLM's own interpreter (tflite-micro) on the same models and inputs. Times are measured on the
# device (time.ticks_us around the inference) and, for TFLM, around Interpreter.invoke; RAM with
# gc.mem_alloc() on the device, next to TFLM's arena.
import tempfile
import time
from pathlib import Path

import numpy as np

from tinyml_host import board_unix, tflm
from tinyml_host import tflite_build as tb
from tinyml_host.cli import default_hello_world
from tinyml_host.convert import convert
from tinyml_host.inspect_model import inspect

BACKENDS = ("native", "viper", "python")
SHARED = board_unix.REPO.parent / "shared" / "models"


def fc_256_model():
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (256, 256))
    return tb.fully_connected_model(w, rng.integers(-2000, 2000, 256), 0.02, -3, [0.004], 0.5, 1)


def tflm_us_per_inference(model, x, repeat):
    interp = tflm.interpreter(model)
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


def device_us(tml, x, backend, repeat):
    return min(board_unix.run_model(tml, [x], backend)[1]["us_per_inference"] for _ in range(repeat))


def backends_side_by_side(name, model, x, repeat):
    """Issue 2's table: each backend's µs and MAC/s, and native beside TFLM."""
    with tempfile.TemporaryDirectory() as tmp:
        tml = Path(tmp) / "m.tml"
        tml.write_bytes(convert(model, name))
        macs = inspect(tml.read_bytes(), name, out=lambda *_: None)["macs"]
        rows = {b: device_us(tml, x if b != "python" else x[: max(4, len(x) // 8)], b, repeat) for b in BACKENDS}
    ref = tflm_us_per_inference(model, x, repeat)
    print("\n%s: %d MACs per inference, %d inputs" % (name, macs, len(x)))
    print("  %-24s %14s %14s %12s" % ("backend", "us/inference", "MAC/s", "x python"))
    for backend in BACKENDS:
        us = rows[backend]
        print("  %-24s %14.1f %14.3g %12.1f" % (backend, us, macs / us * 1e6, rows["python"] / us))
    print("  %-24s %14.1f %14.3g" % ("tflite-micro (TFLM)", ref, macs / ref * 1e6))
    print("  native vs TFLM: %.2fx TFLM's speed" % (ref / rows["native"]))


def cnn_model(name, path, repeat):
    """Issue 3's rows: native beside TFLM on the golden inputs, and RAM beside TFLM's arena."""
    model = Path(path).read_bytes()
    x = np.load(SHARED / "golden" / (name + ".input0.npy"))
    with tempfile.TemporaryDirectory() as tmp:
        tml = Path(tmp) / "m.tml"
        tml.write_bytes(convert(model, name))
        us = device_us(tml, x, "native", repeat)
        ram = board_unix.footprint(tml, "native", window=8192)  # weights out of RAM, as TFLM's are
    ref = tflm_us_per_inference(model, x, repeat)
    arena = tflm.tflm_arena_bytes(model)
    return name, us, ref, ram, arena


def main(args):
    repeat = 1 if args.quick else 3
    print("tinyml bench: unix port (%s), one run, best of %d" % (board_unix.micropython_path(), repeat))
    hello = Path(default_hello_world()).read_bytes()
    backends_side_by_side("hello_world", hello, np.arange(-128, 128, dtype=np.int8).reshape(256, 1, 1), repeat)
    x_fc = np.random.default_rng(1).integers(-128, 128, (32, 1, 256)).astype(np.int8)
    backends_side_by_side("fully_connected 256x256", fc_256_model(), x_fc, repeat)

    rows = [cnn_model("hello_world_int8", default_hello_world(), repeat)]
    for name, path in (("micro_speech_quantized", SHARED / "tflm" / "micro_speech_quantized.tflite"),
                       ("mnist_valid_q", SHARED / "tinymaix" / "mnist_valid_q.tflite"),
                       ("person_detect", SHARED / "tflm" / "person_detect.tflite")):
        rows.append(cnn_model(name, path, repeat))
    print("\nnative backend beside TFLM (same inputs), and RAM with the weights streamed through an 8 KB window\n"
          "(unix port, 64-bit: a 32-bit board needs less)")
    print("  %-24s %12s %12s %8s | %9s %9s %9s %9s %11s" % (
        "model", "native us", "TFLM us", "speed", "arena", "window", "load RAM", "peak RAM", "TFLM arena"))
    for name, us, ref, ram, arena in rows:
        print("  %-24s %12.1f %12.1f %7.2fx | %9d %9d %9d %9d %11d" % (
            name, us, ref, ref / us, ram["arena"], ram["window"], ram["load"], ram["peak"], arena))
    print("  speed: TFLM us / native us. load RAM: everything the loaded model holds (arena, weight window,\n"
          "  tables, kernel arguments); peak RAM: the high-water mark during one inference. TFLM arena: its\n"
          "  tensor arena (activations, its own structures) after AllocateTensors.")
