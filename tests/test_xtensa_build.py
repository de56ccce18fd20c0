"""The ESP32 (xtensawin) build: the compiler firmware/xtensa/toolchain.sh assembles from Debian's
packages and the ESP32 core plugin, the native module `make natmod` builds with it, and the checks
of firmware/xtensa/check_natmod.py (no undefined symbol, IRAM-safe loads, one module for every
xtensawin core), each shown failing on a small bad sample in tests/xtensa_samples/."""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "tests", "xtensa_samples")
CHECK = os.path.join(ROOT, "firmware", "xtensa", "check_natmod.py")
MPY_DIR = os.path.join(ROOT, "build", "micropython")


def run(cmd, env=None, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)


@pytest.fixture(scope="module")
def xtensa_bin():
    r = run(["bash", os.path.join(ROOT, "firmware", "xtensa", "toolchain.sh")])
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def env(xtensa_bin):
    e = dict(os.environ)
    e["PATH"] = xtensa_bin + os.pathsep + e["PATH"]
    return e


@pytest.fixture(scope="module")
def natmod(env):
    r = run(["bash", os.path.join(ROOT, "firmware", "build_natmod.sh")], env=dict(env, ARCHS="xtensawin"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "xtensawin checks ok" in r.stderr
    abi = [line for line in r.stdout.splitlines() if line.startswith("xtensawin ")][-1]
    return os.path.join(ROOT, "dist", "xtensawin_6.3", "tinyml_kernels.mpy"), abi


def tool(xtensa_bin, name, chip="esp32"):
    return os.path.join(xtensa_bin, "xtensa-%s-elf-%s" % (chip, name))


def compile_sample(xtensa_bin, tmp_path, name, *flags):
    obj = str(tmp_path / (name + ".o"))
    r = run([tool(xtensa_bin, "gcc"), "-O2", "-std=c99", "-Wall", "-Werror", *flags, "-c",
             os.path.join(SAMPLES, name + ".c"), "-o", obj])
    assert r.returncode == 0, r.stderr
    return obj


def check(xtensa_bin, *args):
    r = run([sys.executable, CHECK, "--objdump", tool(xtensa_bin, "objdump"), *args])
    return r.returncode, r.stdout + r.stderr


def test_toolchain_makes_windowed_esp32_code_and_records_its_sources(xtensa_bin, tmp_path):
    src = tmp_path / "probe.c"
    src.write_text("int probe(int a, int b) { return a * b + (a >> 3); }\n")
    obj = str(tmp_path / "probe.o")
    r = run([tool(xtensa_bin, "gcc"), "-O2", "-c", str(src), "-o", obj])
    assert r.returncode == 0, r.stderr
    dis = run([tool(xtensa_bin, "objdump"), "-d", obj]).stdout
    for insn in ("entry", "mull", "retw.n"):  # windowed ABI and the ESP32's 32-bit multiplier
        assert re.search(r"\s%s\s" % re.escape(insn), dis), (insn, dis)
    for name in ("as", "ld", "ar", "nm", "objcopy", "readelf"):
        assert os.access(tool(xtensa_bin, name), os.X_OK)
    version = os.path.join(os.path.dirname(xtensa_bin), ".tinyml-version")
    if os.path.exists(version):  # absent when a compiler on PATH (ESP-IDF's) is used instead
        text = open(version).read()
        assert "gcc-xtensa-lx106=13.3" in text and "binutils-xtensa-lx106=2.40" in text
        assert "xtensa-dynconfig at c545876" in text and "xtensa-overlays at dd1cf19" in text


def test_esp32s3_plugin_knows_the_s3_simd_instructions(xtensa_bin, tmp_path):
    src = tmp_path / "simd.s"
    src.write_text("ee.zero.q q0\n")
    assert os.path.exists(tool(xtensa_bin, "as", "esp32s3")), "no xtensa-esp32s3-elf-as in " + xtensa_bin
    s3 = run([tool(xtensa_bin, "as", "esp32s3"), str(src), "-o", str(tmp_path / "s3.o")])
    esp32 = run([tool(xtensa_bin, "as"), str(src), "-o", str(tmp_path / "esp32.o")])
    assert s3.returncode == 0, s3.stderr
    assert esp32.returncode != 0 and "unknown opcode" in esp32.stderr


def test_no_call0_libgcc_to_link(xtensa_bin):
    libgcc = run([tool(xtensa_bin, "gcc"), "-print-libgcc-file-name"]).stdout.strip()
    if os.path.exists(os.path.join(os.path.dirname(xtensa_bin), ".tinyml-version")):  # ours
        assert not os.path.isfile(libgcc), "Debian's call0-ABI libgcc is linkable: " + libgcc
    else:  # Espressif's own toolchain on PATH has a windowed libgcc
        assert "lx106" not in libgcc, libgcc


def test_natmod_is_a_v6_xtensawin_mpy(natmod):
    path, line = natmod
    with open(path, "rb") as f:
        assert f.read(4) == bytes([0x4D, 0x06, 0x2B, 0x1F])  # M, v6, arch 10 << 2 | sub 3, 31-bit small ints
    assert " ok " in line


def test_module_objects_pass_the_checks(natmod, xtensa_bin):
    objs = [os.path.join(ROOT, "build", "natmod", "xtensawin", f)
            for f in os.listdir(os.path.join(ROOT, "build", "natmod", "xtensawin")) if f.endswith(".o")]
    rc, out = check(xtensa_bin, "--rodata-in-ram", *objs)
    assert rc == 0, out
    # The loader puts rodata in RAM: MicroPython 1.25's mpy_ld.py links xtensawin with separate_rodata.
    sys.path.insert(0, os.path.join(MPY_DIR, "tools"))
    try:
        import mpy_ld
    finally:
        sys.path.pop(0)
    assert mpy_ld.ARCH_DATA["xtensawin"].separate_rodata
    # And the kernels never read their rodata bytewise either: safe with an mpy_ld.py that merges it.
    rc, out = check(xtensa_bin, *objs)
    assert not [line for line in out.splitlines() if "narrow" in line], out


def test_byte_table_in_rodata_fails_when_rodata_is_in_iram(xtensa_bin, tmp_path):
    obj = compile_sample(xtensa_bin, tmp_path, "rodata_bytes", "-fno-branch-count-reg")
    rc, out = check(xtensa_bin, obj)
    assert rc == 1
    # Both reads of the table: in the helper it is passed to, and after the branch in the caller.
    assert "lookup" in out and "sample_sum" in out and out.count("narrow load through an address in .rodata") == 2
    rc, out = check(xtensa_bin, "--rodata-in-ram", obj)
    assert rc == 0, out


def test_byte_table_pointers_kept_in_the_stack_frame_fail(xtensa_bin, tmp_path):
    obj = compile_sample(xtensa_bin, tmp_path, "rodata_spilled", "-fno-branch-count-reg")
    dis = run([tool(xtensa_bin, "objdump"), "-d", obj]).stdout
    assert re.search(r"s32i(\.n)?\s+a\d+, a\d+, \d+", dis)  # the pointers go through memory
    rc, out = check(xtensa_bin, obj)
    assert rc == 1 and "sample_spill" in out and "narrow load through an address in .rodata" in out, out


def test_word_table_and_caller_buffer_bytes_pass(xtensa_bin, tmp_path):
    obj = compile_sample(xtensa_bin, tmp_path, "rodata_words", "-fno-branch-count-reg")
    dis = run([tool(xtensa_bin, "objdump"), "-d", obj]).stdout
    assert "l8ui" in dis  # the caller's int8 buffer is read bytewise: allowed
    rc, out = check(xtensa_bin, obj)
    assert rc == 0, out


def test_byte_table_with_the_code_fails(xtensa_bin, tmp_path):
    obj = compile_sample(xtensa_bin, tmp_path, "text_bytes", "-fno-branch-count-reg")
    rc, out = check(xtensa_bin, "--rodata-in-ram", obj)
    assert rc == 1 and "sample_get" in out and "l8ui" in out and ".text.sample_table" in out


def test_string_handed_to_micropython_fails_when_rodata_is_in_iram(xtensa_bin, tmp_path):
    obj = compile_sample(xtensa_bin, tmp_path, "string_to_micropython", "-fno-branch-count-reg")
    rc, out = check(xtensa_bin, obj)
    assert rc == 1 and "sample_fail" in out and ".rodata.str" in out and "goes to MicroPython" in out


def test_zero_overhead_loop_fails_for_the_esp32s2(xtensa_bin, tmp_path):
    obj = compile_sample(xtensa_bin, tmp_path, "rodata_words")  # default flags: a `loop` instruction
    rc, out = check(xtensa_bin, "--rodata-in-ram", obj)
    assert rc == 1 and "loop" in out and "ESP32-S2" in out


def test_libgcc_helper_is_named(xtensa_bin, tmp_path):
    obj = compile_sample(xtensa_bin, tmp_path, "int64_div", "-fno-branch-count-reg")
    rc, out = check(xtensa_bin, "--rodata-in-ram", obj)
    assert rc == 1 and "undefined symbol __divdi3" in out and "libgcc" in out


def test_build_fails_naming_the_undefined_symbol(env, tmp_path):
    """make natmod's own path: a kernel needing __divdi3 stops the build before mpy_ld.py, no .mpy."""
    root = tmp_path / "repo"  # the repository with a copy of firmware/ (its own build/ and dist/)
    root.mkdir()
    for name in os.listdir(ROOT):
        if name not in ("firmware", "build", "dist", ".git"):
            os.symlink(os.path.join(ROOT, name), root / name)
    shutil.copytree(os.path.join(ROOT, "firmware"), root / "firmware", symlinks=True,
                    ignore=lambda d, names: [n for n in names if n in ("qemu-esp32", "boards")])
    fw = root / "firmware"
    with open(fw / "kernels" / "tinyml_kernels.c", "a") as f:
        f.write("\nint64_t tml_sample_div(int64_t a, int64_t b) { return a / b; }\n")
    r = run(["bash", str(fw / "build_natmod.sh")], env=dict(env, ARCHS="xtensawin", MPY_DIR=MPY_DIR))
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "undefined symbol __divdi3" in out and "failed the checks" in out
    assert "LINK" not in out  # stopped before mpy_ld.py
    assert not (root / "dist" / "xtensawin_6.3" / "tinyml_kernels.mpy").exists()
