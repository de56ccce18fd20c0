"""docs/ops.md: every builtin op TFLM registers, whether tinyml runs it, with which types and where,
written from the op table (device_lib/tinyml/ops.py) and from the tflite-micro package the tests check
against (its op resolver: the Register_<OP> functions of its interpreter, named as in its schema).
    python -m tinyml_host.model.ops_doc          # rewrite docs/ops.md
    python -m tinyml_host.model.ops_doc --check  # exit 1 when it is out of date
tests/test_ops_doc.py checks the page is what this writes and that the README states the count."""
import pathlib
import re
import sys

from tinyml import ops as op_table
from tinyml_host.model.convert_nn import LOWERED

# Ops (by opcode) the converter computes itself (their inputs known when converting): they never reach a board.
CONVERTER_OPS = {77: "computed by the converter (shapes are static; a dynamic batch is batch 1)"}
# Types of the ops whose tensors are not int8 in and out.
TYPES = {114: "float32 or int8 in, int8 out", 6: "int8 in, float32 out", 56: "int8 in, int32 out",
         79: "int8 in, int32 out", 53: "int8 in; int8, int16, int32 or float32 out", 7: "int32 ids, int8 rows",
         151: "int8, int32 start indices"}
TYPES.update((code, "int8 in, bool out") for code in (58, 61, 62, 63, 71, 72))  # the comparisons
TYPES.update({27: "int8, int16 (or int8) time weights and state", 44: "int8, int16 cell state"})  # SVDF, LSTM (stateful)


def tflm_ops():
    """{code: name} of the builtin ops the installed tflite-micro's interpreter registers."""
    import tflite_micro
    from tflite_micro.tensorflow.lite.micro.python.schema_py_generated import BuiltinOperator
    codes = {k: v for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    lib = next(pathlib.Path(tflite_micro.__file__).parent.rglob("_runtime*.so"))
    registered = set(re.findall(rb"Register_([A-Z0-9_]+?)E?v", lib.read_bytes()))
    return {codes[n]: n for n in (r.decode() for r in registered) if n in codes}


def _where(kernel, flags):
    if kernel in ("lookup", "update_slice"):
        return "interpreter (one data move for every backend, in Python)"
    if flags == "moves":
        return "interpreter (one data move for every backend, in C with the native one)"
    return "native C, viper, Python"


def render():
    tflm = tflm_ops()
    rows = {r[0]: r for r in op_table.rows()}
    ours = [c for c in tflm if c in rows or tflm[c] in LOWERED]
    folded = [c for c in tflm if c in CONVERTER_OPS and c not in rows]
    lines = ["# Ops", "",
             "Every builtin op TFLite Micro registers (tflite-micro's op resolver, as installed for the tests),",
             "and whether tinyml runs it. tinyml runs **%d of TFLM's %d builtin ops** on the board, and the"
             % (len(ours), len(tflm)),
             "converter computes %d more itself. Generated from the op table (`device_lib/tinyml/ops.py`) by"
             % len(folded),
             "`python -m tinyml_host.model.ops_doc`; `tests/test_ops_doc.py` checks it is current. Semantics and",
             "parameters: [model-format.md](model-format.md); kernels: [kernels.md](kernels.md).", "",
             "| op | code | tinyml | types | runs on |", "| --- | --- | --- | --- | --- |"]
    for code in sorted(tflm, key=lambda c: tflm[c]):
        name = tflm[code]
        if code in rows:
            r = rows[code]
            types = TYPES.get(code, "int8") + (", int16 (16x8)" if code in op_table.S16 else "")
            lines.append("| %s | %d | yes | %s | %s |" % (name, code, types, _where(r[2], r[3])))
        elif name in LOWERED:  # the converter writes it as ops of the table
            how = re.sub(r"\b[a-z]+(_[a-z0-9]+|v2)+\b", lambda m: m.group(0).upper(), LOWERED[name])  # op names
            where = _where(None, "moves" if LOWERED[name].startswith("remap") else "-")
            lines.append("| %s | %d | yes | int8 | as %s: %s |" % (name, code, how, where))
        elif code in CONVERTER_OPS:
            lines.append("| %s | %d | converter | int32 | %s |" % (name, code, CONVERTER_OPS[code]))
        else:
            lines.append("| %s | %d | no | | |" % (name, code))
    extra = sorted(set(rows) - set(tflm))
    if extra:
        lines += ["", "In tinyml's op table but not registered by this tflite-micro: %s."
                  % ", ".join(op_table.name(c) for c in extra)]
    return "\n".join(lines) + "\n", len(ours), len(tflm)


def doc_path():
    return pathlib.Path(__file__).resolve().parents[3] / "docs" / "ops.md"


if __name__ == "__main__":
    text = render()[0]
    path = doc_path()
    if "--check" in sys.argv[1:]:
        if not path.exists() or path.read_text() != text:
            print("ops_doc: %s is out of date: run python -m tinyml_host.model.ops_doc" % path)
            sys.exit(1)
        sys.exit(0)
    path.write_text(text)
    print("ops_doc: wrote", path)
