"""The op table is the single source of truth (issue 11): the device's tinyml/ops.py, the host's
model/op_params.py, the C kernels' generated tinyml_ops.h, the three backends and both docs agree
with it, and an op's name appears nowhere else in the code that runs models."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from tinyml_host.model import op_params

sys.path.insert(0, str(ROOT / "firmware" / "kernels"))
import gen_ops_h  # noqa: E402
from tinyml import ops  # noqa: E402  (the device table, on CPython)

MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
ROWS = list(ops.rows())
NAMES = [r[1] for r in ROWS]
KERNEL_ROWS = [r for r in ROWS if r[3] != "moves"]
KERNELS = sorted({k for r in KERNEL_ROWS for k in r[2].split("/")})
MODEL_FORMAT = (ROOT / "docs" / "model-format.md").read_text()
KERNELS_MD = (ROOT / "docs" / "kernels.md").read_text()


def slot_names(family):
    """The device's slots of a family, in order: [(name, value)], e.g. CONV -> [("H", 0), ...]."""
    table = gen_ops_h.slots()
    out = [(k[len(family) + 1:], v) for k, v in table.items() if k.startswith(family + "_") and k != family + "_PARAMS"]
    return sorted(out, key=lambda kv: kv[1])


def test_rows_are_well_formed():
    codes = [r[0] for r in ROWS]
    assert codes == sorted(set(codes)), "one row per opcode, sorted"
    assert len(set(NAMES)) == len(NAMES)
    assert all(r[3] in ("-", "streams", "moves", "max", "whole") for r in ROWS)
    assert ops.row(41)[1:4] == ("SUB", "sub", "-") and ops.row(13) is None and ops.name(13) == "OP13"
    for r in ROWS:
        for lo, hi in r[4:7]:
            assert 0 <= lo <= hi <= 255 or r[7] == "concat" and (lo, hi) == (2, 256), r
        assert r[5][0] >= 1, "%s: an op has at least one output" % r[1]


@pytest.mark.parametrize("row", ROWS, ids=NAMES)
def test_every_row_has_a_validation_check(row):
    """The loader validates each op record with its row's check (tinyml/validate.py CHECKS): a new
    row must name one (an existing check when its record is another op's), or this fails."""
    from tinyml import validate
    assert row[7] in validate.CHECKS, "%s: check %r is not in tinyml/validate.py CHECKS" % (row[1], row[7])
    assert callable(validate.CHECKS[row[7]]), row


@pytest.mark.parametrize("row", ROWS, ids=NAMES)
def test_parameter_count_of_each_row_is_the_host_list(row):
    """The device row's parameter count (what the loader enforces) is the host's list: all of it, or
    none for an op that may emit none (QUANTIZE from int8); a run to the end adds one per input."""
    specs = op_params.specs(row[1])
    fixed = sum(n for _, n in specs if n)
    lo, hi = row[6]
    if any(n is None for _, n in specs):
        assert lo == fixed + 1 and hi == fixed + row[4][1], (row, specs)
    else:
        assert hi == fixed and lo in (0, fixed), (row, specs)


def test_host_table_has_a_row_per_device_row():
    assert sorted(op_params.PARAMS) == sorted(NAMES)
    assert op_params.OPCODES == {r[1]: r[0] for r in ROWS}


@pytest.mark.parametrize("name", sorted(op_params.PARAMS))
def test_host_parameter_names_are_the_device_slots(name):
    """Parameter i of the host's list is the device's slot _<FAMILY>_<NAME> == _<FAMILY>_PARAMS + i
    (a run's first slot is <NAME>0): what the converter writes is where the kernel reads it."""
    family, _ = op_params.PARAMS[name]
    specs = op_params.specs(name)
    if family is None:
        assert specs == []
        return
    table = gen_ops_h.slots()
    at = table[family + "_PARAMS"]
    for pname, count in specs:
        key = family + "_" + pname.upper() + ("" if count == 1 else "0")
        assert table.get(key) == at, "%s: parameter %s is slot %s, expected %d" % (name, pname, table.get(key), at)
        at += 1 if count == 1 else (count or 0)


def test_encode_and_decode_by_name():
    values = dict(y_zp=-3, act_min=-128, act_max=127)
    assert op_params.encode("FULLY_CONNECTED", values) == [-3, -128, 127]
    assert op_params.describe(9, [-3, -128, 127]) == "y_zp=-3, act_min=-128, act_max=127"
    with pytest.raises(op_params.ParamError, match="takes parameters y_zp, act_min, act_max"):
        op_params.encode("FULLY_CONNECTED", dict(y_zp=0, act_min=0))
    p = op_params.encode("CONCATENATION", dict(outer=2, inner=[3, 4, 5]))
    assert p == [2, 3, 4, 5] and op_params.describe(2, p) == "outer=2, inner=[3,4,5]"


