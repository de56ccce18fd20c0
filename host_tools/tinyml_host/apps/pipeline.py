"""`tinyml pipeline run APP.py --input data.wav [--board B]`: runs an app's pipeline (source ->
features -> model -> post-processing, tinyml.app) over a recorded file and shows the features and the
predictions, without a board (the host's CPython imports the same device_lib/tinyml code) or on one
(`--board unix`: MicroPython's unix port; other boards: run_on_board, deployed over the serial link).
bench_features() times the micro_speech feature extraction per 20 ms frame on the unix port."""

import ast
import binascii
import importlib.util
import os
import pathlib
import re
import sys
import tempfile

import numpy as np

from tinyml_host import paths
from tinyml_host.board import unix as board_unix
from tinyml_host.errors import TinymlError

REPO = board_unix.REPO
DEVICE_LIB = paths.DEVICE_LIB
MICRO_SPEECH = REPO / "models" / "micro_speech"
TESTDATA = REPO.parent / "shared" / "models" / "tflm" / "testdata" / "micro_speech"
BACKENDS = ("native", "viper", "python")


class PipelineError(TinymlError, ValueError):
    pass


def _device_lib_importable():
    if str(DEVICE_LIB) not in sys.path:
        sys.path.insert(0, str(DEVICE_LIB))


# ---- the app file ----

def app_info(path):
    """The app's module-level constants (MODEL, MODEL_TFLITE, FILES, ...), read without running it."""
    path = pathlib.Path(path)
    if not path.exists():
        raise PipelineError("no app file %s" % path)
    info = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                info[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return info


def model_bytes(app, model=None):
    """The .tml bytes an app runs: --model (a .tml, or a .tflite converted here), else the app's MODEL
    next to it, else its MODEL_TFLITE (relative to the app) converted."""
    app = pathlib.Path(app).resolve()
    info = app_info(app)
    if model is None:
        if "MODEL" in info and (app.parent / info["MODEL"]).exists():
            model = app.parent / info["MODEL"]
        elif "MODEL_TFLITE" in info:
            model = (app.parent / info["MODEL_TFLITE"]).resolve()
        elif "MODEL" not in info:
            return None  # a features-only app
        else:
            raise PipelineError("%s: its model %s is not next to it and it names no MODEL_TFLITE; "
                                "give one with --model" % (app, info["MODEL"]))
    model = pathlib.Path(model)
    if not model.exists():
        raise PipelineError("no model file %s" % model)
    if model.suffix == ".tflite":
        from tinyml_host.model.convert import convert
        return convert(str(model))
    return model.read_bytes()


def _load_app(app):
    app = pathlib.Path(app).resolve()
    _device_lib_importable()
    name = "tinyml_app_" + re.sub(r"\W", "_", app.stem)
    spec = importlib.util.spec_from_file_location(name, str(app))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "pipeline"):
        raise PipelineError("%s defines no pipeline(src, model=..., backend=...) function" % app)
    return module


class _Chdir:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.old = os.getcwd()
        os.chdir(self.path)

    def __exit__(self, *exc):
        os.chdir(self.old)


def _features_array(feats):
    from array import array
    if isinstance(feats, array):
        return np.frombuffer(feats.tobytes(), {"b": np.int8, "h": np.int16, "f": np.float32,
                                               "i": np.int32, "B": np.uint8}[feats.typecode]).copy()
    return np.asarray(list(feats), np.float32)


def run_host(app, input_path, model=None, backend=None, every=None):
    """Runs the app on the host (CPython, device_lib's code; the python backend unless told). Returns
    a dict: features (N, F) array, results [dict(frame, index, label, score, scores, raw, detected)],
    fft backend, model backend, feature_us, model_us."""
    app = pathlib.Path(app).resolve()
    backend = backend or "python"  # CPython has neither viper nor the native module
    input_path = str(pathlib.Path(input_path).resolve())
    tml = model if isinstance(model, (bytes, bytearray)) else model_bytes(app, model)
    module = _load_app(app)
    _device_lib_importable()
    from tinyml import sources
    feats, results = [], []
    with _Chdir(app.parent):
        src = sources.open_file(input_path)
        kw = {"every": every} if every is not None else {}
        p = module.pipeline(src, model=None if tml is None else bytes(tml), backend=backend, **kw)
        p.observe(lambda i, f: feats.append(_features_array(f)), lambda r: results.append(_result(r)))
        p.run()
        src.close()
    return {"features": np.stack(feats) if feats else np.zeros((0, 0)), "results": results,
            "fft": _fft_name(p), "model_backend": p.model.backend if p.model else None,
            "feature_us": p.feature_us, "model_us": p.model_us, "board": "host"}


def _fft_name(p):
    return getattr(p.feature_obj, "fft_backend", None)


