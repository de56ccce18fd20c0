# Activation memory plan: every non-constant tensor gets an offset in one arena, and tensors
# whose lifetimes do not overlap share bytes. Greedy by size, the usual TFLM-style heuristic;
# deterministic (ties by first use, then tensor index).
from array import array


def lifetimes(tensors, ops, inputs, outputs):
    """{tensor index: [first op, last op]} for activations; model inputs live from -1,
    model outputs until len(ops), variable tensors (state) both."""
    life = {}

    def touch(t, at):
        if tensors[t].const:
            return
        if tensors[t].variable:  # a stateful op's state: kept from one run to the next, so never shared
            life[t] = [-1, len(ops)]
            return
        span = life.get(t)
        if span is None:
            life[t] = [at, at]
        else:
            span[0] = min(span[0], at)
            span[1] = max(span[1], at)

    for t in inputs:
        touch(t, -1)
    for op in ops:
        for t in op.inputs:
            touch(t, op.index)
        for t in op.outputs:
            touch(t, op.index)
    for t in outputs:
        touch(t, len(ops))
    return life


def plan(tensors, ops, inputs, outputs, align=4):
    """Returns (offsets, arena size): offsets[i] is tensor i's place in the arena, -1 for constants."""
    # The result first: on a small heap it then sits low, below the temporaries freed on return,
    # and leaves the large free block the arena needs in one piece.
    offsets = array("i", [-1 for _ in range(len(tensors))])
    life = lifetimes(tensors, ops, inputs, outputs)
    sizes = {t: (tensors[t].nbytes + align - 1) & ~(align - 1) for t in life}
    placed = []  # (offset, end, first, last)
    size = 0
    # ties by first use, then index: never by the dict's order, which differs between CPython (insertion)
    # and MicroPython (hash), so a board's arena is the figure `tinyml inspect` prints
    for t in sorted(life, key=lambda t: (-sizes[t], life[t][0], t)):
        first, last = life[t]
        need = sizes[t]
        at = 0
        for start, end in sorted((p[0], p[1]) for p in placed if p[2] <= last and first <= p[3]):
            if at + need <= start:
                break
            at = max(at, end)
        placed.append((at, at + need, first, last))
        offsets[t] = at
        size = max(size, at + need)
    return offsets, size
