"""The model's API on the board (MicroPython's unix port, the device library compiled as a board gets
it): repr says the model, help lists the API, tinyml.usage() prints it, output(k) shows int8 values,
wrong arguments raise a clear error, reset() zeroes the arena."""
import pathlib
import subprocess

import numpy as np

from tinyml_host.board import unix as board_unix
from tinyml_host.model.convert import convert
from tinyml_host.oracle import tflm

ROOT = pathlib.Path(__file__).resolve().parents[1]
HELLO = ROOT.parent / "shared" / "models" / "tflm" / "hello_world_int8.tflite"


def _on_board(tmp_path, code):
    (tmp_path / "hello_world.tml").write_bytes(convert(str(HELLO)))
    return board_unix.exec_script("import tinyml\nm = tinyml.load('hello_world.tml')\n" + code, cwd=str(tmp_path))


def test_repr_says_name_ops_arena_backend(tmp_path):
    out = _on_board(tmp_path, "print(repr(m))\nprint(m.arena_bytes)\n").splitlines()
    assert out[0].startswith("<tinyml.Model hello_world.tml: 3 ops (FULLY_CONNECTED x3), in 1x1, out 1x1, arena ")
    assert ("arena %s B, backend native>" % out[1]) in out[0]


def test_help_and_usage_list_the_api(tmp_path):
    out = _on_board(tmp_path, "help(tinyml.Model)\nprint('--')\ntinyml.usage()\n")
    listed, usage = out.split("--\n")
    for name in ("run", "predict", "invoke", "input_buffer", "output_buffer", "profile", "summary", "reset"):
        assert "  %s -- " % name in listed, name
        assert "m.%s(" % name in usage, name
    assert "tinyml.load(" in usage


def test_output_shows_int8_values_as_tflm_gives_them(tmp_path):
    out = _on_board(tmp_path, "m.input_buffer()[0] = 0x80\nm.invoke()\nprint(list(m.output()))\n"
                              "print(list(m.output_buffer()))\n").splitlines()
    want = int(tflm.tflm_run(str(HELLO), [np.array([[[-128]]], np.int8)])[0].reshape(-1)[0])
    assert eval(out[0]) == [want]
    assert eval(out[1]) == [want & 255]  # the buffer is the arena's bytes, no copy


def test_wrong_arguments_raise_a_clear_error(tmp_path):
    calls = ("m.predict(1, 2)", "m.run(b'1', b'2')", "m.predict([1, 2])", "m.predict('a')", "m.run([300])",
             "m.input_buffer(3)", "m.output_buffer(-1)")
    out = _on_board(tmp_path, "".join("try:\n    %s\nexcept Exception as e:\n    print(type(e).__name__ + ':', e)\n" % c
                                      for c in calls)).splitlines()
    name = "serving_default_dense_input:0"
    assert out == [
        "TypeError: predict() takes one value (a number or a list) per model input: the model has 1 input(s), "
        "predict() got 2",
        "TypeError: the model has 1 input(s), run() got 2",
        "ValueError: input '%s' takes 1 number(s) (shape 1x1), got [1, 2]" % name,
        "ValueError: input '%s' takes 1 number(s) (shape 1x1), got ['a']" % name,
        "ValueError: input '%s' takes int8 values, -128..127: got 300..300 (predict() takes real numbers)" % name,
        "IndexError: the model has 1 input(s): input k is 0..0, not 3",
        "IndexError: the model has 1 output(s): output k is 0..0, not -1"]


def test_reset_zeroes_the_arena(tmp_path):
    out = _on_board(tmp_path, "m.run(bytes([100]))\nprint(sum(m._arena) > 0)\nm.reset()\nprint(sum(m._arena))\n"
                              "print(list(m.run(bytes([100]))) == list(m.run(bytes([100]))))\n").split()
    assert out == ["True", "0", "True"]


def test_docstrings_cost_no_ram_on_the_board():
    """MicroPython keeps no docstrings, from source or from .mpy: the API text costs nothing until usage()."""
    p = subprocess.run([board_unix.micropython_path(), "-c", "def f():\n    'doc'\nprint(hasattr(f, '__doc__'))"],
                       capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "False"
