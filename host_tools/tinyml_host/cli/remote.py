# The `tinyml` commands on a board over its serial link (run, verify, bench MODEL, deploy, repl), the
# same for every board: the unix port, the emulated boards (started here when needed: the CLI is
# what knows about emulators) and real ones. The work is board/run.py's and board/deploy.py's.
import os
import pathlib
import sys

import numpy as np

from tinyml_host.board import deploy as deploy_mod
from tinyml_host.board import run
from tinyml_host.errors import BoardError
from tinyml_host.model.source import ModelSource


def session(a):
    """The link to the board the arguments name; an emulated board is started (or reused) first."""
    from tinyml_host.emulators import supervisor as emulators
    icount = getattr(a, "icount", False)
    if icount and not getattr(a, "board", None):
        raise BoardError("--icount counts instructions on an emulated QEMU board: give --board qemu-m3 (or "
                         "qemu-rv32, qemu-esp32)")
    return run.connect(getattr(a, "board", None), getattr(a, "port", None), getattr(a, "baud", None),
                       getattr(a, "heap", None), start=lambda name, heap: emulators.start(name, heap, icount=icount))


def _interrupted(link):
    print("tinyml: interrupted: the code on the board was stopped and its REPL answers again", file=sys.stderr)
    raise SystemExit(130)


def _run_inputs(a, xs, ins, outs):
    """Deploys a.model to the board when it is missing or changed, runs every case of xs there and
    prints what the board noted. Returns (outputs, info, where it ran)."""
    link, prof = session(a)
    try:
        remote = run.prepare(link, prof, a.model)
        ys, info = run.run_model(link, remote, xs, ins, outs, a.backend, _window(a))
    except KeyboardInterrupt:
        _interrupted(link)
    finally:
        link.close()
    for note in info["notes"]:
        print(note)
    return ys, info, prof.name if prof else link.port


def _window(a):
    w = getattr(a, "window", None)
    if w is None:
        return -1
    return None if str(w).lower() in ("none", "all") else int(w)


def cmd_run(a):
    a.model = ModelSource(a.model)  # converted once: deployed and run as it is
    ins, outs = a.model.inputs, a.model.outputs
    ys, info, where = _run_inputs(a, run.load_inputs(a.input, ins), ins, outs)
    for k, (y, t) in enumerate(zip(ys, outs)):
        path = a.output if k == 0 else "%s.%d.npy" % (a.output[:-4] if a.output.endswith(".npy") else a.output, k)
        np.save(path, y)
        print("wrote %s: %d outputs of shape %s" % (path, len(y), tuple(t.shape)))
    print("board %s, backend %s, %.1f us per inference (measured on the board)"
          % (where, info["backend"], info["us_per_inference"]))


def cmd_verify(a):
    from tinyml_host.oracle import tflm
    if not str(a.model).endswith(".tflite"):
        raise run.InputError("verify needs the .tflite model: TFLM runs it on this machine, and the board runs "
                        "its conversion")
    tflite = str(a.model)
    a.model = ModelSource(tflite)  # converted once: deployed and run as it is
    ins, outs = a.model.inputs, a.model.outputs
    xs = run.load_inputs(a.input, ins)
    ref = tflm.tflm_run(tflite, xs)
    ys, info, where = _run_inputs(a, xs, ins, outs)
    rows = run.verify_rows(ys, ref)
    w = max(12, max(len(r[1]) for r in rows))
    print("%6s  %-*s  %-*s  %s" % ("case", w, "ours", w, "TFLM", "match"))
    shown = rows if not getattr(a, "mismatches_only", False) else [r for r in rows if not r[3]]
    for c, o, r, ok in shown:
        print("%6d  %-*s  %-*s  %s" % (c, w, o, w, r, "yes" if ok else "NO"))
    bad = sum(1 for r in rows if not r[3])
    print("%d/%d cases match TFLM bit for bit on %s, backend %s, %.1f us per inference on the board"
          % (len(rows) - bad, len(rows), where, info["backend"], info["us_per_inference"]))
    if bad:
        print("tinyml: %d case(s) differ from TFLM" % bad, file=sys.stderr)
        raise SystemExit(1)


