"""Sensor preprocessing (device_lib/tinyml/preprocess, sources, app) and the micro_speech pipeline.

- micro_speech's features (tinyml.preprocess.frontend) are TFLM's, exactly (tolerance 0): the two
  30 ms frames of expected_features_30ms.json, and every frame of the four 1000 ms clips and of a
  synthetic stress signal against audio_preprocessor_int8.tflite run in TFLM (the oracle).
- The host (CPython) and the device (MicroPython's unix port, each FFT backend: native, viper,
  python) produce identical features and identical model outputs; the four clips get their labels.
- Each block's unit behaviour: the Q15 FFT (exact across backends, within 2 log2(n) LSB of numpy.fft / n), the
  float FFT (1e-9 relative to numpy), framing, windows, DC removal, pre-emphasis, biquads (against a
  numpy difference-equation reference and their analytic response), mel filterbank, log,
  normalization, quantization, motion features (numpy), sources (.wav/.npy/.csv).
- Float paths on the host and on the device agree within 1e-6 relative (both use IEEE doubles and
  float32 arrays here; a board with single-precision floats agrees to about 1e-6 too).
"""
import json
import math
import struct
import sys
import wave
from array import array

import numpy as np
import pytest

from conftest import ROOT, SHARED
from tinyml_host.board import unix as board_unix
from tinyml_host.apps import pipeline
from tinyml_host.oracle import tflm as oracle
from tinyml_host.model.convert import convert

sys.path.insert(0, str(ROOT / "device_lib"))
from tinyml.preprocess import constfile, fft, filters, frontend, motion, spectral, windowing  # noqa: E402
from tinyml import app, sources  # noqa: E402

TFLM = SHARED / "tflm"
DATA = TFLM / "testdata" / "micro_speech"
PREPROCESSOR = TFLM / "audio_preprocessor_int8.tflite"
APP = ROOT / "models" / "micro_speech" / "kws_app.py"
FRONTEND = ROOT / "models" / "micro_speech" / "frontend.bin"
CLIPS = ("yes", "no", "silence", "noise")
EXPECTED = {"yes": ("yes",), "no": ("no",), "silence": ("silence",), "noise": ("silence", "unknown")}
FFT_BACKENDS = ("native", "viper", "python")
FLOAT_RTOL = 1e-6


def wav(path):
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def frames_of(x):
    return [x[s:s + 480] for s in range(0, len(x) - 480 + 1, 320)]


def tflm_features(x):
    """TFLM's preprocessor over the frames of x, its state carried over, as micro_speech_test does."""
    interp = oracle.interpreter(str(PREPROCESSOR))
    out = []
    for fr in frames_of(x):
        interp.set_input(fr.reshape(1, 480), 0)
        interp.invoke()
        out.append(np.array(interp.get_output(0)))
    return np.stack(out)


def our_features(x, backend="python"):
    fe = frontend.MicroFrontend(str(FRONTEND), backend)
    return np.stack([np.frombuffer(bytes(fe.process(array("h", fr.tolist()))), np.int8) for fr in frames_of(x)])


def stress_signal():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    parts = [32767 * np.sin(2 * np.pi * (100 + 2000 * t) * t),          # full-scale chirp
             rng.normal(0, 8000, 8000), rng.normal(0, 3, 4000), np.zeros(2000),
             np.full(1000, -32768.0), np.full(1000, 32767.0),
             32767 * np.sign(np.sin(2 * np.pi * 1000 * t[:4000]))]       # full-scale square wave
    x = np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)
    # frames whose running MaxAbs16 wraps on a -32768 sample at the window's 4096 coefficient
    spike = rng.integers(-200, 200, 4800).astype(np.int16)
    spike[238::480] = -32768
    return np.concatenate([x, spike])


@pytest.fixture(scope="module")
def tml():
    return convert(str(TFLM / "micro_speech_quantized.tflite"))


# ---- the micro_speech front end vs TFLM ----

