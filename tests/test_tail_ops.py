"""The long tail of TFLM's int8 builtin ops (issue 12) that tinyml runs as its own ops: single-op
models with random shapes and parameters (tests/tail_models.py), converted, run by every backend on
the real MicroPython unix port and compared byte for byte with TFLM (tflite-micro) run in the same
test; all of them in one model on qemu-m3; and the models TFLM refuses, refused by the converter."""
import pathlib

import numpy as np
import pytest

import tail_models
from conftest import BACKENDS, verify_on_board
from test_layout_ops import run_everywhere
from tinyml_host.board import unix as board_unix
from tinyml_host.errors import BoardError
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.oracle import tflm as oracle

T = tb.Tensor
CASES_PER_OP = 6


@pytest.mark.parametrize("name", sorted(tail_models.CASES))
def test_tail_op_matches_tflm(tmp_path, name):
    """Several random models of the op, each run by TFLM and by the three backends."""
    for case in range(CASES_PER_OP):
        rng = np.random.default_rng([sorted(tail_models.CASES).index(name), case, 12])
        model, inputs = tail_models.CASES[name](rng)
        run_everywhere(tmp_path, model, inputs)


def test_zeros_like_writes_zeros_not_the_zero_point(tmp_path):
    """TFLM's ZEROS_LIKE writes 0 whatever the output's zero point: so does tinyml."""
    model = tb.single_op_model("ZEROS_LIKE", [T((2, 3), scale=0.1, zero_point=40)], [T((2, 3), scale=0.1, zero_point=40)])
    x = np.arange(-6, 6, dtype=np.int8).reshape(2, 2, 3)
    expected = run_everywhere(tmp_path, model, [x])
    assert not expected[0].any()


def test_every_tail_op_in_one_model_matches_tflm(tmp_path):
    """The board model (every op on one input) on the unix port: what the qemu-m3 test below runs."""
    model, inputs = tail_models.board_model(np.random.default_rng(12))
    run_everywhere(tmp_path, model, inputs)


def test_every_tail_op_on_qemu_m3(qemu_m3, tmp_path, capsys):
    """The board model deployed to the emulated Cortex-M3 and checked against TFLM on the host
    (`tinyml verify`) with the native and the viper kernels; then an Embedding's lookup of int32 ids
    that are the model's input."""
    model, inputs = tail_models.board_model(np.random.default_rng(12))
    verify_on_board(qemu_m3, model, inputs[0], "tail_ops", tmp_path, capsys)
    # a Keras Embedding's lookup, its int32 ids the model's input (over the serial link as int32)
    model, inputs = tail_models.embedding_lookup(np.random.default_rng(3))
    assert len(inputs[0]) == 6
    verify_on_board(qemu_m3, model, inputs[0], "embedding_lookup", tmp_path, capsys, ("native",))


def _i32(v):
    return T(data=np.asarray(v, np.int32), dtype="int32")


def _q(shape):
    return T(shape, scale=0.1, zero_point=3)


REFUSED = {  # models TFLM refuses when it runs them, and what the converter says instead
    "gather_nd indices name row 3, outside the 3 rows": ("GATHER_ND", [_q((3, 4)), _i32([[2], [3]])], [_q((2, 4))]),
    "gather_nd indices name row -1, outside": ("GATHER_ND", [_q((3, 4)), _i32([[-1]])], [_q((1, 4))]),
    "gather_nd indices name row 6, outside the 6 rows": ("GATHER_ND", [_q((3, 2, 4)), _i32([[2, 2]])], [_q((1, 4))]),
    "not consecutive": ("REVERSE_V2", [_q((2, 3, 4)), _i32([0, 2])], [_q((2, 3, 4))]),
    "does not broadcast": ("BROADCAST_TO", [_q((2, 3)), _i32([4, 3])], [_q((4, 3))]),
}


@pytest.mark.parametrize("message", sorted(REFUSED))
def test_what_tflm_refuses_the_converter_refuses_saying_why(message):
    """Out-of-range indices and axes in a model (untrusted input): TFLM fails on them; the converter
    refuses the model, naming the op and what is wrong, before any board sees it."""
    name, ins, outs = REFUSED[message]
    model = tb.single_op_model(name, ins, outs)
    x = np.zeros((1,) + ins[0].shape, np.int8)
    with pytest.raises(Exception):
        oracle.tflm_run(model, [x])
    with pytest.raises(ConvertError, match=message) as e:
        convert(model, "m.tflite")
    assert name in str(e.value)


