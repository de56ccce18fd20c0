"""tinyml_host.model.tflite_reader on the shared real models and on models built by tflite_build,
checked against TFLite's generated schema code and TFLM's interpreter (tests/oracle.py)."""

import pathlib

import flatbuffers
import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from tinyml_host.oracle import tflm as oracle
from tinyml_host.oracle import tflite_build as tb
from tinyml_host.oracle.tflite_build import Op, Tensor
from tinyml_host.model.tflite_reader import OPTIONS, TfliteError, builtin_names, read_tflite

MODELS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "models"
REAL_MODELS = ["tflm/hello_world_int8.tflite", "tflm/hello_world_float.tflite",
               "tflm/micro_speech_quantized.tflite", "tflm/person_detect.tflite",
               "tflm/audio_preprocessor_int8.tflite", "tinymaix/mnist_valid_q.tflite"]
GOLDEN = {"hello_world_int8": "tflm", "micro_speech_quantized": "tflm", "person_detect": "tflm",
          "mnist_valid_q": "tinymaix"}


def _camel(snake):
    return "".join(w.capitalize() if i else w for i, w in enumerate(snake.split("_")))


# --- real models -------------------------------------------------------------------------------

def test_hello_world_int8():
    m = read_tflite(MODELS / "tflm/hello_world_int8.tflite")
    assert m.version == 3 and m.n_subgraphs == 1
    assert [op.name for op in m.operators] == ["FULLY_CONNECTED"] * 3
    assert all(op.opcode == 9 for op in m.operators)
    x, y = m.tensors[m.inputs[0]], m.tensors[m.outputs[0]]
    assert x.shape == (1, 1) and x.dtype == np.int8 and x.type_code == 9 and x.is_quantized
    assert y.shape == (1, 1) and y.dtype == np.int8 and x.data is None
    fc = m.operators[0]
    w, b = m.tensors[fc.inputs[1]], m.tensors[fc.inputs[2]]
    assert w.dtype == np.int8 and w.data.shape == w.shape == (16, 1)
    assert b.dtype == np.int32 and b.data.shape == (16,)
    assert fc.options == {"fused_activation_function": "RELU", "weights_format": "DEFAULT",
                          "keep_num_dims": False, "asymmetric_quantize_inputs": False}
    assert m.operators[2].options["fused_activation_function"] == "NONE"


def test_hello_world_float():
    m = read_tflite(MODELS / "tflm/hello_world_float.tflite")
    assert [op.name for op in m.operators] == ["FULLY_CONNECTED"] * 3
    assert all(t.dtype == np.float32 and t.type_code == 0 for t in m.tensors)
    assert not m.tensors[m.inputs[0]].is_quantized
    assert m.tensors[m.operators[0].inputs[1]].data.dtype == np.float32


def test_micro_speech():
    m = read_tflite(MODELS / "tflm/micro_speech_quantized.tflite")
    assert [op.name for op in m.operators] == ["RESHAPE", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
                                               "SOFTMAX"]
    assert m.tensors[m.inputs[0]].shape == (1, 1960)
    assert m.tensors[m.outputs[0]].shape == (1, 4)
    assert m.operators[0].options == {"new_shape": [-1, 49, 40, 1]}
    assert m.operators[1].options == {
        "padding": "SAME", "stride_w": 2, "stride_h": 2, "depth_multiplier": 8,
        "fused_activation_function": "RELU", "dilation_w_factor": 1, "dilation_h_factor": 1}
    assert m.operators[3].options == {"beta": 1.0}


def test_person_detect_parses_despite_bad_quantized_dimension():
    m = read_tflite(MODELS / "tflm/person_detect.tflite")
    names = {op.name for op in m.operators}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX"} <= names
    x = m.tensors[m.inputs[0]]
    assert x.shape == (1, 96, 96, 1) and x.dtype == np.int8
    assert m.tensors[m.outputs[0]].shape == (1, 2)
    # 1-D bias tensors claiming quantized_dimension 3 are kept as they are
    odd = [t for t in m.tensors if t.is_quantized and t.quantized_dimension >= len(t.shape)]
    assert odd and all(len(t.shape) == 1 and t.dtype == np.int32 for t in odd)
    conv = next(op for op in m.operators if op.name == "CONV_2D")
    w = m.tensors[conv.inputs[1]]
    assert len(w.scale) == w.shape[0] == len(w.zero_point)  # per-channel weights
    assert conv.options["padding"] == "SAME"


