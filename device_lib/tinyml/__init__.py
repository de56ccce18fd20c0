# tinyml: run int8 TFLite models, converted to .tml by the host's `tinyml convert`, on MicroPython.
#   m = tinyml.load('hello.tml'); m.summary(); m.run(x)
# MicroPython keeps no docstrings (neither from .py nor .mpy): on a board, tinyml.usage() prints the API.
import gc

gc.collect()  # what the program left before this import is freed, so the library packs low in the heap
from tinyml.model import Model  # noqa: E402
from tinyml.tmlfile import ModelFileError  # noqa: E402

__version__ = "0.1.0"

SMALL_MODEL = 32 * 1024  # files up to this size are read into RAM whole by default
DEFAULT_WINDOW = 8 * 1024


def load(path, backend=None, window=-1):
    """Loads a .tml model from a file path (or bytes).
    backend: None picks native, else viper, else python; 'native', 'viper' or 'python' forces one.
    window: bytes of RAM for weights streamed from the file, a run of output channels at a time;
    None reads the whole model into RAM; by default small models are read whole and larger ones
    stream through 8 KB."""
    if isinstance(path, (bytes, bytearray)):
        return Model(path, backend)
    gc.collect()  # the file (and a board's file buffer) lives as long as the model: made low in the heap,
    f = open(path, "rb")  # after what the caller left is freed, not in the middle of the arena's free space
    size = f.seek(0, 2)
    whole = window is None or (window == -1 and size <= SMALL_MODEL)
    if whole:
        try:
            buf = bytearray(size)  # one block of the file's size (read() would grow one, copy by copy)
        except MemoryError:
            if window is None:
                f.close()
                raise
            gc.collect()  # a small model on a heap with no block of its size: its weights stream instead
            whole = False
    if whole:
        f.seek(0)
        f.readinto(buf)
        f.close()
        return Model(buf, backend, path)
    return Model(f, backend, path, DEFAULT_WINDOW if window == -1 else window)


def usage():
    """Prints the API (help(tinyml.Model) lists the methods by name)."""
    from tinyml.about import usage
    usage(__version__)