def cmd_bench(a):
    if not a.model and a.icount:
        from tinyml_host.apps import icount
        rows = icount.table(a.backend or "native", (a.board,) if a.board else icount.TABLE_BOARDS)
        if a.json:
            icount.write_json([dict(res, board=b) for b, _, res in rows if isinstance(res, dict)], a.json)
        return
    if not a.model:
        from tinyml_host.apps import bench
        return bench.main(a)
    m = ModelSource(a.model)
    if a.icount:
        return _bench_icount(a, m)
    chosen = [a.backend] if a.backend else list(run.BACKENDS)
    link, prof = session(a)
    try:
        remote = run.prepare(link, prof, m)
        printed, failed = run.bench_on_board(link, remote, chosen, _window(a), a.seconds, a.repeat, a.backend,
                                             board=prof)
    except KeyboardInterrupt:
        _interrupted(link)
    finally:
        link.close()
    run.bench_report(m, prof.name if prof else link.port, printed)
    if failed:
        raise failed


def _bench_icount(a, m):
    from tinyml_host.apps import icount
    from tinyml_host.emulators import supervisor as emulators
    link, prof = session(a)
    try:
        remote = run.prepare(link, prof, m)
        res = icount.measure(link, remote, prof, m, emulators.counts_instructions(emulators.instance(prof.name, True)),
                             a.backend or "native", _window(a))
    except KeyboardInterrupt:
        _interrupted(link)
    finally:
        link.close()
    res["board"] = prof.name
    icount.report(res, prof.name)
    if a.json:
        icount.write_json(res, a.json)
        print("wrote %s" % a.json)


def _boot_app(a):
    """The module the board runs at boot: the first --app (a .py file)."""
    apps = [x for x in a.app or () if x.endswith(".py")]
    if not apps:
        raise BoardError("--boot runs an app at boot: give it with --app my_app.py")
    if a.no_boot:
        raise BoardError("--boot and --no-boot together: choose one")
    return pathlib.Path(apps[0]).stem


def cmd_deploy(a):
    import tempfile
    from tinyml_host.apps import boot
    from tinyml_host.apps.pipeline import app_files
    link, prof = session(a)
    try:
        with tempfile.TemporaryDirectory(prefix="tinyml-deploy-") as tmp:
            apps = []
            given = ModelSource(a.model) if a.model else None
            for app in a.app or ():
                # an app (tinyml.app) brings its FILES and its MODEL (the MODEL given here, when one is);
                # any other script goes alone
                for name, data in (app_files(app, given and given.data) if app.endswith(".py") else
                                   [(pathlib.Path(app).name, pathlib.Path(app).read_bytes())]):
                    if given and "/" + name == given.remote:
                        continue  # the model itself goes once, as the deploy's model
                    apps.append(os.path.join(tmp, name))
                    pathlib.Path(apps[-1]).write_bytes(data)
            if getattr(a, "boot", False):  # the first --app runs at boot: /main.py calls the app runner
                apps.append(os.path.join(tmp, "main.py"))
                pathlib.Path(apps[-1]).write_text(boot.main_py(_boot_app(a), a.wait))
            deploy_mod.deploy(link, prof, model=a.model, app=apps, tool=a.tool,
                              compress=False if a.no_compress else None)
        if getattr(a, "no_boot", False):
            print("removed /main.py: no app runs at boot" if boot.remove(link) else "no /main.py on the board")
        elif getattr(a, "boot", False):
            print("restarting the board; its first output (%.0f s):" % a.show)
            print(boot.restart(link, seconds=a.show).rstrip())
            print("(the app runs on; Ctrl-C within %d s of a reset, or any tinyml command over the port, "
                  "stops it; tinyml deploy --no-boot stops it starting at boot)" % a.wait)
    except KeyboardInterrupt:
        _interrupted(link)
    finally:
        link.close()


def cmd_repl(a):
    """mpremote's REPL on the board, once tinyml is deployed and imports."""
    from types import SimpleNamespace
    from mpremote.main import State
    from mpremote.repl import do_repl
    link, prof = session(a)
    try:
        deploy_mod.deploy(link, prof, model=a.model, app=a.app or ())
        v = link.exec("import sys\nif '/lib' not in sys.path:\n    sys.path.append('/lib')\n"
                      "import tinyml\nfrom tinyml import backends\nprint(tinyml.__version__, backends.load()[0])").split()
        print("tinyml %s imports on the board; fastest backend there: %s" % (v[0], v[1]))
        if a.model:
            print("try: m = tinyml.load(%r); m.summary()" % deploy_mod.model_remote(a.model))
        print("tinyml.usage() lists the API; repr(m) says what a model is")
        link.friendly()
        state = State()
        state.transport = link.transport
        do_repl(state, SimpleNamespace(escape_non_printable=False, capture=None, inject_code=None, inject_file=None))
    except KeyboardInterrupt:
        _interrupted(link)
    finally:
        link.close()
