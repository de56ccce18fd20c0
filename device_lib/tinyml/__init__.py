# tinyml: run int8 TFLite models, converted to .tml by the host's `tinyml convert`, on MicroPython.
#   m = tinyml.load('hello.tml'); m.summary(); m.run(x)
from tinyml.model import Model
from tinyml.tmlfile import ModelFileError

__version__ = "0.1.0"


def load(path, backend=None):
    """Loads a .tml model from a file path (or bytes). backend: None picks native, else viper, else
    python; 'native', 'viper' or 'python' forces one."""
    if isinstance(path, (bytes, bytearray)):
        return Model(path, backend)
    with open(path, "rb") as f:
        buf = f.read()
    return Model(buf, backend, path)
