# The device half of the monitoring tests: runs a model over the inputs in a file (cases back to back,
# raw int8) with tinyml.monitor watching, checks that watching allocates nothing per inference, and
# prints the report (publishing it over MQTT when asked).
import gc

import tinyml
from tinyml import monitor
from time import ticks_us, ticks_diff


def run(model_path, inputs_path, ref=None, mqtt=None):
    m = tinyml.load(model_path)
    mon = monitor.Monitor(m, ref=ref)
    buf = m.input_buffer(0)
    out = m.output_buffer(0)
    with open(inputs_path, "rb") as f:
        while f.readinto(buf) == len(buf):
            mon.before(buf)
            t0 = ticks_us()
            m.invoke()
            mon.after(out, ticks_diff(ticks_us(), t0))
    spare = monitor.Monitor(m, ref=ref)  # the same calls on another monitor, counting the heap
    gc.collect()
    a0 = gc.mem_alloc()
    for _ in range(50):
        spare.before(buf)
        spare.after(out, 1000)
    print("monitor-alloc", gc.mem_alloc() - a0)
    pub = monitor.publisher(mqtt) if mqtt else None
    mon.report(pub)
