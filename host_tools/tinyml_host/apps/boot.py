# An app that runs at boot: `tinyml deploy --boot --app my_app.py` (and `make deploy ... BOOT=1`) puts
# /main.py on the board, calling the device's app runner (device_lib/tinyml/runner.py), restarts the
# board as at power-on and shows its first output. `tinyml new app NAME` writes an app to start from
# (app_template.py beside this file).
#
# The way back: the runner waits WAIT seconds first (Ctrl-C there leaves the board at its REPL), and
# every serial command of tinyml (deploy, run, ota, repl) starts with Ctrl-C, which stops a running
# app; an app listing SAFE_PIN does not start while that pin is held low at reset (real boards). To
# stop starting at boot: `tinyml deploy --no-boot` removes /main.py.
import pathlib
import re
import time

from tinyml_host.errors import TinymlError

TEMPLATE = pathlib.Path(__file__).resolve().parent / "app_template.py"
WAIT = 2


def main_py(app, wait=WAIT):
    """The text of /main.py for the app module `app` (its file name without .py)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", app):
        raise ValueError("%r cannot be imported as a module: name the app file like my_app.py" % app)
    return ("# Runs at boot (tinyml deploy --boot). Ctrl-C within %d s of a reset leaves the board at its\n"
            "# REPL; os.remove('/main.py') (or tinyml deploy --no-boot) stops the app starting at boot.\n"
            "import tinyml.runner\n"
            "tinyml.runner.main(%r, wait=%d)\n" % (wait, app, wait))


def remove(link):
    """Stops the app starting at boot (removes /main.py); True when there was one."""
    out = link.exec("import os\ntry:\n    os.remove('/main.py')\n    print('removed')\nexcept OSError:\n    print('none')")
    return out.strip() == "removed"


def restart(link, seconds=8.0, until=None):
    """Resets the board as at power-on (a soft reset from its friendly REPL: boot.py, then main.py) and
    returns what it prints within `seconds`, or up to the first line matching the regex `until`."""
    link.friendly()
    time.sleep(0.1)
    s = link.serial
    while s.in_waiting:  # the banner friendly() asked for
        s.read(s.in_waiting)
    s.write(b"\x04")
    got = bytearray()
    end = time.monotonic() + seconds
    pattern = re.compile(until.encode()) if until else None
    while time.monotonic() < end:
        n = s.in_waiting
        if not n:
            time.sleep(0.02)
            continue
        got += s.read(n)
        if pattern and pattern.search(got):
            time.sleep(0.05)
            if s.in_waiting:
                got += s.read(s.in_waiting)
            break
    return got.decode("utf-8", "replace").replace("\r\n", "\n")


def new_app(path, model=None):
    """Writes a new app from the template (refuses to overwrite); returns its path."""
    path = pathlib.Path(path)
    if path.suffix != ".py":
        path = path.with_suffix(".py")
    main_py(path.stem)  # a name that imports
    if path.exists():
        raise FileExistsError("%s exists; choose another name" % path)
    text = TEMPLATE.read_text()
    if model:
        text = text.replace('MODEL = "model.tml"', "MODEL = %r" % (pathlib.Path(model).stem + ".tml"))
    path.write_text(text)
    return path


def cmd_new(a):
    try:
        path = new_app(a.name, a.model)
    except (ValueError, FileExistsError) as e:
        raise TinymlError(str(e))  # the message says the fix (another name)
    print("wrote %s: edit read_input() and on_output(), then\n  tinyml deploy %s --board unix --app %s --boot"
          % (path, a.model or "MODEL.tflite", path))
