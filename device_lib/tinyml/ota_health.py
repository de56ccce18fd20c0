# The checks of an installed update (tinyml.ota): its files against the manifest, and its health
# check: the model on the manifest's golden inputs, byte for byte, within the latency and free-heap
# budget. Paths are a slot's folder ("/ota/a"); nothing here writes.
import gc

from tinyml.clock import now_us as _now, diff_us as _diff

_BUF = 512


def sha256_file(path):
    """(hex sha256, size) of a file, read in 512-byte pieces."""
    import hashlib
    import binascii
    h = hashlib.sha256()
    buf = bytearray(_BUF)
    mv = memoryview(buf)
    n = 0
    with open(path, "rb") as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            h.update(mv[:k])
            n += k
    return binascii.hexlify(h.digest()).decode(), n


def files_ok(d, m):
    """None when every file of manifest m has its size and SHA-256 in folder d, else why not."""
    try:
        for f in m["files"]:
            h, n = sha256_file(d + "/" + f["name"])
            if n != f["size"] or h != f["sha256"]:
                return "%s differs from its manifest" % f["name"]
    except (OSError, ValueError, KeyError) as e:
        return "its files cannot be read (%s)" % e
    return None


def health_check(d, m, backend=None):
    """Runs the model of manifest m (in folder d) on its golden inputs: None when every output is
    byte-exact and within the latency and free-heap budget, else the reason."""
    g = m.get("golden")
    if not g:
        return None
    import tinyml
    gc.collect()
    try:
        model = tinyml.load(d + "/" + m["model"], backend)
    except MemoryError:  # the heap in pieces after the checks: weights streamed through a window
        gc.collect()
        model = tinyml.load(d + "/" + m["model"], backend, tinyml.DEFAULT_WINDOW)
    gc.collect()
    free = gc.mem_free()
    budget = m.get("budget") or {}
    if budget.get("heap") and free < budget["heap"]:
        return "free heap after loading the model is %d bytes; the budget needs %d" % (free, budget["heap"])
    worst = 0
    with open(d + "/" + g["file"], "rb") as f:
        for case in range(g["cases"]):
            for k in range(len(model.inputs)):
                buf = model.input_buffer(k)
                if f.readinto(buf) != len(buf):
                    return "golden.bin ends early (case %d)" % case
            t0 = _now()
            model.invoke()
            worst = max(worst, _diff(_now(), t0))
            for k in range(len(model.outputs)):
                out = model.output_buffer(k)
                want = f.read(len(out))
                if bytes(out) != want:
                    return "golden output %d of case %d differs from TFLM's bytes" % (k, case)
    if budget.get("us") and worst > budget["us"]:
        return "an inference took %d us; the budget is %d us" % (worst, budget["us"])
    return None
