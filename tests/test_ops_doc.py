"""docs/ops.md is what tinyml_host.model.ops_doc writes from the op table and the installed
tflite-micro's op resolver, and the README states its count."""
import re

from conftest import ROOT
from tinyml_host.model import ops_doc


def test_ops_doc_is_current():
    text, _, _ = ops_doc.render()
    assert (ROOT / "docs" / "ops.md").read_text() == text, \
        "docs/ops.md is out of date: run (in host_tools/) python -m tinyml_host.model.ops_doc"


def test_the_doc_lists_every_op_tflm_registers_and_marks_the_tables():
    text, ours, total = ops_doc.render()
    assert total >= 90, "tflite-micro's resolver registers %d builtin ops: the symbol scan broke" % total
    rows = re.findall(r"^\| ([A-Z0-9_]+) \| (\d+) \| (yes|no|converter) \|", text, re.M)
    assert len(rows) == total and sum(r[2] == "yes" for r in rows) == ours
    assert ("CONV_2D", "3", "yes") in rows and ("SHAPE", "77", "converter") in rows


def test_readme_states_the_count():
    _, ours, total = ops_doc.render()
    m = re.search(r"tinyml runs (\d+) of TFLM's (\d+) builtin ops", (ROOT / "README.md").read_text())
    assert m and (int(m.group(1)), int(m.group(2))) == (ours, total), \
        "README.md must say 'tinyml runs %d of TFLM's %d builtin ops'" % (ours, total)