def test_a_cast_to_a_narrower_type_is_refused_saying_what_tinyml_casts():
    """An ARG_MAX's int32 index cast to int8 (TFLM's static_cast): tinyml casts from int8 only."""
    tensors = [_q((2, 3)), _i32([1]), T((2,), dtype="int32"), T((2,), dtype="int8")]
    model = tb.build_model([tb.Op("ARG_MAX", [0, 1], [2], {"output_type": "INT32"}), tb.Op("CAST", [2], [3])],
                           tensors, [0], [3])
    with pytest.raises(ConvertError, match="casts int8 to int8, int16, int32 or float32"):
        convert(model, "m.tflite")


def test_an_id_outside_the_table_fails_the_inference_saying_so(tmp_path):
    """A lookup's ids are the model's input (untrusted): an id outside the table fails TFLM's
    inference, and tinyml's on every backend with an error naming the id, never a read outside it."""
    table = T(data=np.arange(12, dtype=np.int8).reshape(4, 3), scale=0.1, zero_point=0)
    model = tb.single_op_model("EMBEDDING_LOOKUP", [T((2,), dtype="int32"), table], [_q((2, 3))])
    tml = tmp_path / "m.tml"
    tml.write_bytes(convert(model, "m.tflite"))
    for bad in (4, -1, 2 ** 31 - 1):
        ids = np.array([[1, bad]], np.int32)
        with pytest.raises(RuntimeError):
            oracle.tflm_run(model, [ids])
        for backend in BACKENDS:
            with pytest.raises(BoardError, match=r"lookup: the ids of output row 1 name row %d, outside the 4 rows" % bad):
                board_unix.run_model(tml, [ids], backend)
    ok = np.array([[3, 0]], np.int32)
    assert board_unix.run_model(tml, [ok], "python")[0][0].tolist() == [[9, 10, 11, 0, 1, 2]]


def test_gather_nd_checks_the_row_its_indices_name_as_tflm(tmp_path):
    """GATHER_ND's indices the model takes as input: TFLM checks only the row (i0, i1) names in the
    input's first two dimensions flattened, so (0, 4) of a (3, 4) grid reads row 4, (1, 0); a row
    outside the 12 fails TFLM's inference and tinyml's, on every backend, naming it."""
    model = tb.single_op_model("GATHER_ND", [_q((3, 4, 2)), T((1, 2), dtype="int32")], [_q((1, 2))])
    tml = tmp_path / "m.tml"
    tml.write_bytes(convert(model, "m.tflite"))
    x = np.arange(24, dtype=np.int8).reshape(1, 3, 4, 2)
    past = np.array([[[0, 4]]], np.int32)
    expected = oracle.tflm_run(model, [x, past])[0]
    assert expected.tolist() == [[[8, 9]]]
    for backend in BACKENDS:
        assert board_unix.run_model(tml, [x, past], backend)[0][0].tolist() == [[8, 9]]
    outside = np.array([[[2, 4]]], np.int32)
    with pytest.raises(RuntimeError):
        oracle.tflm_run(model, [x, outside])
    for backend in BACKENDS:
        with pytest.raises(BoardError, match=r"lookup: the ids of output row 0 name row 12, outside the 12 rows"):
            board_unix.run_model(tml, [x, outside], backend)


def test_a_constant_id_outside_the_table_is_refused_by_the_converter():
    table = T(data=np.zeros((4, 3), np.int8), scale=0.1, zero_point=0)
    model = tb.build_model([tb.Op("EMBEDDING_LOOKUP", [0, 1], [3]), tb.Op("ADD", [3, 2], [4])],
                           [_i32([0, 4]), table, _q((2, 3)), _q((2, 3)), _q((2, 3))], [2], [4])
    with pytest.raises(ConvertError, match=r"an id out of range 0..3"):
        convert(model, "m.tflite")


def test_run_takes_a_list_of_int32_ids_on_micropython(tmp_path):
    """model.run() on the real MicroPython unix port takes an Embedding's int32 ids as a list of ints
    (as it takes int8 and int16 inputs), and refuses an id past int32 saying so."""
    import subprocess
    table = T(data=np.arange(12, dtype=np.int8).reshape(4, 3), scale=0.1, zero_point=0)
    model = tb.single_op_model("EMBEDDING_LOOKUP", [T((2,), dtype="int32"), table], [_q((2, 3))])
    tml = tmp_path / "m.tml"
    tml.write_bytes(convert(model, "m.tflite"))
    root = pathlib.Path(__file__).resolve().parents[1]
    script = ("import sys\nsys.path.insert(0, %r)\nimport tinyml\nm = tinyml.load(%r, 'python')\n"
              "print(list(m.run([3, 1])))\ntry:\n    m.run([0, 2 ** 31])\nexcept ValueError as e:\n    print(e)\n"
              % (str(root / "device_lib"), str(tml)))
    r = subprocess.run([str(root / ".venv" / "bin" / "micropython"), "-c", script], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "[9, 10, 11, 3, 4, 5]"
    assert "takes int32 values" in lines[1], lines
