# `tinyml inspect`: the layer table of a .tml model, read with the device's own reader and planner.
from tinyml import planner, tmlfile
from tinyml.model import (AVERAGE_POOL_2D, CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D,
                          OP_NAMES, op_macs)

DTYPE = tmlfile.DTYPE_NAME


def _shape(t):
    return "x".join(str(d) for d in t.shape) or "-"


def _params(op, tensors):
    if op.opcode == FULLY_CONNECTED:
        zp, lo, hi = op.params
        kind = "per-channel" if tensors[op.inputs[3]].nbytes > 4 else "per-tensor"
        return "%s, out zp %d, clamp [%d, %d]" % (kind, zp, lo, hi)
    p = op.params
    if op.opcode in (CONV_2D, DEPTHWISE_CONV_2D):
        kind = "per-channel" if tensors[op.inputs[3]].nbytes > 4 else "per-tensor"
        extra = ", depth x%d" % p[10] if op.opcode == DEPTHWISE_CONV_2D else ""
        return ("stride %dx%d, dilation %dx%d, pad top %d left %d, %s, zp %d -> %d, clamp [%d, %d]%s" % (
                p[0], p[1], p[2], p[3], p[4], p[5], kind, p[6], p[7], p[8], p[9], extra))
    if op.opcode in (AVERAGE_POOL_2D, MAX_POOL_2D):
        return "stride %dx%d, filter %dx%d, pad top %d left %d, clamp [%d, %d]" % tuple(p)
    return ", ".join(str(v) for v in p)


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
        out("%3d  %-18s %-12s %-12s %10d %10d  %s" % (op.index, OP_NAMES.get(op.opcode, str(op.opcode)),
            _shape(x), _shape(y), macs, wbytes, _params(op, tensors)))
    for kind, ids in (("input", inputs), ("output", outputs)):
        for i in ids:
            t = tensors[i]
            out("%-6s %-28s %s %s, scale %.6g, zero point %d" % (kind, t.name, DTYPE[t.dtype], _shape(t), t.scale, t.zero_point))
    out("total: %d MACs, %d bytes of weights and parameters, peak activation RAM %d bytes (one arena)"
        % (total_macs, total_w, arena))
    return {"macs": total_macs, "weight_bytes": total_w, "arena_bytes": arena}
