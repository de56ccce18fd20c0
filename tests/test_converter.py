"""tinyml convert and inspect: what they accept, what they refuse and how they say it."""
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SHARED
from tinyml import planner, tmlfile
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.model.convert import ConvertError, convert
from tinyml_host.model.quantize import quantize_multiplier
from tinyml_host.model.tflite_reader import read_tflite

HELLO = SHARED / "tflm" / "hello_world_int8.tflite"
TINYML = [sys.executable, "-m", "tinyml_host.cli.main"]


def cli(*args, cwd=None):
    return subprocess.run(TINYML + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT / "host_tools"), "PATH": "/usr/bin:/bin"})


def test_float_model_is_refused_with_what_to_do():
    with pytest.raises(ConvertError) as e:
        convert(str(SHARED / "tflm" / "hello_world_float.tflite"))
    assert "float" in str(e.value) and "representative_dataset" in str(e.value)


def test_hybrid_model_is_refused():
    # int8 weights with float activations: dynamic-range ("hybrid") quantization.
    T = tb.Tensor
    model = tb.single_op_model(
        "FULLY_CONNECTED",
        [T((1, 3), dtype="float32", name="x"), T(data=np.ones((2, 3), np.int8), scale=[0.1], name="w")],
        [T((1, 2), dtype="float32", name="y")])
    with pytest.raises(ConvertError) as e:
        convert(model, "hybrid")
    assert "float" in str(e.value) and "TFLITE_BUILTINS_INT8" in str(e.value)


def test_every_unsupported_op_is_named_with_its_index():
    T = tb.Tensor
    tensors = [T((1, 4), scale=0.1, zero_point=0), T((1, 4), scale=0.1, zero_point=0),
               T((1, 4), scale=0.1, zero_point=0)]
    ops = [tb.Op("HASHTABLE_LOOKUP", [0], [1]), tb.Op("CUSTOM:MyOp", [1], [2])]
    with pytest.raises(ConvertError) as e:
        convert(tb.build_model(ops, tensors, [0], [2]), "two_bad")
    msg = str(e.value)
    assert "HASHTABLE_LOOKUP (version 1) at index 0" in msg and "CUSTOM:MyOp (version 1) at index 1" in msg


def test_convert_cli_writes_a_checked_file(tmp_path):
    out = tmp_path / "hw.tml"
    p = cli("convert", HELLO, "-o", out)
    assert p.returncode == 0, p.stderr
    tensors, ops, ins, outs = tmlfile.parse(out.read_bytes())
    assert [op.opcode for op in ops] == [9, 9, 9]
    assert [t.name for t in tensors if not t.const][0] == "serving_default_dense_input:0"
    assert not (tmp_path / "hw.tml.tmp").exists()


def test_convert_cli_error_exit_and_no_output(tmp_path):
    out = tmp_path / "f.tml"
    p = cli("convert", SHARED / "tflm" / "hello_world_float.tflite", "-o", out)
    assert p.returncode == 2 and "tinyml: error:" in p.stderr and "float" in p.stderr
    assert not out.exists()


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"hello, this is not a model" * 4)
    p = cli("convert", bad, "-o", tmp_path / "x.tml")
    assert p.returncode == 2 and "not a TFLite model" in p.stderr


def test_input_zero_point_is_folded_into_the_bias():
    data = convert(str(HELLO))
    tensors, ops, _, _ = tmlfile.parse(data)
    src = read_tflite(str(HELLO))
    fc = src.operators[0]
    x, w, b = (src.tensors[i] for i in fc.inputs)
    bias = tensors[ops[0].inputs[2]]
    folded = np.frombuffer(tmlfile.const_view(data, bias), "<i4")
    np.testing.assert_array_equal(folded, b.data.astype(np.int64) - int(x.zero_point[0]) * w.data.astype(np.int64).sum(axis=1))


def test_constant_offsets_are_aligned():
    data = convert(str(HELLO))
    n_t, t_off = struct.unpack_from("<H", data, 16)[0], struct.unpack_from("<I", data, 24)[0]
    for i in range(n_t):
        flags, doff = struct.unpack_from("<HI", data, t_off + 40 * i + 2)
        if flags & 1:
            assert doff % 4 == 0


@pytest.mark.parametrize("real", [1e-9, 0.000123, 0.25, 0.5, 0.7071, 0.99999999, 1.0, 3.5, 1234.5])
def test_quantize_multiplier_represents_the_real_multiplier(real):
    m, shift = quantize_multiplier(real)
    assert 2 ** 30 <= m < 2 ** 31
    assert abs(m * 2.0 ** (shift - 31) - real) <= real * 2 ** -30


def test_planner_reuses_memory_of_dead_activations():
    tensors, ops, ins, outs = tmlfile.parse(convert(str(HELLO)))
    offsets, size = planner.plan(tensors, ops, ins, outs)
    activations = [t for t in tensors if not t.const]
    assert size < sum(t.nbytes for t in activations)
    assert all((offsets[t.index] >= 0) != t.const for t in tensors)
    life = planner.lifetimes(tensors, ops, ins, outs)
    placed = [t.index for t in activations]
    for a in placed:  # tensors alive at the same time never overlap
        for b in placed:
            if a < b and not (life[a][1] < life[b][0] or life[b][1] < life[a][0]):
                ea, eb = offsets[a] + tensors[a].nbytes, offsets[b] + tensors[b].nbytes
                assert ea <= offsets[b] or eb <= offsets[a]


def test_inspect_prints_the_layer_table():
    p = cli("inspect", HELLO)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("FULLY_CONNECTED") == 3
    assert "288 MACs" in p.stdout and "peak activation RAM" in p.stdout
