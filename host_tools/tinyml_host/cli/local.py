# The `tinyml` commands that need no board: convert, inspect, demo (on the unix port).
import os
import pathlib
import sys
import tempfile

from tinyml_host import paths
from tinyml_host.board import unix as board_unix
from tinyml_host.model.source import tml_bytes


def cmd_convert(a):
    from tinyml_host.model.convert import convert
    out = a.output or str(pathlib.Path(a.model).with_suffix(".tml"))
    ref = None
    if getattr(a, "ref_input", None):
        import numpy as np
        ref = np.load(a.ref_input)
    data = convert(a.model, ref_input=ref)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)  # a half-written model never stands under the real name
    print("wrote %s (%d bytes)" % (out, len(data)))


def cmd_inspect(a):
    from tinyml_host.errors import ModelError
    from tinyml_host.model.inspect import inspect, inspect_tflite
    try:
        buf = tml_bytes(a.model)
    except ModelError:  # a TFLite model tinyml cannot run: its layers, marking what it lacks, then why
        from tinyml_host.model import recognize
        if recognize.kind(a.model) == "tflite":
            inspect_tflite(a.model)
        raise
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


def cmd_demo(a):
    from tinyml_host.model.convert import convert
    source = a.model or paths.hello_world_model()
    app = (paths.MODELS / "hello_world" / "sine_app.py").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        model = pathlib.Path(tmp, "hello_world.tml")
        model.write_bytes(convert(source))
        print("converted %s" % source)
        if a.board == "unix" and not a.port:  # straight on the unix port, no serial link
            sys.stdout.write(board_unix.exec_script("BACKEND = %r\n" % a.backend + app, cwd=tmp, heap=a.heap))
            return
        from tinyml_host.cli import remote
        from tinyml_host.board import deploy
        link, prof = remote.session(a)
        try:
            deploy.deploy(link, prof, model=str(model))  # tinyml, the board's native module, /hello_world.tml
            link.exec("import os, sys\nos.chdir('/')\nif '/lib' not in sys.path:\n    sys.path.append('/lib')\n"
                      "BACKEND = %r\n" % a.backend + app, on_line=lambda line: print(line.rstrip("\r\n")))
        except KeyboardInterrupt:
            remote._interrupted(link)
        finally:
            link.close()
