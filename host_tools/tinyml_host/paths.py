"""Where things are: the repository, the device library, the built native modules, the models
beside the repository (../shared), and the user's own data. The bottom of the host package with
errors.py: it imports nothing of tinyml_host.

Two layouts, one set of names:
- a checkout (pyproject.toml and device_lib/ two levels up): everything in the repository, what
  tinyml makes in build/ (tests rely on it);
- an installed wheel: what the wheel carries in tinyml_host/data/ (laid out as the repository:
  dist/, device_lib/programs/, models/, firmware/boards/unix/), the device library where pip put
  the `tinyml` package, and what tinyml makes (emulated boards' state, compiled .mpy, downloaded
  firmware) in the user's cache directory, $XDG_CACHE_HOME/tinyml or ~/.cache/tinyml (or
  $TINYML_CACHE_DIR), never inside the venv."""
import os
import pathlib

_HERE = pathlib.Path(__file__).resolve().parent
_CHECKOUT = _HERE.parents[1]
CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "device_lib" / "tinyml").is_dir()
DATA = _HERE / "data"                            # what an installed wheel carries


def user_cache():
    """The user's cache directory for tinyml: $TINYML_CACHE_DIR, else $XDG_CACHE_HOME/tinyml, else
    ~/.cache/tinyml."""
    return pathlib.Path(os.environ.get("TINYML_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tinyml"))


if CHECKOUT:
    REPO = _CHECKOUT
    DEVICE_LIB = REPO / "device_lib"             # the `tinyml` MicroPython package lives in here
    BUILD = REPO / "build"
else:
    REPO = DATA                                  # the repository's parts the wheel carries
    DEVICE_LIB = _HERE.parent                    # site-packages: pip put the `tinyml` package beside us
    BUILD = user_cache() / "build"
DEVICE_PROGRAMS = REPO / "device_lib" / "programs"   # programs the host sends to a board's raw REPL
DIST = REPO / "dist"                             # <arch>_<abi>/tinyml_kernels*.mpy (make natmod)
FIRMWARE = REPO / "firmware"
MODELS = REPO / "models"
SHARED_MODELS = (REPO.parent / "shared" / "models") if CHECKOUT else (DATA / "models")
# the native module's architectures, each built by `make natmod` into dist/<arch>_6.3/ and carried by the wheel
ARCHS = ("x64", "armv6m", "armv7m", "armv7emsp", "rv32imc", "xtensawin")


def native_modules():
    """The native module's files in dist/<arch>_6.3/, one per family of kernels (tinyml/backends.py's
    FAMILIES, the TML_IN groups of firmware/kernels/tinyml_kernels.c that firmware/build_natmod.sh
    builds; tests/test_op_table.py checks they agree): tinyml_kernels.mpy (the core), then
    tinyml_kernels_<family>.mpy, which the board imports when a model uses the family."""
    import runpy
    families = runpy.run_path(str(DEVICE_LIB / "tinyml" / "backends.py"))["FAMILIES"]
    return ["tinyml_kernels.mpy"] + ["tinyml_kernels_%s.mpy" % f for f, _ in families]


def hello_world_model():
    """The hello_world int8 model: TFLM's own from ../shared (in a wheel: the copy it carries),
    else the copy in models/."""
    shared = SHARED_MODELS / "tflm" / "hello_world_int8.tflite"
    return str(shared if shared.exists() else MODELS / "hello_world" / "hello_world_int8.tflite")


def device_program(name):
    """A device-side program (device_lib/programs/<name>.py) as sent to a board's raw REPL: its
    source without comment lines and blank lines (fewer bytes on the wire, less to compile there)."""
    lines = (DEVICE_PROGRAMS / (name + ".py")).read_text().splitlines()
    return "".join(line + "\n" for line in lines if line.strip() and not line.lstrip().startswith("#"))