def _result(r):
    return {"frame": r.frame, "index": r.index, "label": r.label, "score": float(r.score),
            "scores": [float(s) for s in r.scores], "detected": bool(r.detected),
            "raw": np.frombuffer(bytes(r.raw), np.int8).copy() if getattr(r, "raw", None) is not None else None}


# ---- on a board ----


_DTYPES = {"b": np.int8, "h": np.int16, "f": np.float32, "i": np.int32, "B": np.uint8}


def device_script(app_dir, module, input_path, model_path, backend=None, every=None):
    """The MicroPython code that runs an app over a replay of input_path on a board and prints its
    features (F lines), inferences (R lines) and a summary line; paths as the board sees them."""
    return paths.device_program("pipeline_run") + "run_app(%r, %r, %r, %r, %r, %r)\n" % (
        str(app_dir), module, str(input_path), None if model_path is None else str(model_path), backend, every)


def parse_device_output(text):
    feats, results, summary, printed = [], [], None, []
    for line in text.splitlines():
        if line.startswith("F "):
            _, i, code, hexed = line.split(" ", 3)
            feats.append(np.frombuffer(binascii.unhexlify(hexed), _DTYPES[code]).copy())
        elif line.startswith("R "):
            _, frame, index, det, raw, scores, label = line.split(" ", 6)
            sc = [float(s) for s in scores.split(",")]
            results.append({"frame": int(frame), "index": int(index), "detected": det == "1",
                            "raw": np.frombuffer(binascii.unhexlify(raw), np.int8).copy(),
                            "scores": sc, "score": max(sc), "label": label})
        elif line.startswith("tinyml-pipeline "):
            summary = dict(kv.split("=", 1) for kv in line.split()[1:])
        else:
            printed.append(line)
    if summary is None:
        raise board_unix.BoardError("the board did not finish the pipeline; it printed:\n%s" % text[-3000:])
    return {"features": np.stack(feats) if feats else np.zeros((0, 0)), "results": results,
            "fft": summary["fft"], "model_backend": None if summary["model"] == "None" else summary["model"],
            "feature_us": int(summary["feature_us"]), "model_us": int(summary["model_us"]),
            "printed": printed}


def run_unix(app, input_path, model=None, backend=None, every=None, heap=None):
    """Runs the app inside MicroPython's unix port (device_lib compiled to .mpy, the x64 native
    module), reading input_path itself. Returns what run_host does."""
    app = pathlib.Path(app).resolve()
    tml = model if isinstance(model, (bytes, bytearray)) else model_bytes(app, model)
    with tempfile.TemporaryDirectory(prefix="tinyml-pipeline-") as tmp:
        model_path = None
        if tml is not None:
            model_path = os.path.join(tmp, "model.tml")
            pathlib.Path(model_path).write_bytes(tml)
        code = device_script(app.parent, app.stem, pathlib.Path(input_path).resolve(), model_path, backend, every)
        out = board_unix.exec_script(code, cwd=str(app.parent), heap=heap)
    res = parse_device_output(out)
    res["board"] = "unix"
    return res


def app_files(app, model=None):
    """What an app needs on a board besides the library: [(name on the board, bytes)]: the app file,
    its FILES (next to it) and its model under the app's MODEL name (--model, or MODEL_TFLITE converted)."""
    app = pathlib.Path(app).resolve()
    info = app_info(app)
    files = [(app.name, app.read_bytes())]
    for name in info.get("FILES", ()):
        path = app.parent / name
        if not path.exists():
            raise PipelineError("%s: its FILES names %s, which is not next to it" % (app, name))
        files.append((pathlib.Path(name).name, path.read_bytes()))
    tml = model if isinstance(model, (bytes, bytearray)) else model_bytes(app, model)
    if tml is not None:
        files.append((info.get("MODEL", "model.tml"), bytes(tml)))
    return files


def run_on_board(board, app, input_path, model=None, backend=None, every=None, port=None):
    """Runs the app on a real or emulated board over its serial link: deploys the library (only what
    changed), the app with its files and model, and the recording, then replays it there."""
    from tinyml_host.board import deploy
    from tinyml_host.board import run as remote
    from tinyml_host.emulators import supervisor as emulators
    app = pathlib.Path(app).resolve()
    link, prof = remote.connect(board, port, start=emulators.start)
    printed = []
    try:
        with tempfile.TemporaryDirectory(prefix="tinyml-pipeline-") as tmp:
            paths = []
            for name, data in app_files(app, model) + [(pathlib.Path(input_path).name,
                                                        pathlib.Path(input_path).read_bytes())]:
                paths.append(os.path.join(tmp, name))
                pathlib.Path(paths[-1]).write_bytes(data)
            with open(os.devnull, "w") as quiet:
                deploy.deploy(link, prof, app=paths, out=quiet)
        info = app_info(app)
        link.soft_reset()  # a clean heap for the run
        link.exec("import os\nos.chdir('/')\n" + device_script(
            "/", app.stem, "/" + pathlib.Path(input_path).name,
            "/" + info.get("MODEL", "model.tml") if (model is not None or "MODEL" in info) else None,
            backend, every), on_line=printed.append)
    finally:
        link.close()
    res = parse_device_output("\n".join(printed))
    res["board"] = prof.name if prof else board
    return res