def test_mnist_and_custom_ops():
    m = read_tflite(MODELS / "tinymaix/mnist_valid_q.tflite")
    assert m.tensors[m.inputs[0]].shape == (1, 28, 28, 1)
    assert [op.name for op in m.operators][-3:] == ["MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    assert m.operators[3].options == {"keep_dims": False}
    audio = read_tflite(MODELS / "tflm/audio_preprocessor_int8.tflite")
    assert "CUSTOM:SignalWindow" in [op.name for op in audio.operators]
    assert audio.tensors[audio.inputs[0]].dtype == np.int16


@pytest.mark.parametrize("name", REAL_MODELS)
def test_matches_generated_schema_code(name):
    """Everything we read agrees with TFLite's own generated reader (object API)."""
    buf = (MODELS / name).read_bytes()
    m = read_tflite(buf)
    ref = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
    g = ref.subgraphs[0]
    assert m.version == ref.version and m.n_subgraphs == len(ref.subgraphs)
    assert m.inputs == list(g.inputs) and m.outputs == list(g.outputs)
    assert len(m.tensors) == len(g.tensors) and len(m.operators) == len(g.operators)
    for t, rt in zip(m.tensors, g.tensors):
        assert t.shape == tuple(rt.shape if rt.shape is not None else ())
        assert t.type_code == rt.type and t.name == (rt.name or b"").decode()
        q = rt.quantization
        if q is not None and q.scale is not None:
            np.testing.assert_array_equal(t.scale, q.scale)
            np.testing.assert_array_equal(t.zero_point, q.zeroPoint)
            assert t.quantized_dimension == q.quantizedDimension
        data = ref.buffers[rt.buffer].data
        if data is not None and len(data):
            assert t.data.tobytes() == bytes(data)
        else:
            assert t.data is None
    for op, rop in zip(m.operators, g.operators):
        code = ref.operatorCodes[rop.opcodeIndex]
        assert op.opcode == max(code.builtinCode, code.deprecatedBuiltinCode)
        assert op.version == code.version
        assert op.inputs == list(rop.inputs) and op.outputs == list(rop.outputs)
        for key, value in op.options.items():
            expected = getattr(rop.builtinOptions, _camel(key))
            if isinstance(value, list):
                assert value == list(expected)
            elif not isinstance(value, str):  # enums are checked by name in the tests above
                assert value == expected, (op, key)


# --- bad files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"TFL3", b"\x89PNG\r\n\x1a\n" + bytes(100),
                                  b"hello, this is not a model at all"])
def test_not_a_tflite_file(data):
    with pytest.raises(TfliteError, match="not a TFLite model"):
        read_tflite(data)


def test_error_names_the_file(tmp_path):
    path = tmp_path / "notes.tflite"
    path.write_bytes(b"just some text, no flatbuffer")
    with pytest.raises(TfliteError, match="notes.tflite: not a TFLite model"):
        read_tflite(path)
    assert issubclass(TfliteError, ValueError)


@pytest.mark.parametrize("name", ["tflm/hello_world_int8.tflite", "tinymaix/mnist_valid_q.tflite"])
def test_truncated_file(name):
    buf = (MODELS / name).read_bytes()
    for cut in range(8, len(buf), 97):
        with pytest.raises(TfliteError, match="truncated"):
            read_tflite(buf[:cut])


# --- oracle on the real models -----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_oracle_reproduces_golden_outputs(name):
    x = np.load(MODELS / "golden" / (name + ".input0.npy"))
    expected = np.load(MODELS / "golden" / (name + ".tflm_output0.npy"))
    (out,) = oracle.tflm_run(MODELS / GOLDEN[name] / (name + ".tflite"), [x])
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out, expected)


