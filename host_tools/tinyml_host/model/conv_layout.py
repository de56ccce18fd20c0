# The conv_2d weight layout of .tml version 2 (docs/model-format.md, "conv_2d weights"): output
# channels interleaved in runs of 4, so that the kernels' inner loop (4 output channels x 2 pixels)
# reads the four channels' weights of one or two taps from one place, and so that armv7emsp's
# SXTB16 splits a word into two channels' pairs of taps, ready for SMLAD.
import numpy as np

from tinyml import ops as device


def interleave_oc4(w):
    """int8 weights (OC, ...) -> the bytes conv2d reads: every block of 4 output channels b (while 4
    remain) holds, for each pair of taps (k, k+1), [c0 k, c1 k, c0 k+1, c1 k+1, c2 k, c3 k, c2 k+1,
    c3 k+1], and an unpaired last tap (K odd) as [c0, c1, c2, c3]; the remaining OC % 4 channels
    follow as plain rows. Same size, same shape."""
    w = np.asarray(w, np.int8)
    oc = w.shape[0]
    rows = w.reshape(oc, -1)
    k = rows.shape[1]
    nb = oc // 4
    blocks = rows[:nb * 4].reshape(nb, 2, 2, k)  # (block, channel // 2, channel % 2, tap)
    even = blocks[:, :, :, :k // 2 * 2].reshape(nb, 2, 2, k // 2, 2)  # (.., pair, tap % 2)
    parts = [even.transpose(0, 3, 1, 4, 2).reshape(nb, 4 * (k // 2 * 2))]  # (block, pair, channel // 2, tap % 2, channel % 2)
    if k % 2:
        parts.append(blocks[:, :, :, k - 1].reshape(nb, 4))
    out = np.concatenate([np.concatenate(parts, axis=1).reshape(-1), rows[nb * 4:].reshape(-1)])
    return out.reshape(w.shape)


def interleave_conv_weights(tensors, ops):
    """Every op of the conv2d kernel with an int8 input: its weights (input 1, the op's own tensor) in
    the interleaved layout."""
    for op in ops:
        if device.row(op.opcode)[2] == "conv2d" and tensors[op.inputs[0]].dtype == np.int8:
            t = tensors[op.inputs[1]]
            t.data = interleave_oc4(t.data)
