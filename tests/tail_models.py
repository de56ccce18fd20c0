"""Single-op int8 models of the long tail of TFLM's builtin ops (issue 12) that the converter lowers
to tinyml's own ops (REVERSE_V2, BROADCAST_TO, GATHER_ND, FILL, ZEROS_LIKE: the remap data move) or
runs as a table (CAST from int8), with random shapes and parameters: CASES[name](rng) -> (.tflite
bytes, [inputs (N, *shape) per model input]). tests/test_tail_ops.py runs several of each against
TFLM on the unix port; board_model() puts them all in one model, for a board session."""
import numpy as np

from layout_models import act, i32, inputs, model, q, shape
from tinyml_host.oracle import tflite_build as tb

T = tb.Tensor


def reverse_v2(rng):
    """One axis, or a run of consecutive axes in any order, negative at times (TFLM refuses others)."""
    rank = int(rng.integers(1, 5))
    s = shape(rng, rank, 1, 5)
    first = int(rng.integers(0, rank))
    n = int(rng.integers(1, rank - first + 1))
    axes = [int(a) - (rank if rng.random() < 0.4 else 0) for a in rng.permutation(range(first, first + n))]
    return model("REVERSE_V2", s, [i32(axes)], [s], rng=rng), inputs(rng, s)


def broadcast_to(rng):
    """An input with some dimensions 1 (and fewer of them) broadcast to an output of up to 4."""
    rank_out = int(rng.integers(1, 5))
    out = shape(rng, rank_out, 1, 4)
    rank_in = int(rng.integers(1, rank_out + 1))
    s = tuple(d if rng.random() < 0.5 else 1 for d in out[rank_out - rank_in:])
    return model("BROADCAST_TO", s, [i32(out)], [out], rng=rng), inputs(rng, s)


def gather_nd(rng):
    """Indices (..., k) of constant values: whole slices (k < rank) or single elements."""
    rank = int(rng.integers(1, 5))
    s = shape(rng, rank, 1, 5)
    k = int(rng.integers(1, rank + 1))
    lead = shape(rng, int(rng.integers(1, 3)), 1, 3)
    idx = np.stack([rng.integers(0, s[j], lead) for j in range(k)], -1)
    out = lead + s[k:]
    return model("GATHER_ND", s, [i32(idx)], [out], rng=rng), inputs(rng, s)


def gather_nd_elements(rng):
    """Single elements picked in a (2, 2) or (3, 2) grid: mostly no separable gather (a lookup of rows)."""
    s = shape(rng, int(rng.integers(2, 4)), 2, 4)
    lead = (int(rng.integers(2, 4)), 2)
    idx = np.stack([rng.integers(0, d, lead) for d in s], -1)
    return model("GATHER_ND", s, [i32(idx)], [lead], rng=rng), inputs(rng, s)


def zeros_like(rng):
    """Its output is 0 (not the zero point, whatever the output's quantization says)."""
    s = shape(rng, int(rng.integers(1, 5)), 1, 5)
    return model("ZEROS_LIKE", s, [], [s], rng=rng), inputs(rng, s)


def fill(rng):
    """FILL of a value computed when the model runs (one element GATHER_ND picks) to constant dims."""
    s = shape(rng, 2, 1, 4)
    dims = shape(rng, int(rng.integers(1, 5)), 1, 4)
    qp = q(rng)
    pick = [int(rng.integers(0, d)) for d in s]
    tensors = [act(s, qp), i32(pick), act((), qp), i32(dims), act(dims, qp)]
    ops = [tb.Op("GATHER_ND", [0, 1], [2]), tb.Op("FILL", [3, 2], [4])]
    return tb.build_model(ops, tensors, [0], [4]), inputs(rng, s)


def fill_constant(rng):
    """FILL of a constant value (a constant the converter computes) added to the input."""
    s = shape(rng, int(rng.integers(1, 5)), 1, 4)
    qp = q(rng)
    value = T(data=np.array(int(rng.integers(-128, 128)), np.int8), scale=qp[0], zero_point=qp[1])
    tensors = [act(s, qp), i32(s), value, act(s, qp), act(s, (qp[0] * 2, 0))]
    ops = [tb.Op("FILL", [1, 2], [3]), tb.Op("ADD", [0, 3], [4])]
    return tb.build_model(ops, tensors, [0], [4]), inputs(rng, s)


