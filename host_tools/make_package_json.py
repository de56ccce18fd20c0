"""Writes package.json, the mip index of the device library (run from the repository root:
.venv/bin/python host_tools/make_package_json.py; tests/test_mip.py checks it is current);
with --release DIR, also the tree to publish at a release URL (DIR/package.json and every file it
names, dist/ included): `mip.install("https://HOST/PATH/package.json")` then installs from it.

`mpremote mip install github:OWNER/REPO` (or `mip.install(URL)` of a release tree holding dist/)
installs into the board's /lib:
  tinyml/**.py                                   the device library
  tinyml_native/<arch>_6.3/tinyml_kernels*.mpy   the native module of every arch tinyml builds, one
                                                 file per family of kernels (the board imports those
                                                 a model uses)
mip cannot choose a file by the board's CPU, so the board does: tinyml/backends.py finds
tinyml_native/{arch}_{abi}/ for its own sys.implementation._mpy on first use (about 140 KB of
flash for all six; `tinyml deploy` sends only the board's own, compiled)."""
import json
import pathlib
import runpy

ROOT = pathlib.Path(__file__).resolve().parents[1]


def package():
    paths = runpy.run_path(str(ROOT / "host_tools" / "tinyml_host" / "paths.py"))
    archs, mods = paths["ARCHS"], paths["native_modules"]()
    lib = ROOT / "device_lib" / "tinyml"
    urls = [["tinyml/" + p.relative_to(lib).as_posix(), p.relative_to(ROOT).as_posix()]
            for p in sorted(lib.rglob("*.py")) if "__pycache__" not in p.parts]
    urls += [["tinyml_native/%s_6.3/%s" % (a, m), "dist/%s_6.3/%s" % (a, m)] for a in archs for m in mods]
    version = None
    for line in (lib / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            version = line.split("=")[1].strip().strip("\"'")
    return {"version": version, "description": "tinyml: int8 TFLite models on MicroPython, TFLite-Micro exact",
            "urls": urls}


def text():
    """package.json, one file a line."""
    pkg = package()
    urls = ",\n".join("    " + json.dumps(u) for u in pkg.pop("urls"))
    head = json.dumps(pkg, indent=2)[:-2]
    return head + ',\n  "urls": [\n' + urls + "\n  ]\n}\n"


def release(out):
    """The release tree in out: package.json and every file it names, as laid out in the repository."""
    import shutil
    out = pathlib.Path(out)
    for _, src in package()["urls"]:
        (out / src).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / src, out / src)
    (out / "package.json").write_text(text())
    return out


if __name__ == "__main__":
    import sys
    (ROOT / "package.json").write_text(text())
    print("wrote package.json")
    if sys.argv[1:2] == ["--release"]:
        print("wrote the release tree in %s" % release(sys.argv[2]))
