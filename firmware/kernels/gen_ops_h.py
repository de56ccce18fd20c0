"""Writes the views of the op table (device_lib/tinyml/ops.py) that other sources compile in:
- firmware/kernels/tinyml_ops.h: opcodes and the named slots of each kernel's g, for C;
- in each device module that reads g (PY_MODULES), the block of private consts of the slots it uses,
  which MicroPython folds at compile time: no RAM on the board, and viper indexes with them.
Run by `make ops-header`; tests/test_op_table.py checks everything is what this writes.
    python firmware/kernels/gen_ops_h.py          # rewrite the header and the blocks
    python firmware/kernels/gen_ops_h.py --check  # exit 1 naming what is out of date"""
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
DEVICE = HERE.parent.parent / "device_lib"
sys.path.insert(0, str(DEVICE))
from tinyml import ops  # noqa: E402

HEADER = HERE / "tinyml_ops.h"
PY_MODULES = ["tinyml/binding.py", "tinyml/steps.py", "tinyml/kernels_py.py", "tinyml/kernels_viper.py",
              "tinyml/kernels_viper_elementwise.py", "tinyml/kernels_py_math.py", "tinyml/kernels_viper_math.py",
              "tinyml/validate.py", "tinyml/kernels_viper_resize.py", "tinyml/stateful.py",
              "tinyml/kernels_py_recurrent.py", "tinyml/kernels_viper_recurrent.py", "tinyml/validate_recurrent.py",
              "tinyml/validate_more.py",
              "tinyml/kernels_py_matmul.py", "tinyml/kernels_viper_matmul.py",
              "tinyml/kernels_py_s16.py", "tinyml/kernels_viper_s16.py", "tinyml/validate_s16.py", "tinyml/kernels_py_tail.py", "tinyml/kernels_viper_tail.py"]
BEGIN = "# ---- g's slots used here: written from tinyml/ops.py by firmware/kernels/gen_ops_h.py, do not edit ----"
END = "# ---- end of g's slots ----"


def slots():
    """{name: value} of the table's slot constants (private names in ops.py), in the file's order."""
    return {k[1:]: v for k, v in vars(ops).items() if re.fullmatch(r"_[A-Z][A-Z0-9_]*", k) and isinstance(v, int)}


def header():
    lines = ["// tinyml's op table for C: generated from device_lib/tinyml/ops.py by gen_ops_h.py (make ops-header).",
             "// Do not edit: tests/test_op_table.py checks that this file is what the generator writes.",
             "#ifndef TINYML_OPS_H", "#define TINYML_OPS_H", "",
             "// opcodes: the TFLite BuiltinOperator number of the op each implements"]
    for opcode, name, *_ in ops.rows():
        lines.append("#define TML_OP_%s %d" % (name, opcode))
    lines += ["", "// slots of each kernel's g (docs/kernels.md): the interpreter's, then the op's parameters"]
    lines += ["#define TML_%s %d" % kv for kv in slots().items()]
    lines += ["", "#endif // TINYML_OPS_H", ""]
    return "\n".join(lines)


def with_block(text):
    """A module's text with its block of slots rewritten: the slots its code uses (outside the block)."""
    if BEGIN not in text or END not in text:
        raise SystemExit("gen_ops_h: no slot block (%r ... %r) to write" % (BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    table = slots()
    used = set(re.findall(r"\b_([A-Z][A-Z0-9_]*)\b", head + tail)) & set(table)
    block = [BEGIN] + ["_%s = const(%d)" % (k, v) for k, v in table.items() if k in used] + [END]
    return head + "\n".join(block) + tail


def outputs():
    """{path: text} of everything this writes."""
    out = {HEADER: header()}
    for rel in PY_MODULES:
        path = DEVICE / rel
        out[path] = with_block(path.read_text())
    return out


if __name__ == "__main__":
    stale = [p for p, text in outputs().items() if not p.exists() or p.read_text() != text]
    if "--check" in sys.argv[1:]:
        for p in stale:
            print("gen_ops_h: %s is out of date: run make ops-header" % p)
        sys.exit(1 if stale else 0)
    for p, text in outputs().items():
        if p in stale:
            p.write_text(text)
            print("gen_ops_h: wrote", p)
