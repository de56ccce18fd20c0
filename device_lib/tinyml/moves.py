# The interpreter's one general data move (kernel "remap" of the op table): transposing, slicing,
# gathering, splitting, unpacking, depth/space and batch/space shuffles, mirror and constant padding,
# nearest-neighbour resizing are each, for one output, a separable gather that the converter works out (docs/model-format.md, "remap"): output element (i0, i1, i2, i3)
# is input byte T0[i0] + T1[i1] + T2[i2] + T3[i3], or the fill value where an entry is negative. The
# same bytes for every backend: the runs of the innermost dimension that are contiguous in the input
# are slice copies, found once when the model is bound; single bytes, with the viper backend, a viper
# loop (tinyml/moves_viper.py). The native backend runs the native module's remap instead (model.py).
from array import array


def plan(table, d, esize, fill, backend="python"):
    """(function, its arguments after x and y) of one remap: remap() with the outer tables and the
    innermost dimension's runs as (output byte, input byte or -1 for the fill, bytes); with the viper
    backend, a move of single bytes or of short rows (a pixel's channels) is moves_viper's loop
    instead (a slice copy costs a Python call per run)."""
    t = array("i", bytes(table))
    d0, d1, d2, d3 = d
    if backend != "python" and esize == 1 and d3 > 1 and (d3 < 64 or _fragmented(t[d0 + d1 + d2:])):
        try:
            from tinyml.moves_viper import gather
            return gather, (t, d0, d1, d2, d3, fill)
        except Exception:  # a port without viper: the slices below
            pass
    inner = t[d0 + d1 + d2:d0 + d1 + d2 + d3]
    runs = []
    for i in range(d3):
        src = inner[i]
        if runs and (src < 0) == (runs[-1][1] < 0) and (src < 0 or src == runs[-1][1] + runs[-1][2]):
            r = runs[-1]
            runs[-1] = (r[0], r[1], r[2] + esize)
        else:
            runs.append((i * esize, src if src >= 0 else -1, esize))
    row = d3 * esize
    filler = bytes([fill & 0xFF]) * row
    return remap, (t[:d0], t[d0:d0 + d1], t[d0 + d1:d0 + d1 + d2], tuple(runs), row, filler)


def _fragmented(inner):
    """Most innermost entries start a run of their own (their input bytes are not consecutive)."""
    breaks = 0
    for i in range(1, len(inner)):
        if inner[i] != inner[i - 1] + 1:
            breaks += 1
    return 2 * breaks >= len(inner)


def remap(x, y, t0, t1, t2, runs, row, filler):
    at = 0
    for b0 in t0:
        for b1 in t1:
            b01 = b0 + b1
            for b2 in t2:
                base = b01 + b2
                if base < 0:
                    y[at:at + row] = filler
                else:
                    for dst, src, n in runs:
                        if src < 0:
                            y[at + dst:at + dst + n] = filler[:n]
                        else:
                            y[at + dst:at + dst + n] = x[base + src:base + src + n]
                at += row


# The lookup of rows by int32 ids (a Keras Embedding; a gather of ids the model computes): output row
# i is row ids[i] of rows, `row` bytes each; with dims (a GATHER_ND's index of k components), ids come
# k at a time, naming row i0 * dims[1] * .. * dims[k-1] + .. + ik-1 (TFLM's GatherNd: only that row is
# checked, not each component). A row outside the rows fails the inference, as in TFLM (a model's ids
# are untrusted: never a read outside rows).
def lookup(ids, rows, y, n_rows, row, dims=None):
    k = len(dims) if dims else 1
    for i in range((len(ids) >> 2) // k):
        r = 0
        for j in range(k):
            at = (i * k + j) << 2
            v = ids[at] | ids[at + 1] << 8 | ids[at + 2] << 16 | (ids[at + 3] ^ 0x80) << 24
            r = r * (dims[j] if j else 1) + v - 0x80000000  # the int32, without a big integer for negative ones
        if r < 0 or r >= n_rows:
            raise ValueError("lookup: the ids of output row %d name row %d, outside the %d rows; TFLM fails on it too"
                             % (i, r, n_rows))
        y[i * row:(i + 1) * row] = rows[r * row:(r + 1) * row]


# The update of a slice (TFLM's DYNAMIC_UPDATE_SLICE): y is x with u written at the int32 start
# indices, each clamped to 0..x's dimension - u's (TFLM's and XLA's rule), so a model's indices never
# write outside y. xd, ud: the shapes of x and u right-aligned to 4-D.
def update_slice(x, u, starts, y, xd, ud):
    if len(y):
        y[:] = x
    k = len(starts) >> 2
    s = [0, 0, 0, 0]
    for j in range(k):
        at = j << 2
        v = (starts[at] | starts[at + 1] << 8 | starts[at + 2] << 16 | (starts[at + 3] ^ 0x80) << 24) - 0x80000000
        lim = xd[4 - k + j] - ud[4 - k + j]
        s[4 - k + j] = 0 if v < 0 else lim if v > lim else v
    row = ud[3]
    src = 0
    for a in range(ud[0]):
        for b in range(ud[1]):
            for c in range(ud[2]):
                dst = (((s[0] + a) * xd[1] + s[1] + b) * xd[2] + s[2] + c) * xd[3] + s[3]
                y[dst:dst + row] = u[src:src + row]
                src += row
