"""What a user meets with a model tinyml cannot take (issue 12): a float model of another tool is
recognised by its bytes and the message names the command that converts it; an op tinyml lacks is
named with the layer that usually makes it and what to use instead; `tinyml inspect` still shows the
layer table of such a model, marking the ops it lacks."""
import zipfile

import pytest

from conftest import ROOT
from tinyml_host.cli import main as cli
from tinyml_host.model import op_params
from tinyml_host.model.convert import SUPPORTED, ConvertError, convert
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor


def refusal(capsys, *args):
    capsys.readouterr()
    assert cli.main([str(a) for a in args]) == 2
    return capsys.readouterr()


def keras_file(path):
    with zipfile.ZipFile(path, "w") as z:  # what Keras 3's model.save("x.keras") writes
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", '{"class_name": "Sequential"}')
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return path


@pytest.mark.parametrize("kind", ["onnx", "h5", "keras", "savedmodel", "h5-named-tflite"])
def test_a_float_model_of_another_tool_is_recognised_by_its_bytes(tmp_path, capsys, kind):
    if kind == "onnx":
        path, what = ROOT / "models" / "digits" / "digits_cnn.onnx", "is an ONNX model"
    elif kind.startswith("h5"):
        path = tmp_path / ("model.tflite" if kind == "h5-named-tflite" else "model.h5")
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(504))
        what = "is a Keras HDF5 model"
    elif kind == "keras":
        path, what = keras_file(tmp_path / "model.keras"), "is a Keras 3 model"
    else:
        path, what = tmp_path / "saved", "is a TensorFlow SavedModel"
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"\x08\x01")
    for command in ("convert", "inspect"):
        err = refusal(capsys, command, path).err
        assert what in err and "fix: tinyml quantize %s --calibration" % path in err, err


def exp_model():
    """An EXP (an op tinyml lacks) before a SOFTMAX (one it runs)."""
    tensors = [T((1, 8), scale=0.1, zero_point=0), T((1, 8), scale=16 / 256, zero_point=127),
               T((1, 8), scale=1 / 256, zero_point=-128)]
    return tb.build_model([tb.Op("EXP", [0], [1]), tb.Op("SOFTMAX", [1], [2], {"beta": 1.0})],
                          tensors, [0], [2])


def test_advice_is_only_for_ops_tinyml_lacks():
    """An op that comes to run must leave op_params.ADVICE, or inspect would call it unsupported."""
    assert sorted(set(op_params.ADVICE) & SUPPORTED) == []


def test_an_op_tinyml_lacks_is_refused_naming_the_layer_and_its_replacement():
    with pytest.raises(ConvertError) as e:
        convert(exp_model(), "m")
    assert "EXP (version 1) at index 0: tf.exp or torch.exp; use a Softmax or Sigmoid" in str(e.value)
    assert "fix: change the layers named above; tinyml runs" in str(e.value)


@pytest.mark.parametrize("op, advice", [("FlexErf", "TFLITE_BUILTINS_INT8"), ("SignalWindow", "tinyml.preprocess"),
                                        ("MyOp", "a custom op, registered by the program")])
def test_a_custom_op_is_refused_saying_what_to_do(op, advice):
    m = tb.single_op_model("CUSTOM:" + op, [T((1, 4), dtype="int8", scale=0.1)], [T((1, 4), scale=0.1)])
    with pytest.raises(ConvertError, match=r"CUSTOM:%s \(version 1\) at index 0: .*%s" % (op, advice)):
        convert(m, "m")


def test_inspect_shows_the_layers_of_a_model_it_cannot_run(tmp_path, capsys):
    path = tmp_path / "m.tflite"
    path.write_bytes(exp_model())
    r = refusal(capsys, "inspect", path)
    lines = r.out.split("\n")
    assert any("EXP v1" in ln and "NO: tf.exp" in ln for ln in lines), r.out
    assert any("SOFTMAX v1" in ln and ln.rstrip().endswith("yes") for ln in lines), r.out
    assert "ops tinyml cannot run" in r.err
