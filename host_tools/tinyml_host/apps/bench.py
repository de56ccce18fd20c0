# `tinyml bench` / `make bench`: everything measured side by side in one run: the kernel backends on
# the unix port and TFLM's own interpreter (tflite-micro) on the same models and inputs, feature
# extraction, deploy wire cost, the emulated boards, and flashing the emulated ESP32 ROM. Times are measured on the
# device (time.ticks_us around the inference) and, for TFLM, around Interpreter.invoke; RAM with
# gc.mem_alloc() on the device, next to TFLM's arena.
import tempfile
import time
from pathlib import Path

import numpy as np

from tinyml_host import paths
from tinyml_host.board import unix as board_unix
from tinyml_host.oracle import tflm
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.model.convert import convert
from tinyml_host.model.inspect import inspect

BACKENDS = ("native", "viper", "python")
SHARED = paths.SHARED_MODELS


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


def boards_bench(quick):
    """Issue 4's rows: per backend on each emulated board (tinyml bench MODEL --board B)."""
    from tinyml_host.board import run
    from tinyml_host.emulators import supervisor as emulators
    from tinyml_host.model.source import ModelSource
    m = ModelSource(paths.hello_world_model())
    for board in ("qemu-m3", "qemu-rv32", "qemu-esp32"):
        print("\n== %s" % board)
        try:
            link, prof = run.connect(board, start=emulators.start)
            try:
                remote = run.prepare(link, prof, m)
                printed, failed = run.bench_on_board(link, remote, BACKENDS, seconds=0.5 if quick else 1.0,
                                                     board=prof)
            finally:
                link.close()
            run.bench_report(m, board, printed)
            if failed:
                raise failed
        except Exception as e:  # a backend that fails on a board is a result, not the end of the bench
            print("  %s: %s" % (board, str(e).splitlines()[0]))


def wire_bench():
    """Bytes on the wire per payload byte for deploying person_detect: ours (base64, deflate) and
    `mpremote cp`, on the unix board (a pty)."""
    import tempfile as tf
    from tinyml_host.board import profiles as boards
    from tinyml_host.board import deploy
    from tinyml_host.emulators import supervisor as emulators
    from tinyml_host.board.link import Link
    board = boards.load("unix")
    data = convert(str(SHARED / "tflm" / "person_detect.tflite"))
    link = Link.open(emulators.start("unix"), board.baud, clean=True)
    quiet = open("/dev/null", "w")
    try:
        deploy.deploy(link, board, out=quiet)  # the library first: only the model is measured
        rows = []
        with tf.TemporaryDirectory() as tmp:
            for name, compress in (("ours, base64", False), ("ours, deflate", True)):
                path = Path(tmp) / ("bench_%s.tml" % compress)
                path.write_bytes(data)
                t0 = time.monotonic()
                res = deploy.deploy(link, board, model=path, compress=compress, out=quiet)
                rows.append((name, res.file_wire / len(data), time.monotonic() - t0))
        t0 = time.monotonic()
        cp = deploy.mpremote_cp_wire(link, data, "/bench_cp.tml")
        rows.append(("mpremote cp", cp / len(data), time.monotonic() - t0))
        link.exec("import os\nfor n in os.listdir('/'):\n    if n.startswith('bench_'): os.remove('/' + n)")
    finally:
        link.close()
        quiet.close()
    print("\ndeploying person_detect's .tml (%d bytes) to the unix board over its pty:" % len(data))
    print("  %-16s %22s %10s" % ("method", "wire bytes per byte", "seconds"))
    for name, ratio, dt in rows:
        print("  %-16s %22.3f %10.2f" % (name, ratio, dt))


def main(args):
    repeat = 1 if args.quick else 3
    print("tinyml bench: unix port (%s), one run, best of %d" % (board_unix.micropython_path(), repeat))
    hello = Path(paths.hello_world_model()).read_bytes()
    backends_side_by_side("hello_world", hello, np.arange(-128, 128, dtype=np.int8).reshape(256, 1, 1), repeat)
    x_fc = np.random.default_rng(1).integers(-128, 128, (32, 1, 256)).astype(np.int8)
    backends_side_by_side("fully_connected 256x256", fc_256_model(), x_fc, repeat)

    rows = [cnn_model("hello_world_int8", paths.hello_world_model(), repeat)]
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

    from tinyml_host.apps import pipeline
    print()
    pipeline.print_bench(pipeline.bench_features(quick=args.quick))
    wire_bench()
    boards_bench(args.quick)
    from tinyml_host.apps import icount
    icount.table()  # instructions per inference and per MAC on the instruction-counting boards
    if not args.quick:
        from tinyml_host.apps.flash_bench import bench_flash
        print()
        bench_flash()
