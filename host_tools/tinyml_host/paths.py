"""Where things are: the repository, the device library, the built native modules, the models
beside the repository (../shared). The bottom of the host package with errors.py: it imports nothing
of tinyml_host."""
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
DEVICE_LIB = REPO / "device_lib"                 # the `tinyml` MicroPython package lives in here
DEVICE_PROGRAMS = DEVICE_LIB / "programs"        # programs the host sends to a board's raw REPL
DIST = REPO / "dist"                             # <arch>_<abi>/tinyml_kernels.mpy (make natmod)
BUILD = REPO / "build"
FIRMWARE = REPO / "firmware"
MODELS = REPO / "models"
SHARED_MODELS = REPO.parent / "shared" / "models"


def hello_world_model():
    """The hello_world int8 model: TFLM's own from ../shared, else the copy in models/."""
    shared = SHARED_MODELS / "tflm" / "hello_world_int8.tflite"
    return str(shared if shared.exists() else MODELS / "hello_world" / "hello_world_int8.tflite")


def device_program(name):
    """A device-side program (device_lib/programs/<name>.py) as sent to a board's raw REPL: its
    source without comment lines and blank lines (fewer bytes on the wire, less to compile there)."""
    lines = (DEVICE_PROGRAMS / (name + ".py")).read_text().splitlines()
    return "".join(line + "\n" for line in lines if line.strip() and not line.lstrip().startswith("#"))
