# The unix port as a subprocess of the host (tinyml_host/board/unix.py's run_model): every case of
# input files through a model. A module of its own, apart from tinyml/measure.py's benchmarks, so that
# only this small code is on the heap beside the model (person_detect in a 140 KB heap).
import tinyml
from tinyml.clock import diff_us, now_us


def run_files(model_path, input_paths, output_prefix, backend=None):
    """Every case of the input files (N cases back to back, raw) through the model; output k goes
    to <prefix><k>.bin. Prints 'tinyml-batch backend=<b> cases=<n> us=<µs>'."""
    m = tinyml.load(model_path, backend)
    ins = [open(p, "rb") for p in input_paths]
    outs = [open("%s%d.bin" % (output_prefix, k), "wb") for k in range(len(m.outputs))]
    n = total = 0
    while True:
        # straight into the model's input buffers: no copy, which matters on a small heap
        bufs = [m.input_buffer(k) for k in range(len(ins))]
        if not all(f.readinto(b) == len(b) for f, b in zip(ins, bufs)):
            break
        t0 = now_us()
        m.invoke()
        total += diff_us(now_us(), t0)
        for k, f in enumerate(outs):
            f.write(m.output_buffer(k))
        n += 1
    for f in ins + outs:
        f.close()
    print("tinyml-batch backend=%s cases=%d us=%d" % (m.backend, n, total))
