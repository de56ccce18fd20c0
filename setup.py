# The wheel's build step (pyproject.toml holds everything else): it adds tinyml_host/data/, what a user
# needs with no checkout, laid out as the repository (tinyml_host/paths.py reads it from there):
#   dist/<arch>_6.3/tinyml_kernels.mpy   the prebuilt native module of every arch (`make natmod`)
#   device_lib/programs/*.py             the programs the host sends to a board's raw REPL
#   firmware/boards/unix/repl.py         the emulated unix board's REPL
#   models/                              the example apps (hello_world, micro_speech, digits)
#   models/tflm/                         TFLM's hello_world and micro_speech models (Apache-2.0), with
#                                        their notice: `tinyml demo` runs hello_world
# An editable install (pip install -e, the checkout's .venv) reads the repository itself: no copy.
import pathlib
import runpy
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent
SHARED = ROOT.parent / "shared" / "models" / "tflm"
TFLM_MODELS = ("hello_world_int8.tflite", "micro_speech_quantized.tflite")
TFLM_NOTICE = """The models in this folder are TensorFlow Lite for Microcontrollers' examples
(https://github.com/tensorflow/tflite-micro), Copyright The TensorFlow Authors, licensed under the
Apache License, Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0). They are carried unchanged.
"""


class MissingBuild(SystemExit):
    pass


def data_files():
    """[(source path, path under tinyml_host/data/)]; fails naming what is missing and the fix."""
    archs = runpy.run_path(str(ROOT / "host_tools" / "tinyml_host" / "paths.py"))["ARCHS"]
    mods = runpy.run_path(str(ROOT / "host_tools" / "tinyml_host" / "paths.py"))["native_modules"]()
    missing = sorted({a for a in archs for m in mods if not (ROOT / "dist" / ("%s_6.3" % a) / m).is_file()})
    if missing:
        raise MissingBuild("tinyml wheel: no prebuilt native module for %s (dist/<arch>_6.3/tinyml_kernels*.mpy): "
                           "run 'make natmod' (it needs every cross compiler: 'make setup') before building "
                           "the wheel" % ", ".join(missing))
    absent = [m for m in TFLM_MODELS if not (SHARED / m).is_file()]
    if absent:
        raise MissingBuild("tinyml wheel: TFLM's %s not found in %s: the wheel carries them for "
                           "`tinyml demo`; build it with ../shared beside the repository" % (", ".join(absent), SHARED))
    files = [(ROOT / "dist" / ("%s_6.3" % a) / m, "dist/%s_6.3/%s" % (a, m)) for a in archs for m in mods]
    files += [(p, p.relative_to(ROOT).as_posix()) for p in sorted((ROOT / "device_lib" / "programs").glob("*.py"))]
    files.append((ROOT / "firmware" / "boards" / "unix" / "repl.py", "firmware/boards/unix/repl.py"))
    files += [(p, p.relative_to(ROOT).as_posix()) for p in sorted((ROOT / "models").rglob("*"))
              if p.is_file() and "__pycache__" not in p.parts]
    files += [(SHARED / m, "models/tflm/" + m) for m in TFLM_MODELS]
    return files


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the checkout is read in place
        out = pathlib.Path(self.build_lib) / "tinyml_host" / "data"
        shutil.rmtree(out, ignore_errors=True)
        for src, rel in data_files():
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        (out / "models" / "tflm" / "NOTICE").write_text(TFLM_NOTICE)


setup(cmdclass={"build_py": BuildPyWithData})
