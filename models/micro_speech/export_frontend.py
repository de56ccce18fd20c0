"""Exports the constants of TFLM's micro_speech audio front end into frontend.bin, the file
tinyml.preprocess.frontend.MicroFrontend loads on the board.

Everything is read from the preprocessor model itself (audio_preprocessor_int8.tflite: constant
tensors and the custom ops' flexbuffer options), found by walking its graph, not by tensor names:
window coefficients and shift, FFT length, energy bin range, filterbank weights and indices,
spectral subtraction (noise reduction) parameters, PCAN gain LUT and shift, log parameters and the
integer chain that maps the log to int8. Two tables are not in the model but in TFLM's code, and are
computed here the way TFLM computes them: KissFFT's Q15 twiddles (double precision, so boards with
single-precision floats get the exact values) and the log's 129-entry correction table
round(65536 * (log2(1 + i/128) - i/128)).

    .venv/bin/python models/micro_speech/export_frontend.py [preprocessor.tflite] [-o frontend.bin]
"""

import argparse
import math
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
for p in (REPO / "host_tools", REPO / "device_lib"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import numpy as np  # noqa: E402
from flatbuffers import flexbuffers  # noqa: E402

from tinyml_host.model.tflite_reader import read_tflite  # noqa: E402
from tinyml.preprocess import constfile, fft  # noqa: E402

DEFAULT_MODEL = REPO.parent / "shared" / "models" / "tflm" / "audio_preprocessor_int8.tflite"
# The integer ops after SignalFilterBankLog, in the codes frontend.py applies them with
POST_OPS = {"MUL": 1, "ADD": 2, "DIV": 3, "MINIMUM": 4, "MAXIMUM": 5}


class ExportError(ValueError):
    pass


def _options(op):
    return flexbuffers.Loads(op.custom_options) if op.custom_options else {}


def _const(model, index, what):
    t = model.tensors[index]
    if t.data is None:
        raise ExportError("%s: tensor %d (%s) is not a constant" % (what, index, t.name))
    return t.data


def _scalar(model, index, what):
    d = _const(model, index, what).ravel()
    if d.size != 1:
        raise ExportError("%s: expected a scalar constant, tensor %d has %d values" % (what, index, d.size))
    return int(d[0])


def _consumers(model, tensor):
    return [op for op in model.operators if tensor in op.inputs]


def _one(model, name):
    ops = [op for op in model.operators if op.name == name]
    if len(ops) != 1:
        raise ExportError("expected one %s op in the preprocessor, found %d" % (name, len(ops)))
    return ops[0]


def extract(model_path):
    """The front end's constants as constfile entries [(name, typecode, values)] plus a summary dict."""
    m = read_tflite(str(model_path))
    window = _one(m, "CUSTOM:SignalWindow")
    scale = _one(m, "CUSTOM:SignalFftAutoScale")
    rfft = _one(m, "CUSTOM:SignalRfft")
    energy = _one(m, "CUSTOM:SignalEnergy")
    bank = _one(m, "CUSTOM:SignalFilterBank")
    sqrt = _one(m, "CUSTOM:SignalFilterBankSquareRoot")
    sub = _one(m, "CUSTOM:SignalFilterBankSpectralSubtraction")
    pcan = _one(m, "CUSTOM:SignalPCAN")
    log = _one(m, "CUSTOM:SignalFilterBankLog")

    frame = int(m.tensors[m.inputs[0]].shape[-1])
    coeffs = _const(m, window.inputs[1], "window").astype(np.int64)
    if coeffs.size != frame:
        raise ExportError("window has %d coefficients for frames of %d samples" % (coeffs.size, frame))
    shift = int(_options(window)["shift"])
    n_fft = int(_options(rfft)["fft_length"])
    if n_fft < frame or n_fft & (n_fft - 1):
        raise ExportError("fft_length %d: expected a power of two >= the frame (%d)" % (n_fft, frame))
    if sqrt.inputs[1] not in scale.outputs:
        raise ExportError("the square root does not take the FFT auto-scale shift")
    e = _options(energy)
    start, end = int(e["start_index"]), int(e["end_index"])
    # energy -> CAST -> STRIDED_SLICE [start:end] -> CONCATENATION (zeros, slice, zeros) -> CAST:
    # the bins outside [start, end) are zero in the filterbank's input.
    spectrum = m.tensors[bank.inputs[0]]
    if spectrum.shape[-1] != n_fft // 2 + 1:
        raise ExportError("the filterbank takes %s values, expected %d bins" % (spectrum.shape, n_fft // 2 + 1))

    opts = _options(bank)
    n_ch = int(opts["num_channels"])
    weights, unweights, freq_starts, weight_starts, widths = (
        _const(m, i, "filterbank") for i in bank.inputs[1:6])
    if not (freq_starts.size == weight_starts.size == widths.size == n_ch + 1):
        raise ExportError("filterbank index tensors must hold num_channels + 1 values")
    if (freq_starts + widths).max() > n_fft // 2 + 1 or (weight_starts + widths).max() > weights.size:
        raise ExportError("filterbank indices run past the spectrum or the weights")
    if weights.min() < 0 or unweights.min() < 0:
        raise ExportError("negative filterbank weights")

    ss = _options(sub)
    if pcan.inputs[0] != sub.outputs[0] or pcan.inputs[1] != sub.outputs[1]:
        raise ExportError("PCAN does not take the spectral subtraction's output and noise estimate")
    lut = _const(m, pcan.inputs[2], "pcan lut")
    lg = _options(log)

    post = []
    t = log.outputs[0]
    while True:
        nxt = _consumers(m, t)
        if len(nxt) != 1:
            raise ExportError("the log's output feeds %d ops; expected a chain" % len(nxt))
        op = nxt[0]
        if op.name == "CAST":
            pass
        elif op.name in POST_OPS:
            if len(op.inputs) != 2 or op.inputs[0] != t:
                raise ExportError("op %d (%s): expected (chain value, constant)" % (op.index, op.name))
            if op.options.get("fused_activation_function", "NONE") != "NONE":
                raise ExportError("op %d (%s) has a fused activation" % (op.index, op.name))
            post += [POST_OPS[op.name], _scalar(m, op.inputs[1], op.name)]
        else:
            raise ExportError("op %d (%s) after the log is not supported" % (op.index, op.name))
        t = op.outputs[0]
        if t in m.outputs:
            break
    out = m.tensors[t]
    if out.type_name != "INT8" or out.shape[-1] != n_ch:
        raise ExportError("the preprocessor's output is %s %s; expected int8 of %d" % (out.type_name, out.shape, n_ch))

    log_lut = [int(math.floor(65536 * (math.log2(1 + i / 128) - i / 128) + 0.5)) for i in range(129)] + [0]
    params = [frame, shift, n_fft, start, end, n_ch,
              int(ss["smoothing"]), int(ss["one_minus_smoothing"]), int(ss["alternate_smoothing"]),
              int(ss["alternate_one_minus_smoothing"]), int(ss["smoothing_bits"]),
              int(ss["spectral_subtraction_bits"]), int(ss["min_signal_remaining"]), int(bool(ss["clamping"])),
              int(_options(pcan)["snr_shift"]), int(lg["input_correction_bits"]), int(lg["output_scale"])]
    entries = [
        ("params", "i", params),
        ("window", "h", coeffs.tolist()),
        ("twiddles", "h", list(fft.twiddles_q15(n_fft))),
        ("fb_weights", "H", weights.astype(np.int64).tolist()),
        ("fb_unweights", "H", unweights.astype(np.int64).tolist()),
        ("fb_freq_starts", "h", freq_starts.tolist()),
        ("fb_weight_starts", "h", weight_starts.tolist()),
        ("fb_widths", "h", widths.tolist()),
        ("pcan_lut", "h", lut.tolist()),
        ("log_lut", "H", log_lut),
        ("post", "i", post),
    ]
    summary = {"frame": frame, "window_shift": shift, "fft_length": n_fft, "energy": (start, end),
               "channels": n_ch, "spectral_subtraction": ss, "pcan_snr_shift": _options(pcan)["snr_shift"],
               "log": lg, "post": post}
    return entries, summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", nargs="?", default=str(DEFAULT_MODEL))
    p.add_argument("-o", "--output", default=str(HERE / "frontend.bin"))
    a = p.parse_args(argv)
    entries, summary = extract(a.model)
    data = constfile.dumps(entries)
    pathlib.Path(a.output).write_bytes(data)
    print("wrote %s (%d bytes): %s" % (a.output, len(data), summary))


if __name__ == "__main__":
    main()