def test_features_match_expected_json():
    expected = json.loads((DATA / "expected_features_30ms.json").read_text())
    for name in ("yes_30ms", "no_30ms"):
        got = our_features(wav(DATA / (name + ".wav")))
        assert got.shape == (1, 40)
        np.testing.assert_array_equal(got[0], np.array(expected[name], np.int8), err_msg=name)  # exact


@pytest.mark.parametrize("clip", CLIPS)
def test_features_match_tflm_every_frame(clip):
    x = wav(DATA / ("%s_1000ms.wav" % clip))
    ours = our_features(x)
    assert ours.shape == (49, 40)
    np.testing.assert_array_equal(ours, tflm_features(x))


def test_features_match_tflm_on_stress_signal():
    x = stress_signal()
    np.testing.assert_array_equal(our_features(x), tflm_features(x))


def test_frontend_file_is_exported_from_the_model():
    """frontend.bin is what export_frontend.py makes of the .tflite (no hand-copied numbers)."""
    sys.path.insert(0, str(ROOT / "models" / "micro_speech"))
    import export_frontend
    entries, summary = export_frontend.extract(PREPROCESSOR)
    assert constfile.dumps(entries) == FRONTEND.read_bytes()
    assert summary["frame"] == 480 and summary["fft_length"] == 512 and summary["channels"] == 40
    c = constfile.load(str(FRONTEND))
    assert list(c["twiddles"]) == list(fft.twiddles_q15(512))