def cast(rng):
    """int8 to each type TFLM casts it to; every code once."""
    to = str(rng.choice(["int8", "int16", "int32", "float32"]))
    ins = [T((16, 16), scale=0.1, zero_point=int(rng.integers(-128, 128)))]
    m = tb.single_op_model("CAST", ins, [T((16, 16), dtype=to)])
    return m, [np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16)[:, rng.permutation(16)]]


CASES = {"REVERSE_V2": reverse_v2, "BROADCAST_TO": broadcast_to, "GATHER_ND": gather_nd, "ZEROS_LIKE": zeros_like,
         "FILL": fill, "FILL_CONSTANT": fill_constant, "CAST": cast}


def board_model(rng):
    """Every op above on the one input (2, 1, 5, 3), one output each (CAST to int32 and to float32;
    FILL of the element GATHER_ND picks; EMBEDDING_LOOKUP, GATHER and DYNAMIC_UPDATE_SLICE of ids
    ARG_MAX computes; ADD_N; CUMSUM):
    (.tflite bytes, inputs)."""
    qp = (0.05, -3)
    s = (2, 1, 5, 3)
    tensors = [act(s, qp)]
    ops = []

    def add(name, ins, out, dtype="int8", options=None):
        at = len(tensors)
        tensors.extend(c for c in ins if not isinstance(c, int))
        refs, k = [], at
        for c in ins:
            refs.append(c if isinstance(c, int) else k)
            k += not isinstance(c, int)
        tensors.append(act(out, qp) if dtype == "int8" else T(out, dtype=dtype))
        ops.append(tb.Op(name, refs, [len(tensors) - 1], dict(options or {})))
        return len(tensors) - 1

    rev = add("REVERSE_V2", [0, i32([-2, 1])], s)
    add("BROADCAST_TO", [0, i32([2, 4, 5, 3])], (2, 4, 5, 3))
    picked = add("GATHER_ND", [0, i32([[1, 0, 4], [0, 0, 0], [1, 0, 2]])], (3, 3))
    add("ZEROS_LIKE", [0], s)
    add("CAST", [0], s, "int32")
    add("CAST", [0], s, "float32")
    one = add("GATHER_ND", [0, i32([1, 0, 3, 2])], ())
    add("FILL", [i32([3, 2]), one], (3, 2))
    rows = T(data=np.arange(-60, 60, 5, dtype=np.int8).reshape(3, 2, 4), scale=qp[0], zero_point=qp[1])
    ids = add("ARG_MAX", [picked, i32([1])], (3,), "int32", {"output_type": "INT32"})  # ids the model computes, 0..2
    add("EMBEDDING_LOOKUP", [ids, rows], (3, 2, 4))
    ids2 = add("ARG_MAX", [0, i32([3])], (2, 1, 5), "int32", {"output_type": "INT32"})
    add("GATHER", [T(data=np.arange(-6, 6, dtype=np.int8).reshape(3, 4), scale=qp[0], zero_point=qp[1]), ids2],
        (2, 1, 5, 4), options={"axis": 0})
    grid = add("GATHER_ND", [0, i32([[0, 0, 1], [1, 0, 3], [0, 0, 4], [1, 0, 0]])], (4, 3))
    starts = add("ARG_MAX", [grid, i32([1])], (4,), "int32", {"output_type": "INT32"})  # 0..2, clamped
    update = T(data=np.arange(-3, 3, dtype=np.int8).reshape(1, 1, 2, 3), scale=qp[0], zero_point=qp[1])
    add("DYNAMIC_UPDATE_SLICE", [0, update, starts], s)
    add("ADD_N", [0, rev, 0], s)
    add("CUMSUM", [0, i32(2)], s, options={"reverse": True})
    produced = {o for op in ops for o in op.outputs}
    consumed = {i for op in ops for i in op.inputs}
    return tb.build_model(ops, tensors, [0], sorted(produced - consumed)), inputs(rng, s, 3)


