# What a bound model runs (the steps tinyml/binding.py makes): the calls of the kernels that have no
# bound form, the streamed ops' reads of their weights into the window, the Python moves (PAD, copy,
# concatenation); and the small helpers the load shares with the binding (the window's chunking, the
# modules imported for a load and forgotten after it). Kept small: it stays on the heap with a model.
import sys

try:
    from micropython import const
except ImportError:  # CPython on the host
    def const(x):
        return x

# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----
_CONV_OC0 = const(8)
_CONV_OCN = const(9)
# ---- end of g's slots ----


def use(name):
    # A module only a load (or summary) needs: the op table, the planner, the backend picker, the
    # layout moves. Imported when used, forgotten after (forget), so its code and strings are not
    # on the heap beside a loaded model.
    __import__("tinyml." + name)
    return sys.modules["tinyml." + name]


def forget(*names):
    pkg = sys.modules.get("tinyml")
    for n in names:
        sys.modules.pop("tinyml." + n, None)
        if pkg is not None and n in pkg.__dict__:
            delattr(pkg, n)


def copy(x, y):
    y[:] = x


def align4(n):
    return (n + 3) & ~3


def pad(x, y, xs, ys, before, value):
    # x placed at offset `before` in y (both 4-D, int8), the rest `value`.
    y[:] = bytes([value & 0xFF]) * len(y)
    d0, d1, d2, d3 = xs
    e1, e2, e3 = ys[1], ys[2], ys[3]
    for i0 in range(d0):
        for i1 in range(d1):
            for i2 in range(d2):
                src = ((i0 * d1 + i1) * d2 + i2) * d3
                dst = (((i0 + before[0]) * e1 + i1 + before[1]) * e2 + i2 + before[2]) * e3 + before[3]
                y[dst:dst + d3] = x[src:src + d3]


def concat(xs, y, outer, inners):
    at = 0
    for o in range(outer):
        for x, n in zip(xs, inners):
            y[at:at + n] = x[o * n:(o + 1) * n]
            at += n


def chunking(tensors, window, by4=True):
    """How a weighted op's constants (weights, bias, multiplier, shift) stream: their parts
    ((tensor index, file offset, bytes per output channel; 0 for a per-tensor parameter)), the
    output channels per chunk, and the window bytes a chunk takes (0 when not streamed). by4: the
    chunks are whole runs of 4 output channels (a convolution's weights; a fully connected layer's
    rows stream one at a time, so its window is no larger than the window asked for, or one row)."""
    n_out = tensors[0].shape[0]
    parts = tuple((t.index, t.offset, t.nbytes // n_out if t.nbytes > 4 or n_out == 1 else 0)
                  for t in tensors)
    if window is None:
        return parts, n_out, 0
    chunk = max(1, min(n_out, window // (sum(align4(p[2]) for p in parts) or 1)))
    if by4 and chunk < n_out:  # whole runs of 4 channels: conv2d's weights are interleaved by 4 (model-format.md)
        chunk = max(4, chunk & ~3)
    return parts, chunk, sum(align4(p[2] * chunk) for p in parts)


def call(fa):
    # a kernel without a bound form (all of the viper and Python backends'), or a Python step
    fa[0](*fa[1])


def run_call(rec, oc0, ocn):
    # a streamed op's kernel call on the window's run of output channels oc0..oc0+ocn-1 (the native
    # backend's is its module's run(record, oc0, ocn))
    fn, args, es = rec  # es: the bytes of an activation (2 for int16)
    if len(args) == 7:  # a convolution: g names the run
        g = args[6]
        g[_CONV_OC0] = oc0
        g[_CONV_OCN] = ocn
        fn(*args)
        return
    x, w, bias, mult, shift, y, n_in, n_out = args[:8]
    if ocn == n_out:
        fn(*args)
        return
    for r in range(len(y) // (n_out * es)):  # a run of output columns of each row
        at = (r * n_out + oc0) * es
        fn(x[r * n_in * es:(r + 1) * n_in * es], w, bias, mult, shift, y[at:at + ocn * es], n_in, ocn, *args[8:])


def stream(s):
    # A weighted op whose constants stream: each run of output channels read from the file into the
    # window's preallocated views (the last, shorter run into their start), then the kernel on it.
    # Allocates nothing.
    f, run, rec, n_out, chunk, reads = s
    oc0 = 0
    while oc0 < n_out:
        ocn = n_out - oc0
        if ocn >= chunk:
            ocn = chunk
            for i in range(0, len(reads), 3):  # (file offset, bytes per channel, view) of each constant
                f.seek(reads[i] + oc0 * reads[i + 1])
                f.readinto(reads[i + 2])
        else:
            for i in range(0, len(reads), 3):
                f.seek(reads[i] + oc0 * reads[i + 1])
                n = ocn * reads[i + 1]
                try:  # MicroPython's files take a byte count: no slice of the view (an allocation)
                    f.readinto(reads[i + 2], n)
                except TypeError:  # CPython's files, and file-like objects with readinto(buf) only
                    f.readinto(reads[i + 2][:n])
        run(rec, oc0, ocn)
        oc0 += chunk
