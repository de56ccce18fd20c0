# Runs a model over files of inputs on the device: the device half of `tinyml run`.
# Each input file holds N cases back to back (raw int8); output k goes to <prefix><k>.bin.

from tinyml.clock import now_us as _now, diff_us as _diff


def run_files(model_path, input_paths, output_prefix, backend=None):
    import tinyml
    m = tinyml.load(model_path, backend)
    ins = [open(p, "rb") for p in input_paths]
    outs = [open("%s%d.bin" % (output_prefix, k), "wb") for k in range(len(m.outputs))]
    n = total = 0
    while True:
        # straight into the model's input buffers: no copy, which matters on a small heap
        bufs = [m.input_buffer(k) for k in range(len(ins))]
        if not all(f.readinto(b) == len(b) for f, b in zip(ins, bufs)):
            break
        t0 = _now()
        m.invoke()
        total += _diff(_now(), t0)
        for k, f in enumerate(outs):
            f.write(m.output_buffer(k))
        n += 1
    for f in ins + outs:
        f.close()
    print("tinyml-batch backend=%s cases=%d us=%d" % (m.backend, n, total))


def footprint(model_path, backend=None, window=-1):
    """RAM the model costs on this device, measured with gc.mem_alloc(): after loading, and at the
    high-water mark of one inference on zero inputs. Prints one line for the host to read."""
    import gc
    import tinyml
    from tinyml import backends
    backends.load(backend)  # the kernel modules are the library's, not the model's
    gc.collect()
    base = gc.mem_alloc()
    m = tinyml.load(model_path, backend, window)
    gc.collect()
    loaded = gc.mem_alloc() - base
    for k in range(len(m.inputs)):  # zero inputs, in place: a copy would cost RAM on a small heap
        buf = m.input_buffer(k)
        for i in range(len(buf)):
            buf[i] = 0
    _, rows, peak = m.profile()
    peak -= base
    print("tinyml-footprint backend=%s load=%d peak=%d arena=%d window=%d" % (
        m.backend, loaded, peak, m.arena_bytes, m.window_bytes))
    for index, us, used in rows:
        print("tinyml-op %d us=%d heap=%d" % (index, us, used - base))
