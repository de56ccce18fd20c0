# `tinyml ota push B.bundle --board B [--port P] [--pubkey KEY.pub] [--replace-key]`: installs a
# signed bundle over the board's serial link, with the device's own checks (tinyml.ota):
#   1. the library goes first when the board's copy differs (board.deploy: only what changed);
#   2. begin(manifest, signature[, key]): the board checks the signature, product, sequence number,
#      runtime and ABI before anything is written, and prepares its inactive slot;
#   3. each file into the slot by deploy's write protocol (temporary name, hash check, rename);
#   4. commit(slot): the board checks the slot whole and makes it pending (one rename);
#   5. a soft reset and boot(): the one-shot trial with the health check; confirmed or rolled back.
# Exit 0 when the board runs the new bundle; a Refused error with the board's reason otherwise.
import binascii
import io
import json
import time

from tinyml_host.board import deploy as deploy_mod
from tinyml_host.ota import bundle as bundle_mod
from tinyml_host.ota import keys
from tinyml_host.ota.errors import OtaError, Refused

IMPORT = "import sys\nif '/lib' not in sys.path:\n    sys.path.append('/lib')\nimport tinyml.ota as _ota\n"


def board_status(link):
    """The board's update state (tinyml.ota.status()): slot, seq, pending, last, slots, abi, key."""
    out = link.exec(IMPORT + "_ota.status()")
    for line in out.splitlines():
        if line.startswith("tinyml-ota-status "):
            return json.loads(line[len("tinyml-ota-status "):])
    raise OtaError("the board did not report its update state; it printed: %r" % out[-300:])


def _call(link, code):
    out = link.exec(IMPORT + code)
    for line in out.splitlines():
        if line.startswith("tinyml-ota refused: "):
            raise Refused(line[len("tinyml-ota refused: "):])
    return out


def _key_to_send(st, pubkey, replace_key):
    have = st.get("key")
    if pubkey is None:
        if not have:
            raise OtaError("the board has no update key yet: give the public key with --pubkey KEY.pub "
                           "(the first push over serial installs it)")
        return None
    raw = keys.public_raw(pubkey)
    if have == binascii.hexlify(raw).decode():
        return None
    if have and not replace_key:
        raise OtaError("the board trusts another key (%s...); %s is %s...: to replace the board's key, push "
                       "over serial with --replace-key" % (have[:16], pubkey, binascii.hexlify(raw).decode()[:16]))
    return raw


def push(link, board, path, pubkey=None, replace_key=False, say=print, step=None, trial=True):
    """Installs the bundle at `path` on the board on `link`; returns the board's state after it.
    step(name): called before each write step (tests cut the power there)."""
    step = step or (lambda name: None)
    b = bundle_mod.read(path)
    t0 = time.monotonic()
    deploy_mod.deploy(link, board, out=io.StringIO())  # tinyml.ota itself, when the board's differs
    t_lib = time.monotonic() - t0
    link.soft_reset()  # a whole heap for the update: what an app left (modules, models) goes
    st = board_status(link)
    key = _key_to_send(st, pubkey, replace_key)
    say("pushing %s (seq %d, %d files, %d bytes) to %s; the board runs seq %d%s" % (
        path, b.seq, len(b.files), sum(len(d) for d in b.files.values()), link.port, st["seq"],
        " (slot %s)" % st["slot"] if st["slot"] else ""))
    t1 = time.monotonic()
    step("begin")
    out = _call(link, "_ota.begin(%r, %r, %r)" % (b.raw, b.sig, key))
    slot = [line.split()[2] for line in out.splitlines() if line.startswith("tinyml-ota slot ")][0]
    link.exec(deploy_mod.helpers() if hasattr(deploy_mod, "helpers") else deploy_mod.HELPERS)
    info = link.info()
    use_deflate = info.get("deflate")
    block = deploy_mod.BLOCK if info.get("heap", 0) >= 48 * 1024 else 1024
    files = [deploy_mod.File("/ota/%s/%s" % (slot, f["name"]), b.files[f["name"]], f["name"])
             for f in b.manifest["files"]]
    prog = deploy_mod.Progress(files, io.StringIO(), lambda f, done, *_: step("write %s %d" % (f.label, done)))
    for i, f in enumerate(files):
        f.hashed = info.get("sha256", True)
        deploy_mod._copy(link, f, prog, i, use_deflate, block)  # checked, staged as <name>.tmp
    # the slot is not live until _ota.commit: its staged copies go to their names one by one
    link.exec("for p in %r:\n    _tw_mv(p + '.tmp', p)" % [f.remote for f in files])
    step("commit")
    _call(link, "_ota.commit(%r)" % slot)
    t_copy = time.monotonic() - t1
    say("installed in slot %s in %.2f s; trying it" % (slot, t_copy))
    if not trial:
        return board_status(link)
    run_boot(link, say, step)
    st = board_status(link)
    st["seconds"] = {"library": round(t_lib, 3), "copy": round(t_copy, 3), "total": round(time.monotonic() - t0, 3)}
    if st["slot"] != slot or st["seq"] != b.seq:
        last = st.get("last") or {}
        raise Refused("%s: %s" % (last.get("result", "not installed"), last.get("reason", "?")))
    say("the board runs seq %d from slot %s (%.2f s in all)" % (b.seq, slot, st["seconds"]["total"]))
    return st


def run_boot(link, say=print, step=None):
    """What the board does at power-on about updates (tinyml.ota.boot(), as the app runner calls it),
    restarting while it asks to (an update is checked, then tried after a restart). Returns what the
    board printed."""
    step = step or (lambda name: None)
    printed = []
    for _ in range(3):
        step("reset")
        link.soft_reset()
        step("trial")
        out = link.exec(IMPORT + "_ota.boot()\nprint('tinyml-ota-restart', _ota.restart)")
        for line in out.splitlines():
            if line.startswith("tinyml-ota:"):
                say("board: " + line)
                printed.append(line)
        if "tinyml-ota-restart True" not in out:
            break
    return "\n".join(printed)


def restart_app(link):
    """Restarts the board as at power-on, in its friendly REPL, so main.py (the app) runs again."""
    link.friendly()
    link.serial.write(b"\x04")
