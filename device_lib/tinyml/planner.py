# Activation memory plan: every non-constant tensor gets an offset in one arena, and tensors
# whose lifetimes do not overlap share bytes. Greedy by size, the usual TFLM-style heuristic.


def lifetimes(tensors, ops, inputs, outputs):
    """{tensor index: [first op, last op]} for activations; model inputs live from -1,
    model outputs until len(ops)."""
    life = {}

    def touch(t, at):
        if tensors[t].const:
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
    """Returns ({tensor index: arena offset}, arena size)."""
    life = lifetimes(tensors, ops, inputs, outputs)
    order = sorted(life, key=lambda t: -tensors[t].nbytes)
    placed = []  # (offset, end, first, last)
    offsets = {}
    size = 0
    for t in order:
        first, last = life[t]
        need = (tensors[t].nbytes + align - 1) & ~(align - 1)
        busy = sorted((p[0], p[1]) for p in placed if p[2] <= last and first <= p[3])
        at = 0
        for start, end in busy:
            if at + need <= start:
                break
            at = max(at, end)
        placed.append((at, at + need, first, last))
        offsets[t] = at
        size = max(size, at + need)
    return offsets, size
