# Model.profile(): an inference measured op by op (tinyml bench's per-layer table), in a module of its
# own, loaded when first called: the bench holds only this small code on the heap beside the model it
# measures, not the rest of tinyml/about.py.
import gc
from tinyml.clock import now_us as _now, diff_us as _diff


def profile(m, xs):
    """Like run(), measuring each op: returns (outputs, [(op index, µs, heap bytes in use after
    it)], peak heap bytes in use). The heap figures are gc.mem_alloc() after a collection."""
    for t, x in zip(m.inputs, xs):  # none given: the input buffers as they are
        m._set_input(t, x)
    gc.collect()
    peak = gc.mem_alloc()
    rows = []
    for op, (fn, a) in zip(m.ops, m._steps):
        t0 = _now()
        fn(a)
        dt = _diff(_now(), t0)
        used = gc.mem_alloc()  # before collecting: what the op itself allocated still counts
        peak = max(peak, used)
        gc.collect()
        rows.append((op.index, dt, used))
    return m._outputs(), rows, peak
