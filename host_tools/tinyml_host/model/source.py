"""A model path as the user names it, to .tml bytes once per command: a .tflite is converted here
(in memory), a .tml is read. Every command that takes a MODEL goes through ModelSource, so run,
verify and bench convert once, and deploy sends the bytes that were checked."""
import os
import pathlib


class ModelSource:
    """path: the file named; data: its .tml bytes; remote: its name on a board (/<stem>.tml);
    inputs, outputs, ops: as the device's own reader (tinyml.tmlfile) parses them."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        from tinyml_host.model import recognize
        self.kind = recognize.kind(self.path)  # refuses Keras, SavedModel and ONNX files, saying how to convert
        if self.kind == "tflite":
            from tinyml_host.model.convert import convert
            self.data = convert(str(self.path))
            self.remote = "/" + self.path.stem + ".tml"
        else:
            self.data = self.path.read_bytes()
            self.remote = "/" + self.path.name
        self._parsed = None

    @property
    def is_tflite(self):
        return self.kind == "tflite"

    def _parse(self):
        if self._parsed is None:
            from tinyml import tmlfile
            tensors, ops, ins, outs = tmlfile.parse(self.data, str(self.path))
            self._parsed = [tensors[i] for i in ins], [tensors[i] for i in outs], ops
        return self._parsed

    @property
    def inputs(self):
        return self._parse()[0]

    @property
    def outputs(self):
        return self._parse()[1]

    @property
    def ops(self):
        return self._parse()[2]

    def __fspath__(self):
        return os.fspath(self.path)


def model_source(model):
    """A ModelSource for a path, or the ModelSource given."""
    return model if isinstance(model, ModelSource) else ModelSource(model)


def tml_bytes(path):
    """A model path, .tml or .tflite (converted in memory), as .tml bytes."""
    return ModelSource(path).data
