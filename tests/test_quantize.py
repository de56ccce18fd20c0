"""`tinyml quantize` (issue 15): float models made without TensorFlow (ONNX graphs built with
onnx.helper, a scikit-learn MLPClassifier through skl2onnx, a PyTorch CNN exported to ONNX by
models/digits/train.py) become int8 TFLite models that TFLM runs, that tinyml runs with TFLM's bytes on
the real unix port and on qemu-m3, and that agree with the float model."""
import importlib.util
import zlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT
from tinyml_host.board import unix as board_unix
from tinyml_host.model.convert import convert
from tinyml_host.model.tflite_reader import read_tflite
from tinyml_host.optimize.command import quantize, validate
from tinyml_host.optimize.float_graph import QuantizeError
from tinyml_host.oracle import tflm

DIGITS = ROOT / "models" / "digits"
rng = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def same_data_in_any_order(request):
    """Each test draws its weights and data from its own seed, however the tests are selected."""
    global rng
    rng = np.random.default_rng(zlib.crc32(request.node.name.encode()))


def const(name, a):
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def make(nodes, inits, in_shape, outputs, name="g", opset=17):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + list(in_shape))
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
    graph = helper.make_graph(nodes, name, [x], outs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def save(model, tmp_path, name="model.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def w(*shape, scale=0.5):
    return rng.normal(0, scale, shape).astype(np.float32)


def mlp():
    """Gemm + Relu, MatMul + Add + Tanh (an output, also read by the next layer), Gemm + Sigmoid."""
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], transB=1),
             helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("MatMul", ["r1", "w2"], ["m2"]),
             helper.make_node("Add", ["m2", "b2"], ["a2"]),
             helper.make_node("Tanh", ["a2"], ["tanh_out"]),
             helper.make_node("Gemm", ["tanh_out", "w3", "b3"], ["h3"], transB=1),
             helper.make_node("Sigmoid", ["h3"], ["sigmoid_out"])]
    inits = [const("w1", w(32, 16)), const("b1", w(32)), const("w2", w(32, 8, scale=0.3)), const("b2", w(8)),
             const("w3", w(4, 8)), const("b3", w(4))]
    return make(nodes, inits, [16], ["tanh_out", "sigmoid_out"], "mlp")


