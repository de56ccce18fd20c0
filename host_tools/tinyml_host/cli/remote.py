# The serial-link commands of `tinyml`: deploy, repl, verify, and `run`/`bench` on a board over its
# serial port. cli.py calls add_commands(subparsers) after making its own parsers: `run` and `bench`,
# when already there, are extended (their unix-port behaviour is kept for `--board unix` without
# --port, and for `bench` without a model).
import functools
import sys

BACKENDS = ("native", "viper", "python")


def _guard(fn):
    """Errors of the emulators and boards modules as tinyml errors; Ctrl-C outside board code exits
    cleanly (inside board code the link has already stopped it)."""
    @functools.wraps(fn)
    def run(a):
        from tinyml_host.board.link import LinkError
        try:
            return fn(a)
        except KeyboardInterrupt:
            print("tinyml: interrupted", file=sys.stderr)
            raise SystemExit(130)
        except Exception as e:
            if type(e).__name__ in ("EmulatorError", "BoardError", "ModelFileError", "ConvertError"):
                raise LinkError(str(e)) from None
            raise
    return run


def _remote(name):
    def call(a):
        from tinyml_host.board import run as remote
        return _guard(getattr(remote, name))(a)
    return call


def _board_names():
    try:
        from tinyml_host.board import profiles as boards
        return ", ".join(boards.names())
    except Exception:
        return "see host_tools/tinyml_host/boards/"


def _link_args(c):
    if not _has(c, "board"):
        c.add_argument("--board", help="board profile: %s (default: unix, or with --port the board found there)"
                       % _board_names())
    else:
        c.set_defaults(board=None)
    c.add_argument("--port", help="the board's serial port (default: an emulated board's own pty, or the "
                                  "real board found by its USB ids)")
    c.add_argument("--baud", type=int, help="serial speed (default: the board profile's, 115200)")
    if not _has(c, "heap"):
        c.add_argument("--heap", help="heap of an emulated board, e.g. 140K (restarts it when different)")


def _has(parser, dest):
    return any(act.dest == dest for act in parser._actions)


def _relax_board(parser):
    """`--board` of cli.py's run accepts every board profile, not only 'unix'."""
    for act in parser._actions:
        if act.dest == "board":
            act.choices = None
            act.help = "board profile: %s (unix without --port: the unix port as a subprocess)" % _board_names()


def _window_arg(c):
    c.add_argument("--window", help="weight window in bytes on the board (default: tinyml's choice; 'none' "
                                    "reads the whole model into RAM)")


def _over_serial(a):
    return bool(getattr(a, "port", None)) or (getattr(a, "board", None) or "unix") != "unix"


def add_commands(sub):
    """Adds deploy, repl, verify, and run/bench over a serial link, to cli.py's subparsers."""
    c = sub.add_parser("deploy", help="put tinyml (and a model, and scripts) on a board; only what changed is sent")
    c.add_argument("model", nargs="?", help=".tflite (converted) or .tml model to put in / (optional)")
    c.add_argument("--app", action="append", help="a script of yours to put in / (repeat for more)")
    c.add_argument("--tool", choices=("mpremote", "ampy"), default="mpremote",
                   help="copy with our protocol over mpremote's transport (default) or adafruit-ampy")
    c.add_argument("--no-compress", action="store_true", help="send base64 even when the board has deflate")
    _link_args(c)
    c.set_defaults(fn=_remote("cmd_deploy"))

    c = sub.add_parser("repl", help="the board's REPL (mpremote), with tinyml deployed and importable")
    c.add_argument("--model", help="also deploy this model")
    c.add_argument("--app", action="append", help="also deploy this script")
    _link_args(c)
    c.set_defaults(fn=_remote("cmd_repl"))

    c = sub.add_parser("verify", help="run golden inputs on a board and compare with TFLM, bit for bit")
    c.add_argument("model", help=".tflite model (TFLM runs it here, the board runs its conversion)")
    c.add_argument("--input", action="append", required=True, help="int8 .npy of shape (N, *input_shape), per input")
    c.add_argument("--backend", choices=BACKENDS, help="force a kernel backend")
    c.add_argument("--mismatches-only", action="store_true", help="list only the cases that differ")
    _window_arg(c)
    _link_args(c)
    c.set_defaults(fn=_remote("cmd_verify"))

    run = sub.choices.get("run")
    if run is None:
        run = sub.add_parser("run", help="run a model on a board over inputs from .npy files")
        run.add_argument("model", help=".tml or .tflite")
        run.add_argument("--input", action="append", required=True, help="int8 .npy of shape (N, *input_shape)")
        run.add_argument("--output", required=True, help=".npy for the N outputs")
        run.add_argument("--backend", choices=BACKENDS)
        local = None
    else:
        _relax_board(run)
        local = run.get_default("fn")
    _link_args(run)
    _window_arg(run)

    def run_fn(a):
        if local is not None and not _over_serial(a):
            a.board = a.board or "unix"
            return local(a)
        return _remote("cmd_run")(a)
    run.set_defaults(fn=run_fn)

    bench = sub.choices.get("bench")
    if bench is None:
        bench = sub.add_parser("bench", help="time a model on a board: per layer, RAM, each backend")
        local_bench = None
    else:
        local_bench = bench.get_default("fn")
        bench.description = ("without MODEL: the backends side by side on the unix port; with MODEL: per-layer "
                             "time, peak RAM and µs per inference of each backend, measured on --board")
    bench.add_argument("model", nargs="?" if local_bench else None, help=".tflite or .tml to time on the board")
    if not _has(bench, "backend"):
        bench.add_argument("--backend", choices=BACKENDS, help="only this backend")
    bench.add_argument("--seconds", type=float, default=1.0, help="time budget per backend on the board (default 1)")
    bench.add_argument("--repeat", type=int, default=100, help="most inferences per backend (default 100)")
    _window_arg(bench)
    _link_args(bench)

    def bench_fn(a):
        if local_bench is not None and not a.model:
            return local_bench(a)
        return _remote("cmd_bench")(a)
    bench.set_defaults(fn=bench_fn)
