# The device half of the feature-extraction benchmark (host: tinyml_host/apps/pipeline.py
# bench_features): times tinyml.preprocess.frontend per FFT backend over a recording's 20 ms frames,
# and prints per backend 'tinyml-bench <fft backend> <frames> <window µs> <fft µs> <filterbank µs>
# <rest µs>' (totals over the frames, best of `reps`). The host sends this file, then one call:
# bench(wav, backends, frontend, reps).
import time
from tinyml import sources
from tinyml.preprocess.frontend import MicroFrontend


def bench(wav, backends, frontend, reps):
    src = sources.open_file(wav)
    audio = src.read_all()
    src.close()
    frames = [audio[s:s + 480] for s in range(0, len(audio) - 479, 320)]
    for backend in backends:
        try:
            fe = MicroFrontend(frontend, backend)
        except ImportError as e:
            print("tinyml-bench", backend, "unavailable", str(e).replace(" ", "_")[:60])
            continue
        best = None
        for rep in range(reps):
            fe.reset()
            t = [0, 0, 0, 0]
            for fr in frames:
                t0 = time.ticks_us()
                s = fe.window_frame(fr)
                t1 = time.ticks_us()
                spec = fe.spectrum()
                t2 = time.ticks_us()
                bank = fe.filterbank(spec)
                t3 = time.ticks_us()
                fe.finish(bank, s)
                t4 = time.ticks_us()
                t[0] += time.ticks_diff(t1, t0)
                t[1] += time.ticks_diff(t2, t1)
                t[2] += time.ticks_diff(t3, t2)
                t[3] += time.ticks_diff(t4, t3)
            if best is None or sum(t) < sum(best):
                best = t
        n = len(frames)
        print("tinyml-bench", fe.fft_backend, n, " ".join(str(v) for v in best))
