"""The `tinyml` command's one table and one error exit, and the one error root of the host package."""
import ast
import importlib
import pathlib

import pytest

from tinyml_host.cli import main as cli
from tinyml_host.cli.commands import COMMANDS
from tinyml_host.cli.table import build_parser, handler
from tinyml_host.errors import TinymlError

HOST = pathlib.Path(__file__).resolve().parents[1] / "host_tools" / "tinyml_host"
# Exceptions that never reach a user: the emulated ROM's protocol errors become status replies on
# its wire; ParamError is a converter bug (parameters that do not match the op table), not bad input.
NOT_USER_FACING = {"tinyml_host.emulators.esp_rom.loader.RomError", "tinyml_host.model.op_params.ParamError"}


def _commands(table, prefix=()):
    for c in table:
        if c.sub:
            yield from _commands(c.sub, prefix + (c.name,))
        elif c.handler:
            yield prefix + (c.name,), c.handler


@pytest.mark.parametrize("name,spec", [(" ".join(n), h) for n, h in _commands(COMMANDS)])
def test_every_handler_in_the_table_exists(name, spec):
    assert callable(handler(spec)), spec


def test_the_table_builds_one_parser_with_every_command():
    p = build_parser(COMMANDS)
    a = p.parse_args(["run", "m.tflite", "--input", "x.npy", "--output", "y.npy", "--board", "qemu-m3"])
    assert a.handler == "tinyml_host.cli.remote:cmd_run" and a.board == "qemu-m3" and a.window is None
    a = p.parse_args(["board", "stop", "unix"])
    assert a.handler == "tinyml_host.cli.board:cmd_stop"


def test_the_error_exit_prints_cause_and_exit_status_2(tmp_path, capsys):
    bad = tmp_path / "notes.tflite"
    bad.write_bytes(b"this is not a flatbuffer at all")
    assert cli.main(["convert", str(bad), "-o", str(tmp_path / "x.tml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyml: error: ") and "notes.tflite" in err and "Traceback" not in err
    assert not (tmp_path / "x.tml").exists()
    assert cli.main(["run", str(tmp_path / "missing.tml"), "--input", "x.npy", "--output", "y.npy"]) == 2
    assert "missing.tml" in capsys.readouterr().err


def test_an_error_carries_its_fix():
    e = TinymlError("the port is busy", fix="close the serial monitor")
    assert str(e) == "the port is busy\n  fix: close the serial monitor" and e.cause == "the port is busy"


def _error_classes():
    """(module, class name) of every exception class defined in the host package."""
    for path in sorted(HOST.rglob("*.py")):
        parts = list(path.relative_to(HOST.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and any(
                    isinstance(b, (ast.Name, ast.Attribute)) and
                    (getattr(b, "id", None) or getattr(b, "attr", "")).endswith(("Error", "Exception"))
                    for b in node.bases):
                yield ".".join(parts), node.name


@pytest.mark.parametrize("module,name", [(m, n) for m, n in _error_classes() if "%s.%s" % (m, n) not in NOT_USER_FACING],
                         ids=lambda x: x)
def test_every_error_is_a_tinyml_error(module, name):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, TinymlError), "%s.%s is not under tinyml_host.errors.TinymlError" % (module, name)
