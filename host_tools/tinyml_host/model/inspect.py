# `tinyml inspect`: the layer table of a .tml model, read with the device's own reader and planner.
from tinyml import ops as op_table, planner, tmlfile
from tinyml.model import op_macs
from tinyml_host.model import op_params

DTYPE = tmlfile.DTYPE_NAME


def _shape(t):
    return "x".join(str(d) for d in t.shape) or "-"


def _params(op, tensors):
    """The op's parameters as name=value (the op table's names); per-channel or per-tensor first for
    an op whose weights stream (its multiplier, input 3, has one entry per channel or one in all)."""
    text = op_params.describe(op.opcode, op.params)
    if op_table.streams(op.opcode):
        kind = "per-channel" if tensors[op.inputs[3]].nbytes > 4 else "per-tensor"
        text = kind + (", " + text if text else "")
    return text


def inspect(buf, name, out=print):
    tensors, ops, inputs, outputs = tmlfile.parse(buf, name)
    _, arena = planner.plan(tensors, ops, inputs, outputs)
    out("%s: %d bytes, %d ops, %d tensors" % (name, len(buf), len(ops), len(tensors)))
    out("  #  %-18s %-12s %-12s %10s %10s  %s" % ("op", "input", "output", "MACs", "weights B", "parameters"))
    total_macs = total_w = 0
    for op in ops:
        x, y = tensors[op.inputs[0]], tensors[op.outputs[0]]
        wbytes = sum(tensors[i].nbytes for i in op.inputs if tensors[i].const)
        macs = op_macs(op, tensors)
        total_macs += macs
        total_w += wbytes
        out("%3d  %-18s %-12s %-12s %10d %10d  %s" % (op.index, op_table.name(op.opcode),
            _shape(x), _shape(y), macs, wbytes, _params(op, tensors)))
    for kind, ids in (("input", inputs), ("output", outputs)):
        for i in ids:
            t = tensors[i]
            out("%-6s %-28s %s %s, scale %.6g, zero point %d" % (kind, t.name, DTYPE[t.dtype], _shape(t), t.scale, t.zero_point))
    out("total: %d MACs, %d bytes of weights and parameters, peak activation RAM %d bytes (one arena)"
        % (total_macs, total_w, arena))
    return {"macs": total_macs, "weight_bytes": total_w, "arena_bytes": arena}


def inspect_tflite(path, out=print):
    """The layer table of a TFLite model tinyml cannot convert: each op, its shapes, and whether
    tinyml runs it ("yes", "folded" when the converter computes it, "NO: <what to change>")."""
    from tinyml_host.model import convert as cv
    from tinyml_host.model.tflite_reader import read_tflite
    model = read_tflite(str(path))
    ops = list(model.operators)
    try:
        kept = {id(op) for op in cv.fold_constants(model, lambda op, why: None)}
    except Exception:  # a fold that fails: the table shows the ops as they are
        kept = {id(op) for op in ops}
    out("%s: TFLite, %d ops, %d tensors" % (path, len(ops), len(model.tensors)))
    out("  #  %-28s %-14s %-14s  %s" % ("op", "input", "output", "tinyml"))
    missing = 0
    for op in ops:
        shape = [_shape(model.tensors[i]) for i in (op.inputs[:1] + op.outputs[:1]) if i >= 0] + ["-", "-"]
        if id(op) not in kept:
            mark = "folded (computed by the converter)"
        elif op.name in cv.SUPPORTED:
            mark = "yes"
        else:
            mark = "NO: " + cv.unsupported_advice(op.name)
            missing += 1
        out("%3d  %-28s %-14s %-14s  %s" % (op.index, "%s v%d" % (op.name, op.version), shape[0], shape[1], mark))
    return missing