def embedding_lookup(rng):
    """Int32 ids (the model's input, in range) picking rows of a constant int8 table (a Keras Embedding)."""
    rows = shape(rng, int(rng.integers(2, 5)), 1, 5)  # TFLM: a table of 2 dimensions or more, ids 1-D
    n = shape(rng, 1, 1, 5)
    qp = q(rng)
    table = T(data=rng.integers(-128, 128, rows).astype(np.int8), scale=qp[0], zero_point=qp[1])
    m = tb.single_op_model("EMBEDDING_LOOKUP", [T(n, dtype="int32"), table], [act(n + rows[1:], qp)])
    return m, [rng.integers(0, rows[0], (6,) + n).astype(np.int32)]


def gather_of_ids(rng):
    """A GATHER whose indices the model computes (ARG_MAX of the input): rows of an activation."""
    s = shape(rng, 2, 2, 5)
    rows = (s[1],) + shape(rng, int(rng.integers(0, 3)), 1, 4)
    qp = q(rng)
    tensors = [act(s, qp), i32(1), T((s[0],), dtype="int32"), act(rows, qp), act((s[0],) + rows[1:], qp)]
    ops = [tb.Op("ARG_MAX", [0, 1], [2], {"output_type": "INT32"}), tb.Op("GATHER", [3, 2], [4], {"axis": 0})]
    return tb.build_model(ops, tensors, [0, 3], [4]), inputs(rng, s, 6) + inputs(rng, rows, 6)


CASES.update({"EMBEDDING_LOOKUP": embedding_lookup, "GATHER_OF_IDS": gather_of_ids,
              "GATHER_ND_ELEMENTS": gather_nd_elements})


def dynamic_update_slice(rng):
    """An update (input) written into the operand (input) at int32 start indices (input) that reach
    outside, negative at times: TFLM clamps them."""
    rank = int(rng.integers(1, 5))
    s = shape(rng, rank, 1, 5)
    u = tuple(int(rng.integers(1, d + 1)) for d in s)
    qp = q(rng)
    m = tb.single_op_model("DYNAMIC_UPDATE_SLICE", [act(s, qp), act(u, qp), T((rank,), dtype="int32")], [act(s, qp)])
    starts = rng.integers(-3, 7, (6, rank)).astype(np.int32)
    return m, inputs(rng, s, 4) + inputs(rng, u, 4) + [starts]


CASES["DYNAMIC_UPDATE_SLICE"] = dynamic_update_slice


def add_n(rng):
    """2 to 20 inputs of one quantization (20 at the edge zero point wraps TFLM's int32 sum)."""
    s = shape(rng, int(rng.integers(1, 5)), 1, 4)
    n = int(rng.choice([2, 3, int(rng.integers(2, 21))]))
    qp, qy = q(rng), q(rng)
    m = tb.single_op_model("ADD_N", [act(s, qp) for _ in range(n)], [act(s, qy)])
    return m, [inputs(rng, s, 4)[0] for _ in range(n)]


def cumsum(rng):
    """Along any axis (negative at times), exclusive and reverse or not; long axes wrap TFLM's int32."""
    rank = int(rng.integers(1, 5))
    s = list(shape(rng, rank, 1, 5))
    axis = int(rng.integers(-rank, rank))
    if rng.random() < 0.3:
        s[axis] = int(rng.integers(16, 40))
    s = tuple(s)
    options = {"exclusive": bool(rng.random() < 0.5), "reverse": bool(rng.random() < 0.5)}
    m = tb.single_op_model("CUMSUM", [act(s, q(rng)), i32(axis)], [act(s, q(rng))], options)
    return m, inputs(rng, s, 4)


CASES.update({"ADD_N": add_n, "CUMSUM": cumsum})


def gather_nd_of_ids(rng):
    """A GATHER_ND of int32 indices (..., k) that are the model's input, in range."""
    rank = int(rng.integers(1, 5))
    s = shape(rng, rank, 1, 4)
    k = int(rng.integers(1, rank + 1))
    lead = shape(rng, int(rng.integers(1, 3)), 1, 3)
    qp = q(rng)
    m = tb.single_op_model("GATHER_ND", [act(s, qp), T(lead + (k,), dtype="int32")], [act(lead + s[k:], qp)])
    idx = np.stack([rng.integers(0, s[j], (6,) + lead) for j in range(k)], -1).astype(np.int32)
    return m, inputs(rng, s, 4) + [idx]


CASES["GATHER_ND_OF_IDS"] = gather_nd_of_ids