def cnn():
    """Input normalisation (Sub, Mul by per-channel constants), Conv + BatchNorm + Relu, a depthwise Conv
    with pads TFLite's SAME cannot express (an explicit PAD) + Clip(0, 6), a residual Add + Relu,
    MaxPool, AveragePool (SAME), Mul by a constant, Concat (requantizing the pooled branch), Flatten of
    an image into Gemm + Softmax, and GlobalAveragePool + Gemm as a second output."""
    nodes = [helper.make_node("Sub", ["x", "mean"], ["xs"]),
             helper.make_node("Mul", ["xs", "inv_std"], ["xn"]),
             helper.make_node("Conv", ["xn", "cw1", "cb1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["bn1"], epsilon=1e-3),
             helper.make_node("Relu", ["bn1"], ["r1"]),
             helper.make_node("Conv", ["r1", "dw", "db"], ["d1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              strides=[2, 2], group=8),
             helper.make_node("Clip", ["d1", "zero", "six"], ["d1c"]),
             helper.make_node("Conv", ["d1c", "pw", "pb"], ["p1"], kernel_shape=[1, 1]),
             helper.make_node("Add", ["p1", "d1c"], ["res"]),
             helper.make_node("Relu", ["res"], ["resr"]),
             helper.make_node("MaxPool", ["resr"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("AveragePool", ["resr"], ["ap0"], kernel_shape=[3, 3], strides=[2, 2],
                              auto_pad="SAME_UPPER"),
             helper.make_node("Mul", ["ap0", "half"], ["ap"]),
             helper.make_node("Concat", ["mp", "ap"], ["cat"], axis=1),
             helper.make_node("Flatten", ["cat"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fw", "fb"], ["logits"], transB=1),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
             helper.make_node("GlobalAveragePool", ["cat"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["gflat"]),
             helper.make_node("Gemm", ["gflat", "ew", "eb"], ["embedding"], transB=1)]
    inits = [const("mean", [[[0.1]], [[0.2]], [[-0.1]]]), const("inv_std", [[[2.0]], [[1.5]], [[1.0]]]),
             const("cw1", w(8, 3, 3, 3)), const("cb1", w(8)), const("g", 1 + w(8, scale=0.1)),
             const("beta", w(8)), const("mu", w(8)), const("var", 1 + np.abs(w(8))),
             const("dw", w(8, 1, 3, 3)), const("db", w(8)), const("zero", np.float32(0)),
             const("six", np.float32(6)), const("pw", w(8, 8, 1, 1)), const("pb", w(8)),
             const("half", np.float32(0.5)), const("fw", w(10, 144, scale=0.2)), const("fb", w(10)),
             const("ew", w(5, 16)), const("eb", w(5))]
    return make(nodes, inits, [3, 12, 12], ["probs", "embedding"], "cnn")


def conv1d():
    """An accelerometer-style classifier: Conv1d + Relu, MaxPool1d, Conv1d + Relu6, GlobalAveragePool."""
    nodes = [helper.make_node("Conv", ["x", "c1", "b1"], ["h1"], kernel_shape=[5], pads=[2, 2]),
             helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2], strides=[2]),
             helper.make_node("Conv", ["p1", "c2", "b2"], ["h2"], kernel_shape=[3]),
             helper.make_node("Clip", ["h2", "zero", "six"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"], transB=1),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    inits = [const("c1", w(8, 3, 5)), const("b1", w(8)), const("c2", w(8, 8, 3, scale=0.3)), const("b2", w(8)),
             const("zero", np.float32(0)), const("six", np.float32(6)), const("fw", w(4, 8)), const("fb", w(4))]
    return make(nodes, inits, [3, 32], ["probs"], "conv1d")


GRAPHS = {"mlp": (mlp, (16,)), "cnn": (cnn, (3, 12, 12)), "conv1d": (conv1d, (3, 32))}


def tinyml_matches_tflm(result, xs, tmp_path, backends=("native", "viper", "python")):
    """tinyml on the unix port gives TFLM's bytes for int8 inputs xs, on every backend."""
    model = tmp_path / "model.tml"
    model.write_bytes(convert(result.tflite))
    expected = tflm.tflm_run(result.tflite, [xs])
    for backend in backends:
        ys, info = board_unix.run_model(model, [xs], backend)
        assert info["backend"] == backend
        for y, e in zip(ys, expected):
            np.testing.assert_array_equal(y.reshape(e.shape), e, err_msg=backend)
    return expected


GRAPH_RUNS = [(n, True) for n in sorted(GRAPHS)] + [("cnn", False), ("mlp", False)]


@pytest.mark.parametrize("name,per_channel", GRAPH_RUNS,
                         ids=["%s-%s" % (n, "per-channel" if c else "per-tensor") for n, c in GRAPH_RUNS])
def test_onnx_graph_quantizes_and_runs_like_tflm(name, per_channel, tmp_path):
    build, shape = GRAPHS[name]
    path = save(build(), tmp_path)
    calibration = rng.normal(0, 1, (200,) + shape).astype(np.float32)
    result = quantize(path, calibration, per_channel=per_channel)
    m = read_tflite(result.tflite)
    assert all(m.tensors[i].dtype == np.int8 for i in m.inputs + m.outputs)
    held_out = rng.normal(0, 1, (60,) + shape).astype(np.float32)
    tinyml_matches_tflm(result, result.io.to_int8(held_out[:20]), tmp_path)
    # the int8 model computes what the float model does: each output within a few of its steps
    for row, (_, _, _, (scale, _)) in zip(validate(result, held_out), result.io.outputs):
        assert row["mean_abs_error"] < 2 * scale, row
        if row["output"] == "probs":  # a random network's class scores
            assert row["top1_agreement"] >= 0.9, row


def test_tflm_output_quantization_rules(tmp_path):
    """SOFTMAX/LOGISTIC write scale 1/256 zero point -128, TANH 1/128 and 0; biases are int32 at
    s_input * s_weight; weights symmetric per channel."""
    result = quantize(save(mlp(), tmp_path), rng.normal(0, 1, (100, 16)).astype(np.float32))
    m = read_tflite(result.tflite)
    outs = {m.tensors[i].name: m.tensors[i] for i in m.outputs}
    assert (float(outs["tanh_out"].scale[0]), int(outs["tanh_out"].zero_point[0])) == (1 / 128, 0)
    assert (float(outs["sigmoid_out"].scale[0]), int(outs["sigmoid_out"].zero_point[0])) == (1 / 256, -128)
    fcs = [op for op in m.operators if op.name == "FULLY_CONNECTED"]
    assert len(fcs) == 3  # MatMul + Add became one op; Relu fused
    assert fcs[0].options["fused_activation_function"] == "RELU"
    for op in fcs:
        x, wt, b = (m.tensors[i] for i in op.inputs)
        assert wt.dtype == np.int8 and len(wt.scale) == wt.shape[0] and not wt.zero_point.any()
        assert b.dtype == np.int32
        np.testing.assert_allclose(b.scale, np.float32(x.scale[0]) * wt.scale, rtol=1e-6)
    per_tensor = read_tflite(quantize(save(mlp(), tmp_path), rng.normal(0, 1, (100, 16)).astype(np.float32),
                                      per_channel=False).tflite)
    assert all(len(per_tensor.tensors[op.inputs[1]].scale) == 1
               for op in per_tensor.operators if op.name == "FULLY_CONNECTED")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """models/digits/train.py's data and scikit-learn model, and the committed PyTorch CNN."""
    import subprocess
    import sys
    d = tmp_path_factory.mktemp("digits")
    subprocess.run([sys.executable, str(DIGITS / "train.py"), str(d)], check=True)
    for name in ("digits_cnn.onnx", "digits_keras.onnx", "digits_keras_1d.onnx"):
        (d / name).write_bytes((DIGITS / name).read_bytes())
    return d


def digits_data(digits, model):
    """(calibration, validation) as the model takes the digits."""
    if model == "digits_keras_1d":  # 8 steps of 8 channels
        return [np.load(digits / (k + ".npy")).reshape(-1, 8, 8) for k in ("calibration", "validation")]
    data = {"digits_mlp": "", "digits_cnn": "_images", "digits_keras": "_nhwc"}[model]
    return [np.load(digits / (k + data + ".npy")) for k in ("calibration", "validation")]


@pytest.mark.parametrize("model", ["digits_mlp", "digits_cnn", "digits_keras", "digits_keras_1d"])
def test_trained_classifiers_agree_with_float(digits, model, tmp_path):
    """scikit-learn's MLPClassifier (skl2onnx), a PyTorch CNN, a Keras 3 CNN (channels-last, its
    BatchNormalization after a ReLU as Sub/Mul/Add) and a Keras 3 Conv1D + GlobalAveragePooling1D model:
    top-1 agreement >= 98 % on held-out digits, the same accuracy (within a case or four), and
    tinyml's bytes equal TFLM's on the unix port."""
    calibration, xs = digits_data(digits, model)
    result = quantize(digits / (model + ".onnx"), calibration)
    labels = np.load(digits / "labels.npy")
    if model == "digits_keras_1d":  # Keras's transposes, casts and bias Adds around each layer cost nothing
        assert [op.name for op in read_tflite(result.tflite).operators] == [
            "RESHAPE", "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    (row,) = validate(result, xs, labels)
    assert row["top1_agreement"] >= 0.98, row
    assert row["int8_accuracy"] >= row["float_accuracy"] - 0.01, row
    tinyml_matches_tflm(result, result.io.to_int8(xs), tmp_path, ("native",))
    tinyml_matches_tflm(result, result.io.to_int8(xs[:30]), tmp_path, ("viper", "python"))


def refuses(model, calibration, tmp_path, *words):
    with pytest.raises(QuantizeError) as e:
        quantize(save(model, tmp_path) if not isinstance(model, str) else model, calibration)
    for word in words:
        assert word in str(e.value), str(e.value)


def test_refusals_name_the_node_and_what_to_do(tmp_path):
    calib = rng.normal(0, 1, (10, 16)).astype(np.float32)
    for op, words in (("HardSigmoid", ("node 'act' (HardSigmoid)", "use Sigmoid")),
                      ("Erf", ("node 'act' (Erf)", "does not lower ONNX Erf"))):
        model = make([helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1, name="dense"),
                      helper.make_node(op, ["h"], ["y"], name="act")],
                     [const("w1", w(8, 16)), const("b1", w(8))], [16], ["y"])
        refuses(model, calib, tmp_path, *words)
    qdq = make([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="quant"),
                helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
               [const("s", np.float32(0.1)), numpy_helper.from_array(np.array(0, np.int8), "z")], [16], ["y"])
    refuses(qdq, calib, tmp_path, "node 'quant' (QuantizeLinear)", "quantized already", "float model")
    old_softmax = make([helper.make_node("Softmax", ["x"], ["y"], axis=1, name="sm")], [], [4, 3, 3], ["y"], opset=11)
    refuses(old_softmax, rng.normal(0, 1, (10, 4, 3, 3)).astype(np.float32), tmp_path, "node 'sm'", "jointly")
    grouped = make([helper.make_node("Conv", ["x", "cw"], ["y"], kernel_shape=[1, 1], group=2, name="gconv")],
                   [const("cw", w(4, 2, 1, 1))], [4, 3, 3], ["y"])
    refuses(grouped, rng.normal(0, 1, (10, 4, 3, 3)).astype(np.float32), tmp_path, "gconv", "grouped")
    refuses(mlp(), rng.normal(0, 1, (10, 15)).astype(np.float32), tmp_path, "expected (N, 16)")
    bad = tmp_path / "not.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    refuses(str(bad), calib, tmp_path, "not a readable ONNX model")
    keras = tmp_path / "model.keras"
    keras.write_bytes(b"PK")
    if importlib.util.find_spec("tensorflow") is None:  # the message that names the ONNX route
        refuses(str(keras), calib, tmp_path, "format='onnx'", "tf2onnx")


def readme_commands():
    """The shell lines of the README's quantize section, continuation lines joined."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Quantizing a float model"):]
    block = section[section.index("```sh\n") + 6:]
    block = block[:block.index("```")].replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_worked_example_on_qemu_m3(tmp_path, capsys):
    """The README's commands as written (build/digits in a temporary directory): train, quantize,
    make deploy to qemu-m3, tinyml verify there against TFLM, and the PyTorch CNN."""
    import shlex
    import subprocess
    import sys
    from tinyml_host.cli import main as cli
    from tinyml_host.emulators import supervisor as emulators
    started = emulators.running("qemu-m3") is None
    out = []
    try:
        for line in readme_commands():
            words = [wd.replace("build/digits", str(tmp_path)) for wd in shlex.split(line)]
            if words[0] == ".venv/bin/python":
                subprocess.run([sys.executable] + words[1:], cwd=ROOT, check=True)
            elif words[0] == ".venv/bin/tinyml":
                capsys.readouterr()
                assert cli.main(words[1:]) == 0, line
                out.append(capsys.readouterr().out)
            elif words[0] == "make":
                subprocess.run(words, cwd=ROOT, check=True)
            else:
                raise AssertionError("README line the test does not know how to run: " + line)
    finally:
        if started:
            emulators.stop("qemu-m3")
    quantize_mlp, verify, quantize_cnn = out
    n = len(np.load(tmp_path / "labels.npy"))
    assert "%d/%d cases match TFLM bit for bit on qemu-m3" % (n, n) in verify, verify
    for report in (quantize_mlp, quantize_cnn):
        agreement = float(report.split("top-1 agreement with float ")[1].split(" %")[0])
        assert agreement >= 98.0, report
    assert (tmp_path / "digits_mlp.tml").exists()


QEMU_CASES = [("digits_cnn", "native"), ("digits_keras", "native"), ("digits_keras_1d", "native"),
              ("cnn", "native"), ("conv1d", "native"),
              ("mlp", "native"), ("mlp", "viper")]


@pytest.mark.parametrize("name,backend", QEMU_CASES, ids=["%s-%s" % c for c in QEMU_CASES])
def test_quantized_models_give_tflm_bytes_on_qemu_m3(qemu_m3, digits, name, backend, tmp_path, capsys):
    """`tinyml deploy` then `tinyml verify` on the emulated Cortex-M3: every case equals TFLM's bytes."""
    from tinyml_host.cli import main as cli
    if name.startswith("digits"):
        calibration, xs = digits_data(digits, name)
        result = quantize(digits / (name + ".onnx"), calibration)
        xs = xs[:100]
    else:
        build, shape = GRAPHS[name]
        result = quantize(save(build(), tmp_path), rng.normal(0, 1, (200,) + shape).astype(np.float32))
        xs = rng.normal(0, 1.5, (50,) + shape).astype(np.float32)  # some beyond the calibrated range
    model, inputs = tmp_path / (name + ".tflite"), tmp_path / "x.npy"
    model.write_bytes(result.tflite)
    np.save(inputs, result.io.to_int8(xs))
    assert cli.main(["deploy", str(model), "--board", qemu_m3]) == 0
    capsys.readouterr()
    assert cli.main(["verify", str(model), "--input", str(inputs), "--board", qemu_m3, "--backend", backend]) == 0
    out = capsys.readouterr().out
    assert "%d/%d cases match TFLM bit for bit on qemu-m3, backend %s" % (len(xs), len(xs), backend) in out, out


TFLM_ONLY = {  # ONNX op after a Conv -> (node, initializers, the TFLite op it becomes): lower_tflm.py's
    "LeakyRelu": ([helper.make_node("LeakyRelu", ["c"], ["y"], alpha=0.1)], [], "LEAKY_RELU"),
    "HardSwish": ([helper.make_node("HardSwish", ["c"], ["y"])], [], "HARD_SWISH"),
    "PRelu": ([helper.make_node("PRelu", ["c", "slope"], ["y"])], [const("slope", w(3, 1, 1, scale=0.2))], "PRELU"),
    "ConvTranspose-same": ([helper.make_node("ConvTranspose", ["c", "tw", "tb"], ["y"], kernel_shape=[4, 4],
                                             strides=[2, 2], pads=[1, 1, 1, 1])],
                           [const("tw", w(3, 3, 4, 4)), const("tb", w(3))], "TRANSPOSE_CONV"),
    "ConvTranspose-valid": ([helper.make_node("ConvTranspose", ["c", "tw", "tb"], ["y"], kernel_shape=[3, 3],
                                              strides=[2, 2])], [const("tw", w(3, 3, 3, 3)), const("tb", w(3))],
                            "TRANSPOSE_CONV"),
    "Resize-nearest": ([helper.make_node("Resize", ["c", "", "scales"], ["y"], mode="nearest",
                                         coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
                       [const("scales", [1, 1, 2, 2])], "RESIZE_NEAREST_NEIGHBOR"),
    "Resize-bilinear": ([helper.make_node("Resize", ["c", "", "scales"], ["y"], mode="linear",
                                          coordinate_transformation_mode="half_pixel")],
                        [const("scales", [1, 1, 2, 2])], "RESIZE_BILINEAR"),
    "Resize-align-corners": ([helper.make_node("Resize", ["c", "", "scales"], ["y"], mode="linear",
                                               coordinate_transformation_mode="align_corners")],
                             [const("scales", [1, 1, 2, 2])], "RESIZE_BILINEAR"),
    "Transpose": ([helper.make_node("Transpose", ["c"], ["y"], perm=[0, 1, 3, 2])], [], "TRANSPOSE"),
}


@pytest.mark.parametrize("name", sorted(TFLM_ONLY))
def test_ops_beyond_tinyml_are_lowered_for_tflm(name, tmp_path):
    """Ops beyond the classic CNN set, which TFLM and tinyml run in int8: the int8 model computes the
    float one's values in TFLM, and tinyml converts it and gives TFLM's bytes."""
    nodes, inits, tflite_op = TFLM_ONLY[name]
    conv = helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    model = make([conv] + nodes, [const("cw", w(3, 2, 3, 3)), const("cb", w(3))] + inits, [2, 4, 4], ["y"])
    calibration = rng.normal(0, 1, (100, 2, 4, 4)).astype(np.float32)
    result = quantize(save(model, tmp_path), calibration)
    m = read_tflite(result.tflite)
    assert tflite_op in [op.name for op in m.operators]
    (row,) = validate(result, calibration[:30])  # cases inside the calibrated range: no clamping
    step = max(float(t.scale[0]) for t in m.tensors if t.data is None)  # the coarsest activation's step
    assert row["mean_abs_error"] < step and row["max_abs_error"] < 4 * step, row
    tinyml_matches_tflm(result, result.io.to_int8(calibration[:10]), tmp_path, ("native", "python"))


def test_transpose_to_channels_last_before_linear_is_free(tmp_path):
    """PyTorch's x.permute(0, 2, 3, 1).reshape(1, -1) before a Linear: the data is channels-last already,
    so no TRANSPOSE is written, and the Linear reads it in order."""
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["t", "shape"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    inits = [const("cw", w(4, 2, 3, 3)), const("cb", w(4)), numpy_helper.from_array(np.array([1, -1], np.int64), "shape"),
             const("fw", w(3, 4 * 3 * 3, scale=0.2)), const("fb", w(3))]
    calibration = rng.normal(0, 1, (100, 2, 5, 5)).astype(np.float32)
    result = quantize(save(make(nodes, inits, [2, 5, 5], ["y"]), tmp_path), calibration)
    assert [op.name for op in read_tflite(result.tflite).operators] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    (row,) = validate(result, calibration[:30])
    assert row["mean_abs_error"] < result.io.outputs[0][3][0], row
    tinyml_matches_tflm(result, result.io.to_int8(calibration[:10]), tmp_path, ("native",))


def test_relu_after_a_pool_is_a_requantize(tmp_path):
    """PyTorch's classic F.relu(F.max_pool2d(conv(x), 2)): the Relu has no op to fuse into, and
    becomes an int8 QUANTIZE whose saturation at the zero point is the Relu; Clip(0, 6) likewise."""
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Relu", ["p"], ["r"]),
             helper.make_node("AveragePool", ["r"], ["a"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Clip", ["a", "zero", "six"], ["y"])]
    inits = [const("cw", w(4, 2, 3, 3, scale=2.0)), const("cb", w(4)), const("zero", np.float32(0)),
             const("six", np.float32(6))]
    calibration = rng.normal(0, 1, (100, 2, 10, 10)).astype(np.float32)
    result = quantize(save(make(nodes, inits, [2, 10, 10], ["y"]), tmp_path), calibration)
    m = read_tflite(result.tflite)
    assert [op.name for op in m.operators] == ["CONV_2D", "MAX_POOL_2D", "QUANTIZE", "AVERAGE_POOL_2D", "QUANTIZE"]
    relu = m.tensors[m.operators[2].outputs[0]]
    assert int(relu.zero_point[0]) == -128
    (row,) = validate(result, calibration[:30])
    assert row["max_abs_error"] < 2 * float(relu.scale[0]), row  # within the steps of the tensors before
    tinyml_matches_tflm(result, result.io.to_int8(calibration[:10]), tmp_path)


def test_affine_chains_fold(tmp_path):
    """x / 255 - mean, BatchNormalization after a Relu (not foldable into a Conv), Keras-style
    Sub/Mul/Add: each chain of constant arithmetic becomes at most one MUL and one ADD."""
    nodes = [helper.make_node("Div", ["x", "k255"], ["d"]),
             helper.make_node("Sub", ["d", "mean"], ["n"]),
             helper.make_node("Conv", ["n", "cw", "cb"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("BatchNormalization", ["r", "g", "beta", "mu", "var"], ["bn"]),
             helper.make_node("GlobalAveragePool", ["bn"], ["y"])]
    inits = [const("k255", np.float32(255)), const("mean", [[[0.5]], [[0.4]]]), const("cw", w(4, 2, 3, 3)),
             const("cb", w(4)), const("g", 1 + w(4, scale=0.1)), const("beta", w(4)), const("mu", w(4)),
             const("var", 1 + np.abs(w(4)))]
    calibration = rng.uniform(0, 255, (100, 2, 6, 6)).astype(np.float32)
    result = quantize(save(make(nodes, inits, [2, 6, 6], ["y"]), tmp_path), calibration)
    m = read_tflite(result.tflite)
    assert [op.name for op in m.operators] == ["MUL", "ADD", "CONV_2D", "MUL", "ADD", "MEAN"]
    (row,) = validate(result, calibration[:30])
    step = max(float(t.scale[0]) for t in m.tensors if t.data is None and t.name != "x")
    assert row["mean_abs_error"] < step, row
    tinyml_matches_tflm(result, result.io.to_int8(calibration[:10]), tmp_path, ("native", "python"))


def test_reshapes_keep_the_held_order(tmp_path):
    """What the dynamo exporter makes of a Conv1d/MaxPool1d (Unsqueeze to 4-D, MaxPool, Squeeze) costs
    no op; a vector made an image for a Conv is a RESHAPE and a TRANSPOSE to channels-last."""
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("Conv", ["x", "c1", "b1"], ["h"], kernel_shape=[3], pads=[1, 1]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Unsqueeze", ["r", "ax2"], ["u"]),
             helper.make_node("MaxPool", ["u"], ["p"], kernel_shape=[1, 2], strides=[1, 2]),
             helper.make_node("Squeeze", ["p", "ax2"], ["s"]),
             helper.make_node("Flatten", ["s"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["g"], transB=1),
             helper.make_node("Reshape", ["g", "image"], ["img"]),
             helper.make_node("Conv", ["img", "c2", "b2"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("Flatten", ["c"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["y"], axis=1)]
    inits = [const("c1", w(4, 3, 3)), const("b1", w(4)), i64("ax2", [2]), const("fw", w(36, 32, scale=0.3)),
             const("fb", w(36)), i64("image", [1, 4, 3, 3]), const("c2", w(3, 4, 3, 3)), const("b2", w(3))]
    calibration = rng.normal(0, 1, (100, 3, 16)).astype(np.float32)
    result = quantize(save(make(nodes, inits, [3, 16], ["y"]), tmp_path), calibration)
    ops = [op.name for op in read_tflite(result.tflite).operators]
    assert ops == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "RESHAPE", "TRANSPOSE", "CONV_2D",
                   "RESHAPE", "SOFTMAX"], ops
    (row,) = validate(result, calibration[:30])
    assert row["top1_agreement"] >= 0.9 and row["mean_abs_error"] < 2 / 256, row
    try:
        convert(result.tflite)
    except ValueError as e:
        assert "TRANSPOSE" in str(e), str(e)
    else:
        tinyml_matches_tflm(result, result.io.to_int8(calibration[:10]), tmp_path, ("native",))


def test_the_command_reports_and_refuses(digits, tmp_path, capsys):
    """`tinyml quantize` as typed: the report's lines, the files, and an error exit that says what to do."""
    from tinyml_host.cli import main as cli
    args = ["quantize", str(digits / "digits_cnn.onnx"), "--calibration", str(digits / "calibration_images.npy"),
            "-o", str(tmp_path / "m.tflite")]
    assert cli.main(args + ["--tml", str(tmp_path / "m.tml"), "--validation",
                            str(digits / "validation_images.npy"), "--labels", str(digits / "labels.npy")]) == 0
    out = capsys.readouterr().out
    for words in ("int8 TFLite", "channels-last (NHWC", "MACs per inference", "TFLM arena", "top-1 agreement",
                  "accuracy on the labels"):
        assert words in out, out
    tml = (tmp_path / "m.tml").read_bytes()
    assert tml == convert((tmp_path / "m.tflite").read_bytes())
    assert cli.main(args + ["--labels", str(digits / "labels.npy")]) == 2
    assert "need --validation" in capsys.readouterr().err
    assert cli.main(["quantize", str(digits / "digits_cnn.onnx"), "--calibration", str(digits / "calibration.npy"),
                     "-o", str(tmp_path / "x.tflite")]) == 2
    assert "expected (N, 1, 8, 8)" in capsys.readouterr().err


def test_concat_of_a_fixed_scale_input_requantizes_it(tmp_path):
    """A Sigmoid's output keeps TFLM's 1/256 scale, so before a Concat with another branch it is
    requantized (an int8 QUANTIZE); the other branch takes the concat's scale itself."""
    nodes = [helper.make_node("Conv", ["x", "c1", "b1"], ["a"], kernel_shape=[1, 1]),
             helper.make_node("Sigmoid", ["a"], ["s"]),
             helper.make_node("Conv", ["x", "c2", "b2"], ["b"], kernel_shape=[1, 1]),
             helper.make_node("Concat", ["s", "b"], ["y"], axis=1)]
    inits = [const("c1", w(2, 3, 1, 1)), const("b1", w(2)), const("c2", w(3, 3, 1, 1, scale=2.0)), const("b2", w(3))]
    calibration = rng.normal(0, 1, (100, 3, 4, 4)).astype(np.float32)
    result = quantize(save(make(nodes, inits, [3, 4, 4], ["y"]), tmp_path), calibration)
    m = read_tflite(result.tflite)
    assert [op.name for op in m.operators] == ["CONV_2D", "LOGISTIC", "CONV_2D", "QUANTIZE", "CONCATENATION"]
    (row,) = validate(result, calibration[:30])
    assert row["max_abs_error"] < 2 * result.io.outputs[0][3][0], row
    tinyml_matches_tflm(result, result.io.to_int8(calibration[:10]), tmp_path)
