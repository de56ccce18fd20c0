# The `tinyml` command.
import argparse
import os
import pathlib
import sys
import tempfile

import numpy as np

from tinyml_host.board import unix as board_unix

BACKENDS = ("native", "viper", "python")
BOARDS = ("unix",)


def _tml_bytes(path):
    """A model path, .tml or .tflite (converted in memory), as .tml bytes."""
    if str(path).endswith(".tflite"):
        from tinyml_host.model.convert import convert
        return convert(str(path))
    return pathlib.Path(path).read_bytes()


def cmd_convert(a):
    from tinyml_host.model.convert import convert
    out = a.output or str(pathlib.Path(a.model).with_suffix(".tml"))
    data = convert(a.model)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)  # a half-written model never stands under the real name
    print("wrote %s (%d bytes)" % (out, len(data)))


def cmd_inspect(a):
    from tinyml_host.model.inspect import inspect
    buf = _tml_bytes(a.model)
    inspect(buf, a.model)
    if a.measure:
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp, "model.tml")
            path.write_bytes(buf)
            ram = board_unix.footprint(path, a.backend)
        print("measured on the unix port (64-bit; a 32-bit board needs less), %s backend:" % ram["backend"])
        print("  loaded: %d bytes = activation arena %d + weight window %d + interpreter %d"
              % (ram["load"], ram["arena"], ram["window"], ram["load"] - ram["arena"] - ram["window"]))
        print("  peak during one inference: %d bytes" % ram["peak"])


def _model_io(buf, name):
    from tinyml import tmlfile
    tensors, _, ins, outs = tmlfile.parse(buf, name)
    return [tensors[i] for i in ins], [tensors[i] for i in outs]


def cmd_run(a):
    buf = _tml_bytes(a.model)
    ins, outs = _model_io(buf, a.model)
    from tinyml_host.board.run import load_inputs  # the same checks as on a board: count, type, shape
    xs = load_inputs(a.input, ins)
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.tml")
        pathlib.Path(model).write_bytes(buf)
        ys, info = board_unix.run_model(model, xs, a.backend, a.heap)
    for note in info["notes"]:
        print(note)
    for k, (y, t) in enumerate(zip(ys, outs)):
        path = a.output if k == 0 else "%s.%d.npy" % (a.output[:-4] if a.output.endswith(".npy") else a.output, k)
        np.save(path, y.reshape((len(y),) + tuple(t.shape)))
        print("wrote %s: %d outputs of shape %s" % (path, len(y), tuple(t.shape)))
    print("board %s, backend %s, %.1f us per inference" % (a.board, info["backend"], info["us_per_inference"]))


def cmd_demo(a):
    from tinyml_host.model.convert import convert
    source = a.model or default_hello_world()
    with tempfile.TemporaryDirectory() as tmp:
        pathlib.Path(tmp, "hello_world.tml").write_bytes(convert(source))
        print("converted %s" % source)
        app = (board_unix.REPO / "models" / "hello_world" / "sine_app.py").read_text()
        sys.stdout.write(board_unix.exec_script("BACKEND = %r\n" % a.backend + app, cwd=tmp, heap=a.heap))


def default_hello_world():
    shared = board_unix.REPO.parent / "shared" / "models" / "tflm" / "hello_world_int8.tflite"
    if shared.exists():
        return str(shared)
    return str(board_unix.REPO / "models" / "hello_world" / "hello_world_int8.tflite")


def cmd_bench(a):
    from tinyml_host.apps import bench
    bench.main(a)


def main(argv=None):
    p = argparse.ArgumentParser(prog="tinyml", description="Run int8 TFLite models on MicroPython boards.")
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("convert", help="convert an int8 .tflite model to .tml")
    c.add_argument("model")
    c.add_argument("-o", "--output", help="output path (default: the model's name with .tml)")
    c.set_defaults(fn=cmd_convert)

    c = sub.add_parser("inspect", help="print a model's layers, MACs, weight bytes and activation RAM")
    c.add_argument("model", help=".tml or .tflite")
    c.add_argument("--no-measure", dest="measure", action="store_false",
                   help="do not load the model on the unix port to measure its RAM")
    c.add_argument("--backend", choices=BACKENDS)
    c.set_defaults(fn=cmd_inspect)

    def board_args(c):
        c.add_argument("--board", default="unix", choices=BOARDS)
        c.add_argument("--backend", choices=BACKENDS, help="force a kernel backend (default: the fastest there is)")
        c.add_argument("--heap", help="MicroPython heap size on the unix board, e.g. 140K")

    c = sub.add_parser("run", help="run a model on a board over inputs from .npy files")
    c.add_argument("model", help=".tml or .tflite")
    c.add_argument("--input", action="append", required=True, help="int8 .npy of shape (N, *input_shape); one per model input")
    c.add_argument("--output", required=True, help=".npy for the N int8 outputs")
    board_args(c)
    c.set_defaults(fn=cmd_run)

    c = sub.add_parser("demo", help="hello_world: the model's sine beside math.sin, on a board")
    c.add_argument("--model", help="hello_world .tflite (default: ../shared/models/tflm/hello_world_int8.tflite)")
    board_args(c)
    c.set_defaults(fn=cmd_demo)

    c = sub.add_parser("bench", help="time the backends side by side on the unix port")
    c.add_argument("--quick", action="store_true", help="fewer repetitions, and no flash benchmark (5 minutes)")
    c.set_defaults(fn=cmd_bench)

    from tinyml_host.cli import board as cli_board
    from tinyml_host.cli import flash as cli_flash
    from tinyml_host.cli import remote as cli_remote
    from tinyml_host.apps import pipeline
    cli_remote.add_commands(sub)  # deploy, repl, verify; run and bench on boards over their serial port
    cli_board.add_commands(sub)
    cli_flash.add_commands(sub)
    pipeline.add_commands(sub)

    a = p.parse_args(argv)
    try:
        a.fn(a)
    except (ValueError, board_unix.BoardError, OSError) as e:
        print("tinyml: error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