def sqrt64_ref(num):
    """TFLM's Sqrt64 / Sqrt32, bit by bit, as signal/src/square_root_*.cc compute it."""
    if num == 0:
        return 0
    wide = num >> 32 != 0
    top = 63 if wide else 31
    res, mbn = 0, ((64 if wide else 32) - num.bit_length()) | 1
    bit = 1 << (top - mbn)
    for _ in range((top - mbn) // 2 + 1):
        if num >= res + bit:
            num -= res + bit
            res = (res >> 1) + bit
        else:
            res >>= 1
        bit >>= 2
    if num > res and res != (0xFFFFFFFF if wide else 0xFFFF):
        res += 1
    return res


def test_frontend_integer_helpers():
    rng = np.random.default_rng(11)
    values = [0, 1, 2, 3, 4, 0xFFFF ** 2 + 0xFFFF, 0xFFFF ** 2 + 0xFFFF + 1, 2 ** 32 - 1, 2 ** 32, 2 ** 48 - 1]
    values += [int(v) for v in rng.integers(0, 2 ** 62, 300, dtype=np.int64) >> rng.integers(0, 62, 300)]
    for v in values:
        assert frontend.sqrt_round(v) == sqrt64_ref(v), v
        assert frontend.isqrt(v) == math.isqrt(v), v
        assert frontend._bits(v) == v.bit_length(), v
    lut = constfile.load(str(FRONTEND))["log_lut"]
    for x in (2, 3, 100, 12345, 2 ** 20 + 7, 2 ** 32 - 1):
        assert abs(frontend.log32(x, 64, lut) - 64 * math.log(x)) <= 1, x
    assert frontend.pcan_shrink(1 << 12) == (1 << 12) ** 2 >> 20 and frontend.pcan_shrink(3 << 12) == (3 << 6) - 64


def test_labels_on_the_host(tml):
    """The four clips through the app on CPython: our features -> our interpreter -> label; and the
    model's int8 outputs equal TFLM's micro_speech run on TFLM's own features."""
    model = str(TFLM / "micro_speech_quantized.tflite")
    for clip in CLIPS:
        path = DATA / ("%s_1000ms.wav" % clip)
        res = pipeline.run_host(APP, path, tml, "python")
        assert len(res["results"]) == 1 and res["results"][0]["frame"] == 49
        r = res["results"][0]
        assert r["label"] in EXPECTED[clip], (clip, r)
        ref = oracle.tflm_run(model, [tflm_features(wav(path)).reshape(1, 1, 1960)])[0]
        np.testing.assert_array_equal(r["raw"], ref.reshape(-1), err_msg=clip)


@pytest.fixture(scope="module")
def host_runs(tml):
    return {clip: pipeline.run_host(APP, DATA / ("%s_1000ms.wav" % clip), tml, "python") for clip in CLIPS}


@pytest.mark.parametrize("backend", FFT_BACKENDS)
def test_device_matches_host(tml, host_runs, backend):
    """The same app in MicroPython's unix port: identical features and model outputs, right labels."""
    for clip in CLIPS:
        dev = pipeline.run_unix(APP, DATA / ("%s_1000ms.wav" % clip), tml, backend)
        host = host_runs[clip]
        assert dev["fft"] == backend and dev["model_backend"] == backend
        np.testing.assert_array_equal(dev["features"], host["features"], err_msg=clip)
        assert len(dev["results"]) == 1
        np.testing.assert_array_equal(dev["results"][0]["raw"], host["results"][0]["raw"], err_msg=clip)
        assert dev["results"][0]["label"] in EXPECTED[clip]


def test_stream_host_and_device_agree(tml, tmp_path):
    """A 3 s stream (silence, yes, no): the front end's state runs on across the clips, the model runs
    every 10 frames and the Detector averages; host and device agree on every feature and result."""
    x = np.concatenate([wav(DATA / ("%s_1000ms.wav" % c)) for c in ("silence", "yes", "no")])
    path = tmp_path / "stream.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(x.tobytes())
    host = pipeline.run_host(APP, path, tml, "python", every=10)
    dev = pipeline.run_unix(APP, path, tml, "native", every=10)
    assert host["features"].shape == (149, 40)
    np.testing.assert_array_equal(host["features"], tflm_features(x))
    np.testing.assert_array_equal(dev["features"], host["features"])
    assert [r["frame"] for r in host["results"]] == list(range(49, 150, 10))
    assert len(dev["results"]) == len(host["results"])
    for d, h in zip(dev["results"], host["results"]):
        np.testing.assert_array_equal(d["raw"], h["raw"])
        assert (d["label"], d["detected"]) == (h["label"], h["detected"])
        np.testing.assert_allclose(d["scores"], h["scores"], rtol=1e-12)


def test_pipeline_command(tml, tmp_path, capsys):
    from tinyml_host.cli import main as cli
    out = tmp_path / "f.npy"
    assert cli.main(["pipeline", "run", str(APP), "--input", str(DATA / "no_1000ms.wav"), "--features", str(out),
                     "--every", "1"]) == 0
    text = capsys.readouterr().out
    assert "49 feature frames of 40 (int8)" in text and "no " in text and "detections: no at 0.98 s" in text
    assert np.load(out).shape == (49, 40)


def test_bench_features():
    rows = pipeline.bench_features(quick=True)
    names = [r["backend"] for r in rows]
    assert names == list(FFT_BACKENDS)
    for r in rows:
        assert r["frames"] == 49 and 0 < r["us_per_frame"] < 50000
        assert r["budget_share"] == pytest.approx(r["us_per_frame"] / 20000)


# ---- the Q15 FFT ----

def _q15_inputs():
    rng = np.random.default_rng(3)
    cases = []
    for n in (4, 8, 16, 32, 128, 512, 1024):
        cases.append((n, rng.integers(-32768, 32768, n)))
        cases.append((n, np.where(rng.random(n) < 0.5, -32768, 32767)))
        cases.append((n, (32767 * np.cos(2 * np.pi * (n // 8) * np.arange(n) / n)).astype(int)))
    return cases


def test_rfft_q15_is_the_spectrum_over_n():
    for n, x in _q15_inputs():
        y = fft.rfft_q15(array("h", x.tolist()), array("i", bytes(4 * (n + 2))), fft.twiddles_q15(n),
                         array("i", bytes(4 * n)))
        got = np.array(y[0::2]) + 1j * np.array(y[1::2])
        err = np.abs(got - np.fft.rfft(x) / n).max()
        assert err <= 2 * math.log2(n), (n, err)  # Q15 roundings: a few per stage


def test_rfft_q15_and_window_identical_on_every_backend():
    cases = _q15_inputs()
    rng = np.random.default_rng(4)
    win_cases = []
    for k in range(6):
        f = rng.integers(-32768, 32768, 480) if k % 2 else rng.integers(-300, 300, 480)
        if k % 3 == 0:
            f[100] = -32768
        win_cases.append((f, rng.integers(0, 4097, 480), 12 if k < 4 else 14))
        win_cases[-1][1][100] = 4096
    expected = []
    for n, x in cases:
        y = fft.rfft_q15(array("h", x.tolist()), array("i", bytes(4 * (n + 2))), fft.twiddles_q15(n),
                         array("i", bytes(4 * n)))
        expected.append(list(y))
    for f, c, s in win_cases:
        x = array("h", bytes(960))
        sh = fft.window_q15(array("h", f.tolist()), array("h", c.tolist()), x, s)
        expected.append([sh] + list(x))
    code = ["from array import array", "from tinyml.preprocess import fft", "cases = %r" % (
        [(n, x.tolist()) for n, x in cases],), "wins = %r" % ([(f.tolist(), c.tolist(), s) for f, c, s in win_cases],),
            "for name in %r:" % (FFT_BACKENDS,),
            "    k = fft.load(name)",
            "    for n, x in cases:",
            "        y = k.rfft_q15(array('h', x), array('i', bytes(4 * (n + 2))), fft.twiddles_q15(n), array('i', bytes(4 * n)))",
            "        print(k.name, list(y))",
            "    for f, c, s in wins:",
            "        x = array('h', bytes(960))",
            "        sh = k.window_q15(array('h', f), array('h', c), x, s)",
            "        print(k.name, [sh] + list(x))"]
    out = board_unix.exec_script("\n".join(code) + "\n")
    got = {}
    for line in out.splitlines():
        name, rest = line.split(" ", 1)
        got.setdefault(name, []).append(json.loads(rest))
    assert sorted(got) == sorted(FFT_BACKENDS)
    for name in FFT_BACKENDS:
        assert got[name] == expected, name


def test_float_rfft_matches_numpy():
    rng = np.random.default_rng(5)
    for n in (4, 8, 64, 256, 512):
        x = rng.normal(0, 1, n)
        got = np.array(fft.rfft(x.tolist()))
        ref = np.fft.rfft(x)
        np.testing.assert_allclose(got[0::2] + 1j * got[1::2], ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    y = np.array(fft.rfft([1.0, 2.0, 3.0], 8))  # zero-padded
    np.testing.assert_allclose(y[0::2] + 1j * y[1::2], np.fft.rfft([1, 2, 3], 8), atol=1e-12)


# ---- framing, windows, conditioning ----

def test_framer_gives_numpy_frames_for_any_block_size():
    x = np.arange(5000, dtype=np.int16)
    frame, hop = 480, 320
    expected = [x[s:s + frame] for s in range(0, len(x) - frame + 1, hop)]
    for block in (1, 7, 320, 333, 1000):
        f = windowing.Framer(frame, hop, "h", capacity=frame + max(2 * hop, block))
        got = []
        for s in range(0, len(x), block):
            f.write(array("h", x[s:s + block].tolist()))
            while f.ready():
                got.append(np.array(f.read()))
        assert len(got) == len(expected), block
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)


def test_framer_interleaved_channels_and_ring_limits():
    x = np.arange(3 * 100, dtype=np.float32)  # 100 samples of 3 channels
    f = windowing.Framer(10, 5, "f", channels=3)
    frames = []
    for s in range(0, len(x), 15):  # 5 samples of 3 values at a time
        f.write(array("f", x[s:s + 15].tolist()))
        while f.ready():
            frames.append(np.array(f.read()))
    assert len(frames) == 19
    for k, fr in enumerate(frames):
        np.testing.assert_array_equal(fr, x[15 * k:15 * k + 30])
    with pytest.raises(ValueError):  # 40 samples at once overrun a ring of frame + 2 hops
        windowing.Framer(10, 5, "f", channels=3).write(array("f", x[:120].tolist()))
    r = windowing.RingBuffer(8, "h")
    r.write(array("h", range(5)))
    with pytest.raises(ValueError):
        r.read(array("h", bytes(12)))


def test_window_functions_match_numpy():
    n = 400
    np.testing.assert_allclose(windowing.hann(n), np.hanning(n + 1)[:-1], atol=1e-6)
    np.testing.assert_allclose(windowing.hann(n, periodic=False), np.hanning(n), atol=1e-6)
    np.testing.assert_allclose(windowing.hamming(n, periodic=False), np.hamming(n), atol=1e-6)
    np.testing.assert_allclose(windowing.blackman(n, periodic=False), np.blackman(n), atol=1e-6)
    q = windowing.fixed(windowing.hann(n), 12)
    np.testing.assert_array_equal(q, np.floor(np.array(windowing.hann(n), np.float64) * 4096 + 0.5).astype(int))


def test_dc_removal_and_pre_emphasis_match_numpy():
    rng = np.random.default_rng(6)
    x = rng.normal(3.0, 1.0, 1000)
    np.testing.assert_allclose(windowing.remove_mean(x.tolist()), x - x.mean(), atol=1e-5)
    y = np.zeros_like(x)
    x1 = y1 = 0.0
    for i, v in enumerate(x):
        y1 = v - x1 + 0.995 * y1
        x1 = v
        y[i] = y1
    dc, pe = windowing.DCBlocker(0.995), windowing.PreEmphasis(0.97)
    got_dc, got_pe = [], []
    for s in range(0, 1000, 128):  # block by block: the state carries over
        got_dc += list(dc.process(x[s:s + 128].tolist()))
        got_pe += list(pe.process(x[s:s + 128].tolist()))
    np.testing.assert_allclose(got_dc, y, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got_pe, x - 0.97 * np.concatenate([[0.0], x[:-1]]), rtol=1e-5, atol=1e-5)


# ---- biquads ----

def lfilter_ref(b, a, x):
    """numpy reference: the direct-form difference equation in float64."""
    y = np.zeros(len(x))
    for n in range(len(x)):
        acc = b[0] * x[n]
        if n >= 1:
            acc += b[1] * x[n - 1] - a[1] * y[n - 1]
        if n >= 2:
            acc += b[2] * x[n - 2] - a[2] * y[n - 2]
        y[n] = acc
    return y


@pytest.mark.parametrize("kind", ["lowpass", "highpass", "bandpass", "notch"])
def test_biquad_matches_reference_and_response(kind):
    rate = 1000.0
    bq = getattr(filters, kind)(100.0, rate, 0.9)
    b0, b1, b2, a1, a2 = bq.coefficients
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, 600)
    got = []
    for s in range(0, 600, 100):
        got += list(bq.process(x[s:s + 100].tolist()))
    np.testing.assert_allclose(got, lfilter_ref((b0, b1, b2), (1, a1, a2), x), rtol=1e-5, atol=1e-5)
    # steady-state amplitude of a sinusoid = |H(f)|, and |H| from the coefficients (numpy polyval)
    for f in (20.0, 100.0, 300.0):
        bq.reset()
        t = np.arange(4000) / rate
        y = np.array(bq.process(np.sin(2 * np.pi * f * t).tolist()), np.float64)[2000:]
        z = np.exp(-2j * np.pi * f / rate)
        h = abs(np.polyval([b2, b1, b0], z) / np.polyval([a2, a1, 1.0], z))
        assert bq.response(f, rate) == pytest.approx(h, rel=1e-9)
        ts = t[2000:]  # 2000 samples: whole periods of each f
        amp = np.hypot(2 * np.mean(y * np.sin(2 * np.pi * f * ts)), 2 * np.mean(y * np.cos(2 * np.pi * f * ts)))
        assert amp == pytest.approx(h, abs=1e-4)


def test_biquad_designs():
    lp = filters.lowpass(100.0, 1000.0)
    assert lp.response(1e-6, 1000.0) == pytest.approx(1.0, abs=1e-9)
    assert lp.response(100.0, 1000.0) == pytest.approx(1 / math.sqrt(2), rel=1e-9)
    hp = filters.highpass(100.0, 1000.0)
    assert hp.response(499.999, 1000.0) == pytest.approx(1.0, abs=1e-6)
    assert filters.bandpass(100.0, 1000.0, 2.0).response(100.0, 1000.0) == pytest.approx(1.0, rel=1e-9)
    assert filters.notch(50.0, 1000.0, 5.0).response(50.0, 1000.0) == pytest.approx(0.0, abs=1e-9)
    c = filters.Cascade(filters.lowpass(100.0, 1000.0, 0.5412), filters.lowpass(100.0, 1000.0, 1.3066))
    assert c.response(100.0, 1000.0) == pytest.approx(1 / math.sqrt(2), rel=1e-3)  # 4th-order Butterworth
    with pytest.raises(ValueError):
        filters.lowpass(600.0, 1000.0)


# ---- spectral features ----

def mel_ref(n_fft, rate, n_mels, fmin, fmax):
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    f = np.arange(n_fft // 2 + 1) * rate / n_fft
    w = np.zeros((n_mels, len(f)))
    for m in range(n_mels):
        lo, c, hi = edges[m:m + 3]
        up = (f - lo) / (c - lo)
        down = (hi - f) / (hi - c)
        w[m] = np.where((f > lo) & (f < hi), np.minimum(up, down), 0)
    return w


def test_power_mel_log_normalize_quantize_match_numpy():
    rng = np.random.default_rng(8)
    x = rng.normal(0, 1, 512)
    spec = fft.rfft(x.tolist())
    power = np.array(spectral.power_spectrum(spec))
    np.testing.assert_allclose(power, np.abs(np.fft.rfft(x)) ** 2, rtol=1e-5)
    mb = spectral.MelFilterbank(512, 16000, 40, 20.0, 7600.0)
    mels = np.array(mb.apply(power))
    ref = mel_ref(512, 16000, 40, 20.0, 7600.0) @ power
    np.testing.assert_allclose(mels, ref, rtol=1e-5)
    logs = np.array(spectral.log_compress(mels))
    np.testing.assert_allclose(logs, np.log(ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(spectral.log_compress([0.0, 10.0], db=True), [10 * np.log10(1e-10), 10.0], rtol=1e-6)
    mean, std = rng.normal(0, 1, 40), rng.uniform(0.5, 2, 40)
    norm = np.array(spectral.Normalizer(mean.tolist(), std.tolist()).apply(logs))
    np.testing.assert_allclose(norm, (logs - mean) / std, rtol=1e-5, atol=1e-5)
    q = spectral.Quantizer(0.5, -3).apply([0.25, -0.25, 0.75, 100.0, -100.0, 1.0])
    assert list(q) == [-2, -4, -1, 127, -128, -1]  # round half away from zero (not to even), clamp


# ---- motion ----

def test_motion_features_match_numpy():
    rng = np.random.default_rng(9)
    w = rng.normal([0.1, -0.2, 1.0], [0.3, 0.2, 0.05], (128, 3))
    got = np.array(motion.features(array("f", w.astype(np.float32).ravel().tolist()), 3, magnitude=True)).reshape(4, 5)
    w32 = w.astype(np.float32).astype(np.float64)
    cols = [w32[:, c] for c in range(3)] + [np.sqrt((w32 ** 2).sum(axis=1))]
    for c, v in enumerate(cols):
        d = np.sign(v - v.mean())
        d = d[d != 0]
        ref = [v.mean(), v.std(), np.sqrt((v ** 2).mean()), np.count_nonzero(d[1:] != d[:-1]), np.ptp(v)]
        np.testing.assert_allclose(got[c], ref, rtol=1e-5, atol=1e-6, err_msg="axis %d" % c)


# ---- sources ----

def test_sources_replay(tmp_path):
    x = wav(DATA / "yes_1000ms.wav")
    s = sources.open_file(str(DATA / "yes_1000ms.wav"))
    assert (s.rate, s.channels, s.typecode) == (16000, 1, "h")
    np.testing.assert_array_equal(np.array(s.read_all(block=333)), x)
    # stereo 8-bit and float32 WAVs, channel picking
    st = np.stack([x[:1000], -x[:1000]], 1)
    p8 = tmp_path / "s8.wav"
    with wave.open(str(p8), "wb") as w:
        w.setnchannels(2), w.setsampwidth(1), w.setframerate(8000)
        w.writeframes(((st >> 8) + 128).astype(np.uint8).tobytes())
    s8 = sources.WavSource(str(p8), channel=1)
    assert (s8.rate, s8.channels) == (8000, 1)
    np.testing.assert_array_equal(np.array(s8.read_all()), ((-x[:1000]) >> 8) << 8)
    pf = tmp_path / "f.wav"
    data = (x[:500] / 32768).astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    pf.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + 16 + 8 + len(data)) + b"WAVE" + b"fmt " +
                   struct.pack("<I", 16) + fmt + b"LIST" + struct.pack("<I", 0) + b"data" +
                   struct.pack("<I", len(data)) + data)
    np.testing.assert_allclose(np.array(sources.open_file(str(pf)).read_all()), x[:500].astype(np.float64) * 32767 / 32768, atol=1)
    # .npy (N, C) and .csv with a header
    acc = np.random.default_rng(1).normal(0, 1, (50, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", acc)
    sn = sources.open_file(str(tmp_path / "a.npy"), rate=100)
    assert (sn.channels, sn.typecode) == (3, "f")
    np.testing.assert_array_equal(np.array(sn.read_all(block=7)).reshape(50, 3), acc)
    (tmp_path / "a.csv").write_text("t,ax,ay,az\n" + "\n".join("%d,%r,%r,%r" % ((i,) + tuple(map(float, r)))
                                                           for i, r in enumerate(acc)) + "\n")
    sc = sources.CsvSource(str(tmp_path / "a.csv"), columns=("ax", "ay", "az"))
    assert sc.channels == 3
    np.testing.assert_array_equal(np.array(sc.read_all(block=9)).reshape(50, 3), acc)
    with pytest.raises(sources.SourceError):
        sources.open_file(str(tmp_path / "a.txt"))


def test_constfile_roundtrip():
    entries = [("a", "h", [1, -2, 3]), ("bb", "I", [0, 2 ** 32 - 1]), ("f", "f", [0.5, -1.25]), ("e", "b", [])]
    c = constfile.load(constfile.dumps(entries))
    assert {k: list(v) for k, v in c.items()} == {"a": [1, -2, 3], "bb": [0, 2 ** 32 - 1], "f": [0.5, -1.25], "e": []}
    with pytest.raises(constfile.ConstFileError):
        constfile.load(b"nope" + bytes(8))


# ---- float paths: host vs device ----

FLOAT_SCRIPT = """
from array import array
from tinyml.preprocess import fft, filters, motion, spectral, windowing
from tinyml import sources
x = [((i * 7919) %% 1000 - 500) / 250.0 for i in range(512)]
out = {}
out['hann'] = list(windowing.apply(x, windowing.hann(512)))
spec = fft.rfft(out['hann'])
p = spectral.power_spectrum(spec)
out['power'] = list(p)
m = spectral.MelFilterbank(512, 16000, 40, 20.0, 7600.0).apply(p)
out['logmel'] = list(spectral.log_compress(m))
out['quant'] = list(spectral.Quantizer(0.1, 3).apply(out['logmel']))
out['biquad'] = list(filters.Cascade(filters.lowpass(2000.0, 16000.0), filters.highpass(100.0, 16000.0)).process(x))
out['pre'] = list(windowing.PreEmphasis().process(windowing.DCBlocker().process(x)))
s = sources.open_file(%(npy)r, rate=100)
out['motion'] = list(motion.features(s.read_all(), 3, True))
print("FLOATS", repr(out).replace("'", '"'))
"""


def test_float_paths_host_and_device_agree(tmp_path):
    rng = np.random.default_rng(10)
    np.save(tmp_path / "acc.npy", rng.normal(0, 1, (64, 3)).astype(np.float32))
    code = FLOAT_SCRIPT % {"npy": str(tmp_path / "acc.npy")}
    ns = {}
    exec(code, ns)  # the same code on the host (CPython)
    host = ns["out"]
    dev = json.loads(board_unix.exec_script(code).split("FLOATS ", 1)[1])
    assert sorted(dev) == sorted(host)
    for k in host:
        np.testing.assert_allclose(dev[k], host[k], rtol=FLOAT_RTOL, atol=1e-9, err_msg=k)
    assert dev["quant"] == host["quant"]


# ---- the pipeline runner ----

def test_pipeline_with_float_features_quantizes_and_detects(tml):
    """app.Pipeline with a float feature function: quantized with the model's input scale and zero
    point, stacked oldest first, Detector averaging and suppression."""
    class FakeModel:
        class T:
            def __init__(self, shape, scale, zp):
                self.nbytes, self.scale, self.zero_point, self.dtype = shape, scale, zp, 1
        inputs = [T(6, 0.5, 1)]
        outputs = [T(2, 1 / 256, -128)]
        backend = "fake"

        def __init__(self):
            self.buf = memoryview(bytearray(6))
            self.seen = []

        def input_buffer(self, k=0):
            return self.buf

        def invoke(self):
            self.seen.append(bytes(self.buf))
            v = array("b", bytes(self.buf))[-1]
            self.out = array("b", [-128, 127] if v > 3 else [127, -128])

        def output(self, k=0):
            return self.out

    m = FakeModel()
    hits = []
    src = sources.ArraySource(array("h", range(40)), 100)
    p = app.Pipeline(src, lambda fr: [float(fr[0]) / 10], 4, 4, model=m, stack=6,
                     labels=("quiet", "loud"), post=app.Detector(("quiet", "loud"), 0.9, average=1, suppress=3,
                                                                 ignore=("quiet",)),
                     on_detect=lambda label, score, r: hits.append((label, r.frame)))
    r = p.run()
    assert p.frames == 10 and p.inferences == 5
    # feature k = round(4k / 10 / 0.5) + 1, the stack holds the last 6, oldest first
    assert array("b", m.seen[0]).tolist() == [round(4 * k / 10 / 0.5 + 1e-9) + 1 for k in range(6)]
    assert r.label == "loud" and hits == [("loud", 6), ("loud", 9)]


def test_deployed_on_qemu_m3_matches_host(tml, host_runs):
    """The app deployed on the emulated Cortex-M3 (its library, native module, app files and model
    over the serial link): the same features as the host, bit for bit, and the right labels."""
    from tinyml_host.emulators import supervisor as emulators
    started = emulators.running("qemu-m3") is None
    try:
        for clip in CLIPS:
            dev = pipeline.run_on_board("qemu-m3", APP, DATA / ("%s_1000ms.wav" % clip), tml)
            host = host_runs[clip]
            assert dev["model_backend"] == "native" and dev["fft"] == "native", dev
            np.testing.assert_array_equal(dev["features"], host["features"], err_msg=clip)
            assert [r["label"] for r in dev["results"]] == [r["label"] for r in host["results"]]
            assert dev["results"][0]["label"] in EXPECTED[clip], (clip, dev["results"][0])
    finally:
        if started:
            emulators.stop("qemu-m3")