# ---- the command ----

def _print_run(res, a, app, info):
    labels = info.get("LABELS")
    feats = res["features"]
    where = {"host": "the host (CPython)", "unix": "MicroPython's unix port"}.get(res["board"], res["board"])
    print("app %s on %s: FFT backend %s, model backend %s" % (app, where, res["fft"], res["model_backend"]))
    for line in res.get("printed", []):
        print("  (board) %s" % line)
    if feats.size:
        print("%d feature frames of %d (%s), min %s max %s, mean %.2f; %.0f us per frame"
              % (feats.shape[0], feats.shape[1], feats.dtype, feats.min(), feats.max(), feats.mean(),
                 res["feature_us"] / feats.shape[0]))
    if a.print_features:
        for i, f in enumerate(feats):
            print("  %4d  %s" % (i, " ".join(("%d" % v) if feats.dtype.kind == "i" else ("%.3g" % v) for v in f)))
    if a.features:
        np.save(a.features, feats)
        print("wrote %s: features of shape %s" % (a.features, feats.shape))
    results = res["results"]
    if results:
        print("%d inferences, %.0f us each" % (len(results), res["model_us"] / len(results)))
        for r in results:
            scores = ", ".join("%s %.2f" % (labels[i] if labels else i, s) for i, s in enumerate(r["scores"]))
            print("  frame %4d (%6.2f s): %-10s %.2f%s   [%s]" % (
                r["frame"], _seconds(r["frame"], info), r["label"], r["score"],
                "  DETECTED" if r["detected"] else "", scores))
        det = [r for r in results if r["detected"]]
        print("detections: %s" % (", ".join("%s at %.2f s" % (r["label"], _seconds(r["frame"], info)) for r in det)
                                  or "none"))


def _seconds(frame, info):
    hop, rate = info.get("HOP"), info.get("RATE")
    return frame * hop / rate if hop and rate else float("nan")


def cmd_pipeline_run(a):
    app = pathlib.Path(a.app)
    info = app_info(app)
    tml = model_bytes(app, a.model)
    if a.board is None or a.board == "host":
        res = run_host(app, a.input, tml, a.backend, a.every)
    elif a.board == "unix":
        res = run_unix(app, a.input, tml, a.backend, a.every, a.heap)
    else:
        res = run_on_board(a.board, app, a.input, tml, a.backend, a.every)
    _print_run(res, a, app, info)


# ---- bench ----



def bench_features(quick=False, backends=BACKENDS, wav=None):
    """Times the micro_speech feature extraction (tinyml.preprocess.frontend) on the unix port, per
    FFT backend, over the 49 frames of yes_1000ms.wav. Returns rows: dict(backend, frames, us_per_frame,
    window_us, fft_us, filterbank_us, rest_us, budget_share (of a 20 ms hop)); unavailable backends
    are left out. Prints nothing."""
    wav = str(wav or TESTDATA / "yes_1000ms.wav")
    code = paths.device_program("frontend_bench") + "bench(%r, %r, %r, %d)\n" % (
        wav, tuple(backends), str(MICRO_SPEECH / "frontend.bin"), 1 if quick else 3)
    out = board_unix.exec_script(code)
    rows = []
    for m in re.finditer(r"tinyml-bench (\w+) (\d+) (\d+) (\d+) (\d+) (\d+)", out):
        n = int(m.group(2))
        parts = [int(m.group(i)) / n for i in range(3, 7)]
        total = sum(parts)
        rows.append({"backend": m.group(1), "frames": n, "us_per_frame": total, "window_us": parts[0],
                     "fft_us": parts[1], "filterbank_us": parts[2], "rest_us": parts[3],
                     "budget_share": total / 20000.0})
    return rows


def print_bench(rows):
    print("micro_speech features on the unix port, per 20 ms frame (30 ms window, 512-point FFT, 40 channels):")
    print("  %-8s %10s %9s %9s %11s %9s %12s" % ("FFT", "us/frame", "window", "FFT", "filterbank", "rest",
                                               "20 ms budget"))
    for r in rows:
        print("  %-8s %10.0f %9.0f %9.0f %11.0f %9.0f %11.1f%%" % (
            r["backend"], r["us_per_frame"], r["window_us"], r["fft_us"], r["filterbank_us"], r["rest_us"],
            100 * r["budget_share"]))