def test_oracle_arena_bytes():
    assert 0 < oracle.tflm_arena_bytes(MODELS / "tflm/hello_world_int8.tflite") < 4096
    assert oracle.tflm_arena_bytes(MODELS / "tflm/person_detect.tflite") > 50_000


# --- built models: accepted by TFLM, read back by us -------------------------------------------

def _fc_reference(x, w, bias, in_scale, in_zp, w_scales, out_scale, out_zp):
    acc = (x.astype(np.int64) - in_zp) @ w.T.astype(np.int64) + bias
    y = np.round(acc * (in_scale * np.asarray(w_scales, np.float64)) / out_scale) + out_zp
    return np.clip(y, -128, 127)


@pytest.mark.parametrize("w_scales", [[0.01], [0.01, 0.02, 0.004, 0.015]], ids=["tensor", "channel"])
def test_fully_connected_model(w_scales):
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, (4, 6)).astype(np.int8)
    bias = rng.integers(-2000, 2000, 4).astype(np.int32)
    model = tb.fully_connected_model(w, bias, 0.05, -3, w_scales, 0.25, 7, batches=2)
    x = rng.integers(-128, 128, (20, 2, 6)).astype(np.int8)
    (y,) = oracle.tflm_run(model, [x])
    assert y.shape == (20, 2, 4) and y.dtype == np.int8
    ref = _fc_reference(x, w, bias, 0.05, -3, w_scales, 0.25, 7)
    assert np.abs(y - ref).max() <= 1  # TFLM's fixed-point multiplier may round differently

    m = read_tflite(model)
    assert [op.name for op in m.operators] == ["FULLY_CONNECTED"]
    assert m.operators[0].version == (12 if len(w_scales) > 1 else 4)
    xt, wt, bt = (m.tensors[i] for i in m.operators[0].inputs)
    yt = m.tensors[m.outputs[0]]
    assert m.inputs == [0] and xt.shape == (2, 6) and yt.shape == (2, 4)
    assert xt.scale.tolist() == [np.float32(0.05)] and xt.zero_point.tolist() == [-3]
    assert yt.zero_point.tolist() == [7]
    np.testing.assert_array_equal(wt.data, w)
    np.testing.assert_array_equal(bt.data, bias)
    np.testing.assert_array_equal(wt.scale, np.float32(w_scales))
    np.testing.assert_allclose(bt.scale, np.float32(0.05) * np.float32(w_scales))
    assert wt.quantized_dimension == 0 and not wt.zero_point.any() and not bt.zero_point.any()


def test_fully_connected_relu():
    w = np.array([[10, -10]], np.int8)
    model = tb.fully_connected_model(w, [0], 0.1, 0, [0.1], 0.1, -128, activation="RELU")
    (y,) = oracle.tflm_run(model, [np.array([[[5, 50]], [[50, 5]]], np.int8)])
    assert y[:, 0, 0].tolist() == [-128, -83]  # real -4.5 clamps at 0 (code -128); 4.5 is 45 steps
    assert read_tflite(model).operators[0].options["fused_activation_function"] == "RELU"


def test_softmax_model():
    model = tb.softmax_model(5, 0.1, 2, rows=3)
    x = np.random.default_rng(2).integers(-128, 128, (4, 3, 5)).astype(np.int8)
    (y,) = oracle.tflm_run(model, [x])
    p = np.exp((x.astype(np.float64) - 2) * 0.1)
    p /= p.sum(axis=-1, keepdims=True)
    assert np.abs((y.astype(np.int32) + 128) / 256 - p).max() < 0.01
    m = read_tflite(model)
    assert m.operators[0].name == "SOFTMAX" and m.operators[0].options == {"beta": 1.0}
    y_t = m.tensors[m.outputs[0]]
    assert y_t.shape == (3, 5) and y_t.scale.tolist() == [1 / 256] and y_t.zero_point[0] == -128


