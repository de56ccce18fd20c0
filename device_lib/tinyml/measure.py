# Measurements on the device, for the host (tinyml_host/board/run.py and board/unix.py):
#   bench_setup(path, backend, window)   the model's RAM and one profiled inference:
#                                        'tinyml-footprint backend=.. load=.. peak=.. arena=.. window=..'
#                                        and 'tinyml-op <index> us=.. heap=..' per op
#   bench(backend, budget_us, most)      'B <backend> <runs> <µs>', or why it could not run
#   op_times(backend, budget_us, most)   'tinyml-opsum <index> us=<µs over all runs> runs=<n>' per op
#   footprint(path, backend, window)     bench_setup's lines, on zero inputs
import gc

import tinyml
from tinyml.clock import diff_us, now_us

_path = _window = None


def _backends():
    # imported when used, not held by this module: a loaded model keeps no backend picker on the heap
    from tinyml import backends
    return backends


def _library(backend):
    """The library's own one-time costs, paid before a model is measured: the kernel module, and
    the strings validation's code interns (they stay on the heap after the model and the code go)."""
    import sys
    # validation's strings first: its code comes and goes, the pools of names it interns stay where
    # they were made, and made after the kernel module's code they would sit in the middle of the free
    # space the arena needs; made first, the kernel module's code takes the place the code left
    from tinyml import validate  # noqa: F401
    validate = None
    sys.modules.pop("tinyml.validate", None)
    if "validate" in tinyml.__dict__:
        delattr(tinyml, "validate")
    gc.collect()
    _backends().load(backend)
    # and the modules only a load uses, forgotten as a load forgets them (the backend picker, the op
    # table validate imported): left on the heap, the load's freeing them would be taken off the model's
    from tinyml.model import _forget
    _forget("backends", "native", "planner", "ops", "moves", "stateful")
    gc.collect()


def _tool():
    """Loads Model.profile()'s code (tinyml/profiling.py, imported when first called) and returns its
    bytes: the measuring tool's, taken off the model's figures."""
    gc.collect()
    a = gc.mem_alloc()
    from tinyml import profiling  # noqa: F401
    gc.collect()
    return gc.mem_alloc() - a


def bench_setup(path, backend=None, window=-1):
    """The model's RAM on this board and one profiled inference (footprint's lines)."""
    global _path, _window
    _path, _window = path, window
    gc.collect()  # what compiling and importing this left: the arena needs one block of the free space
    try:
        footprint(path, backend, window)
    except MemoryError:
        # footprint's zero inputs are copies; on a tight heap measure with the input buffers in place
        gc.collect()
        _library(backend)
        b = gc.mem_alloc()
        m = tinyml.load(path, backend, window)
        gc.collect()
        loaded = gc.mem_alloc() - b
        b += _tool()  # after the model: profile()'s code is small (tinyml/profiling.py), a gap holds it
        _, rows, peak = m.profile(*[m.input_buffer(k) for k in range(len(m.inputs))])
        print('tinyml-footprint backend=%s load=%d peak=%d arena=%d window=%d' % (
            m.backend, loaded, peak - b, m.arena_bytes, m.window_bytes))
        for i, us, heap in rows:
            print('tinyml-op %d us=%d heap=%d' % (i, us, heap - b))
        m = rows = None
    from tinyml.model import _forget
    _forget("profiling")  # profile()'s code, not on the heap beside the timed loads that follow
    gc.collect()


def bench(name, budget_us, most):
    """Times one backend for at most budget_us (and `most` runs) after bench_setup."""
    try:
        _backends().load(name)
    except ImportError as e:
        print('B', name, 'skip', str(e).replace('\n', ' '))
        return
    m = None
    gc.collect()
    n = t = 0
    try:
        m = tinyml.load(_path, name, _window)
        m.invoke()
        while n < most and (n < 1 or t < budget_us):
            t0 = now_us()
            m.invoke()
            t += diff_us(now_us(), t0)
            n += 1
    except MemoryError as e:
        m = None
        gc.collect()
        print('B', name, 'memory', gc.mem_free(), str(e))
        return
    print('B', name, n, t)
    m = None
    gc.collect()


def op_times(name, budget_us, most):
    """Each op's time summed over repeated profiled inferences (after bench_setup): on a board that
    counts instructions a µs is 1,000 of them, and the sum over n runs resolves an op to 1000/n."""
    _backends().load(name)
    gc.collect()
    m = tinyml.load(_path, name, _window)
    sums = {}
    n = t = 0
    while n < most and (n < 1 or t < budget_us):
        _, rows, _ = m.profile()
        for i, us, _ in rows:
            sums[i] = sums.get(i, 0) + us
            t += us
        n += 1
    for i in sorted(sums):
        print('tinyml-opsum %d us=%d runs=%d' % (i, sums[i], n))
    m = sums = None
    gc.collect()


def footprint(model_path, backend=None, window=-1):
    """RAM the model costs on this device, measured with gc.mem_alloc(): after loading, and at the
    high-water mark of one inference on zero inputs. Prints one line for the host to read."""
    _library(backend)  # the kernel modules are the library's, not the model's
    base = gc.mem_alloc()
    m = tinyml.load(model_path, backend, window)
    gc.collect()
    loaded = gc.mem_alloc() - base
    for k in range(len(m.inputs)):  # zero inputs, in place: a copy would cost RAM on a small heap
        buf = m.input_buffer(k)
        for i in range(len(buf)):
            buf[i] = 0
    base += _tool()  # after the model, as bench_setup's
    _, rows, peak = m.profile()
    peak -= base
    print("tinyml-footprint backend=%s load=%d peak=%d arena=%d window=%d" % (
        m.backend, loaded, peak, m.arena_bytes, m.window_bytes))
    for index, us, used in rows:
        print("tinyml-op %d us=%d heap=%d" % (index, us, used - base))