def test_c_header_and_python_slot_blocks_are_generated_from_the_table():
    r = subprocess.run([sys.executable, str(ROOT / "firmware" / "kernels" / "gen_ops_h.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    header = (ROOT / "firmware" / "kernels" / "tinyml_ops.h").read_text()
    for opcode, name, *_ in ROWS:
        assert "#define TML_OP_%s %d\n" % (name, opcode) in header


def test_op_names_appear_in_c_only_in_the_generated_header():
    for path in sorted((ROOT / "firmware" / "kernels").glob("*.[ch]")):
        if path.name == "tinyml_ops.h":
            continue
        text = path.read_text()
        found = [n for n in NAMES if re.search(r"\b%s\b" % n, text)]
        assert not found, "%s names ops %s: use tinyml_ops.h's slots" % (path.name, found)


def test_every_kernel_is_in_each_backend():
    """Each kernel of the table in kernels_py and kernels_viper (on the real unix port; the stateful
    ops' in kernels_py_recurrent and kernels_viper_recurrent, which tinyml/stateful.py imports when a
    model has one) and in the C module (registered in both builds: natmod and user C module);
    interpreter moves in steps.py (remap in moves.py, which a load imports when a model has one)."""
    script = ("import sys\nsys.path.insert(0, %r)\nfrom tinyml import kernels_py, kernels_viper, steps, moves\n"
              "from tinyml import kernels_py_recurrent as pr, kernels_viper_recurrent as vr\n"
              "for k in %r:\n    print(k, hasattr(kernels_py, k) or hasattr(pr, k), hasattr(kernels_viper, k) or "
              "hasattr(vr, k))\n"
              "for k in %r:\n    print(k, hasattr(steps, k) or hasattr(moves, k))\n"
              % (str(ROOT / "device_lib"), KERNELS, sorted({r[2] for r in ROWS if r[3] == "moves"})))
    r = subprocess.run([str(MICROPYTHON), "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.split("\n"):
        assert "False" not in line, line
    binding = (ROOT / "firmware" / "kernels" / "tinyml_kernels.c").read_text()
    for k in KERNELS:
        assert "mp_store_global(MP_QSTR_%s," % k in binding, "natmod build lacks " + k
        assert "MP_ROM_QSTR(MP_QSTR_%s)" % k in binding, "user C module build lacks " + k


def _doc_blocks(text):
    """(op names, parameter list or None) of each op's entry in model-format.md: a '### NAME (code)'
    section or a '- **NAME (code)**' item; its list is the `p = ...` in it."""
    blocks = re.split(r"\n(?=### |- \*\*)", text[text.index("\n## Ops"):])
    out = []
    for b in blocks:
        head = b.split(":")[0] if b.startswith("- ") else b.split("\n")[0]
        ops_here = re.findall(r"\b([A-Z][A-Z0-9_]+) \((\d+)\)", head)
        m = re.search(r"`p = ([^`]*)`", b)
        out.append((ops_here, None if m is None else [x.strip() for x in m.group(1).split(",")]))
    return out


def test_model_format_doc_lists_every_op_with_its_parameters():
    blocks = _doc_blocks(MODEL_FORMAT)
    documented = {(n, int(c)) for names, _ in blocks for n, c in names}
    assert documented == {(r[1], r[0]) for r in ROWS}, "docs/model-format.md and the op table differ"
    for name in NAMES:
        lists = [p for names, p in blocks if name in [n for n, _ in names]]
        want = op_params.PARAMS[name][1].split()
        if want:
            assert [w.replace(" ", "") for w in want] in [[x.replace(" ", "") for x in p] for p in lists if p], \
                "%s: docs/model-format.md lists %s, the host table %s" % (name, lists, want)
        assert all(p is None or p == want for p in lists), (name, lists, want)


def test_kernels_doc_has_every_kernel_and_its_g():
    rows = {m[0]: m for m in re.findall(r"^\| `([a-z0-9_]+)\(([^)]*)\)` \| (.*) \|$", KERNELS_MD, re.M)}
    assert set(KERNELS) <= set(rows), "docs/kernels.md lacks %s" % (set(KERNELS) - set(rows))
    assert set(rows) - set(KERNELS) <= {"rfft_q15", "window_q15"}, "kernels.md documents kernels the table lacks"
    for kernel, family in (("conv2d", "CONV"), ("depthwise_conv2d", "CONV"), ("pool2d", "POOL"),
                           ("mean_hw", "MEAN"), ("add", "ADD"), ("mul", "MUL"), ("quantize_f32", "QUANTIZE")):
        documented = re.match(r"`([^`]*)`", rows[kernel][2]).group(1).replace(" ", "").split(",")
        slots = [n.lower() for n, _ in slot_names(family)]
        if kernel == "conv2d":
            slots = slots[:-1]  # depthwise_conv2d only: depth_multiplier
        runs = {s[:-1] + "[4]": s for s in slots if s.endswith("0") and s[:-1] + "1" not in slots}
        assert [runs.get(d, d) for d in documented] == slots, (kernel, documented, slots)
    for kernel, name in (("fully_connected", "FULLY_CONNECTED"), ("softmax", "SOFTMAX")):
        args = rows[kernel][1].replace(" ", "").split(",")
        want = op_params.PARAMS[name][1].split()
        assert args[-len(want):] == want, (kernel, args, want)


OUTSIDE_TABLES_OK = ("tests/", "docs/", "README.md", "device_lib/tinyml/ops.py",
                     "host_tools/tinyml_host/model/op_params.py", "firmware/kernels/tinyml_ops.h",
                     # code that writes TFLite (not .tml) models names TFLite's ops: the ONNX lowering,
                     # the oracle's test-model builder, a model's export script
                     "host_tools/tinyml_host/optimize/", "host_tools/tinyml_host/oracle/", "models/")


def _code(hit):
    """The code of a `git grep -n` hit (path:line:text), without a trailing # or // comment: a
    comment naming an op explains, it is not a second table."""
    path, _, text = hit.split(":", 2)
    mark = "#" if path.endswith(".py") else "//" if path.endswith((".c", ".h")) else None
    return text.split(mark, 1)[0] if mark else text


def _allowed(hit, name):
    if hit.startswith(OUTSIDE_TABLES_OK) or not re.search(r"\b%s\b" % name, _code(hit)):
        return True
    # the reader's names of TFLite's fused activations (ActivationFunctionType TANH), not the op
    if hit.startswith("host_tools/tinyml_host/model/tflite_reader.py:") and "ACTIVATIONS = (" in hit:
        return True
    # a fused activation (RELU, RELU6) as activation_range takes it, not the op
    return hit.startswith("host_tools/tinyml_host/model/quantize.py:") and "if activation ==" in hit


@pytest.mark.parametrize("name", NAMES)
def test_an_op_name_is_only_in_the_tables(name):
    """`git grep -w NAME` outside the two tables finds tests, docs, TFLite writers and comments only
    (the converter's method for an op is named after it in lower case)."""
    r = subprocess.run(["git", "grep", "-n", "-w", "-I", name, "--", "."], capture_output=True, text=True, cwd=ROOT)
    hits = [h for h in r.stdout.split("\n") if h and not _allowed(h, name)]
    assert not hits, "\n".join(hits)


def test_native_families_match_the_binding():
    """The native module is one .mpy per family of kernels: each kernel tinyml_kernels.c's mpy_init
    registers is in one family group (TML_IN), and tinyml/backends.py's FAMILIES names the same
    module for it (the core, TML_NN, is tinyml_kernels and in no row): a model's load imports the
    module its kernel is in, and a new kernel's registration outside a group fails here."""
    from tinyml.backends import FAMILIES
    where = {k: "tinyml_kernels_" + f for f, names in FAMILIES for k in names.split()}
    binding = (ROOT / "firmware" / "kernels" / "tinyml_kernels.c").read_text()
    init = binding[binding.index("mp_obj_t mpy_init("):binding.index("MP_DYNRUNTIME_INIT_EXIT")]
    family = None
    seen = {}
    for line in init.splitlines():
        m = re.match(r"\s*#if TML_IN\(TML_(\w+)\)", line)
        if m:
            family = "tinyml_kernels" if m.group(1) == "NN" else "tinyml_kernels_" + m.group(1).lower()
        elif line.strip() == "#endif":
            family = None
        m = re.match(r"\s*mp_store_global\(MP_QSTR_(\w+), MP_OBJ_FROM_PTR", line)
        if m:
            k = m.group(1)
            assert family, "%s is registered outside a TML_IN(...) family group of mpy_init" % k
            assert k not in seen, "%s is registered twice" % k
            seen[k] = family
            assert where.get(k, "tinyml_kernels") == family, (
                "%s is in %s.mpy, but tinyml/backends.py's FAMILIES says %s" % (k, family, where.get(k, "the core")))
    for k, family in where.items():
        assert seen.get(k) == family, "tinyml/backends.py's FAMILIES puts %s in %s.mpy, mpy_init does not" % (k, family)
    for k in KERNELS:
        assert k in seen, "no native kernel %s in mpy_init" % k
