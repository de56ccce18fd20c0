"""Tidy a lowered op list before it is written: a RESHAPE of a RESHAPE reads the first one's input, a
RESHAPE that changes no shape goes (the layout changes around Keras's 1-D layers leave such pairs), a
MEAN over height and width then a Flatten is one MEAN, and tensors no op uses any more are dropped."""

def tidy(ops, tensors, inputs, outputs):
    """(ops, tensors, inputs, outputs) with the RESHAPE chains shortened and unused tensors dropped."""
    keep_out = set(inputs) | set(outputs)
    while True:
        producer = {o: op for op in ops for o in op.outputs}
        readers = {}
        for op in ops:
            for i in op.inputs:
                readers[i] = readers.get(i, 0) + 1
        changed = False
        for op in ops:
            if op.name != "RESHAPE":
                continue
            src = producer.get(op.inputs[0])
            alone = readers[op.inputs[0]] == 1 and op.inputs[0] not in keep_out
            if src is not None and src.name == "RESHAPE" and alone:
                op.inputs[0] = src.inputs[0]  # reshape the first one's input directly
                ops = [o for o in ops if o is not src]
                changed = True
                break
            y_shape = tuple(tensors[op.outputs[0]].shape)
            if src is not None and src.name == "MEAN" and alone and src.options.get("keep_dims") and \
                    len(y_shape) == 2 and y_shape[-1] == tensors[op.inputs[0]].shape[-1]:
                src.options["keep_dims"] = False  # global average pooling then Flatten: one MEAN
                src.outputs = list(op.outputs)
                ops = [o for o in ops if o is not op]
                changed = True
                break
            x, y = op.inputs[0], op.outputs[0]
            if tuple(tensors[x].shape) == tuple(tensors[y].shape) and y not in keep_out:
                ops = [o for o in ops if o is not op]
                for o in ops:
                    o.inputs = [x if i == y else i for i in o.inputs]
                changed = True
                break
        if not changed:
            break
    return _compact(ops, tensors, inputs, outputs)


def _compact(ops, tensors, inputs, outputs):
    used = sorted(set(inputs) | set(outputs) | {i for op in ops for i in op.inputs + op.outputs if i >= 0})
    index = {old: new for new, old in enumerate(used)}
    for op in ops:
        op.inputs = [index[i] if i >= 0 else i for i in op.inputs]
        op.outputs = [index[i] for i in op.outputs]
    return ops, [tensors[i] for i in used], [index[i] for i in inputs], [index[i] for i in outputs]

