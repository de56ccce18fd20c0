"""What a model file is, from its bytes (not its name): TFLite, .tml, or a format another tool makes,
which is refused naming the command that turns it into an int8 TFLite model tinyml converts."""
import os
import pathlib
import zipfile

from tinyml_host.errors import ModelError


class FormatError(ModelError, ValueError):
    pass


QUANTIZE_HOW = ("tinyml quantize %s --calibration CALIBRATION.npy -o model.tflite (CALIBRATION.npy: a few "
            "hundred typical inputs, as the float model takes them), then use model.tflite")


def kind(path):
    """'tflite', 'tml', or raises FormatError saying what the file is and how to convert it."""
    p = pathlib.Path(path)
    if p.is_dir():
        if (p / "saved_model.pb").exists() or (p / "saved_model.pbtxt").exists():
            raise FormatError("%s is a TensorFlow SavedModel (a float model), not a TFLite model" % p,
                              QUANTIZE_HOW % p)
        raise FormatError("%s is a directory, not a model file" % p,
                          "name the .tflite file (or a .tml made by tinyml convert)")
    if not p.exists():
        raise FormatError("%s: no such file" % p, "check the path")
    with open(p, "rb") as f:
        head = f.read(64)
    if head[4:8] == b"TFL3":
        return "tflite"
    if head[:4] == b"TMLM":
        return "tml"
    what = describe(p, head)
    if what is None:
        return "tml" if p.suffix == ".tml" else "tflite"  # their readers say what is wrong with it
    raise FormatError("%s is %s, not a TFLite model" % (p, what), QUANTIZE_HOW % p)


def describe(p, head):
    """A model format of another tool, from the first bytes: a phrase, or None when not one of them."""
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "a Keras HDF5 model (.h5, a float model)"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(p) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError):
            return None
        if "config.json" in names and any(n.startswith("model.weights") for n in names):
            return "a Keras 3 model (.keras, a float model)"
        return None
    # ONNX and SavedModel's saved_model.pb are protobuf: ONNX starts with ir_version (field 1, varint)
    # and names its producer (field 2), a SavedModel with its schema version (field 1) then meta graphs
    if head[:1] == b"\x08" and (b"\x12" in head[2:4]) and (p.suffix == ".onnx" or b"pytorch" in head
                                                            or b"onnx" in head or b"keras" in head):
        return "an ONNX model (a float model)"
    if p.name == "saved_model.pb":
        return "a TensorFlow SavedModel's graph (a float model): name its directory %s" % (p.parent or os.curdir)
    return None