def test_reshape_model():
    model = tb.reshape_model((1, 6), (2, 3), 0.5, -1)
    x = np.arange(12, dtype=np.int8).reshape(2, 1, 6)
    (y,) = oracle.tflm_run(model, [x])
    np.testing.assert_array_equal(y, x.reshape(2, 2, 3))
    m = read_tflite(model)
    op = m.operators[0]
    assert op.name == "RESHAPE" and op.options == {"new_shape": [2, 3]} and m.inputs == [0]
    shape = m.tensors[op.inputs[1]]
    assert shape.dtype == np.int32 and shape.data.tolist() == [2, 3] and not shape.is_quantized


def test_float_model():
    model = tb.float_model(w=[[2.0, -1.0]], bias=[0.5], batches=1)
    (y,) = oracle.tflm_run(model, [np.array([[[1.0, 3.0]]], np.float32)])
    assert y.tolist() == [[[-0.5]]]
    m = read_tflite(model)
    assert all(t.dtype == np.float32 and not t.is_quantized for t in m.tensors)


def test_unsupported_and_custom_ops():
    ids = Tensor((3,), dtype="int32")
    table = Tensor(data=np.zeros((10, 4), np.int8), scale=0.1)
    model = tb.single_op_model("EMBEDDING_LOOKUP", [ids, table], [Tensor((3, 4), scale=0.1)])
    m = read_tflite(model)
    assert m.operators[0].name == "EMBEDDING_LOOKUP" and m.operators[0].opcode == 7
    assert m.inputs == [0]  # the constant table is not a model input

    x = Tensor((1, 4), scale=0.1)
    custom = tb.single_op_model("CUSTOM:MyOp", [x], [Tensor((1, 4), scale=0.1)],
                                custom_options=b"\x01\x02")
    op = read_tflite(custom).operators[0]
    assert (op.name, op.opcode, op.custom_options) == ("CUSTOM:MyOp", 32, b"\x01\x02")

    gelu = read_tflite(tb.single_op_model("GELU", [x], [Tensor((1, 4), scale=0.1)]))
    assert gelu.operators[0].opcode == 150 and gelu.operators[0].name == "GELU"  # code > 127


def test_every_options_table_round_trips():
    """Each options table the reader decodes, written with non-default values by tflite_build."""
    op_for = {}
    for name in builtin_names().values():
        op_for.setdefault(tb.options_type_for(name), name)
    fake = {"act": "RELU6", "pad": "VALID", "wfmt": "SHUFFLED4x16INT8", "type": "INT64",
            "f32": 0.5, "ivec": [1, -1, 3], "mpad": "SYMMETRIC"}
    for table, fields in OPTIONS.values():
        options = {}
        for fid, spec in enumerate(fields.split()):
            key, kind = spec.split(":")
            if key.startswith("_"):  # deprecated: the reader skips it
                continue
            options[key] = fake.get(kind, {"i32": 3 + fid, "bool": key != "pot_scale_int16"}.get(kind))
        x = Tensor((1, 4), scale=0.1)
        model = tb.build_model([Op(op_for[table], [0], [1], options)], [x, x], [0], [1])
        assert read_tflite(model).operators[0].options == options, table


def test_offset_buffers():
    """Buffers stored after the flatbuffer (offset/size, as for >2 GB models) read like inline ones."""
    w = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    inline = tb.fully_connected_model(w, [1, 2, 3], 0.1, 0, [0.01], 0.05, 0)
    ref = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(inline, 0))
    blobs = [(b, bytes(bytearray(b.data))) for b in ref.buffers if b.data is not None]
    for b, raw in blobs:
        b.data, b.offset, b.size = None, 1 << 40, len(raw)  # placeholder, same encoded size

    def pack():
        builder = flatbuffers.Builder(1024)
        builder.Finish(ref.Pack(builder), file_identifier=b"TFL3")
        return bytearray(builder.Output())

    end = len(pack())
    for b, raw in blobs:
        b.offset = end = (end + 15) // 16 * 16
        end += len(raw)
    data = pack()
    for b, raw in blobs:
        data += bytes(b.offset - len(data)) + raw
    m = read_tflite(bytes(data))
    np.testing.assert_array_equal(m.tensors[1].data, w)
    assert m.tensors[2].data.tolist() == [1, 2, 3]
    with pytest.raises(TfliteError, match="truncated"):
        read_tflite(bytes(data[:-4]))
