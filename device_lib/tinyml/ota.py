# Signed model updates with A/B slots and rollback, on the device (the host half: `tinyml ota`).
#
# On the board's filesystem:
#   /ota/key.pub      the Ed25519 public key updates must be signed with (installed over serial)
#   /ota/state.json   which slot runs, its sequence number, a pending update, the last result; always
#                     replaced whole by one os.rename of /ota/state.tmp (written and closed first)
#   /ota/a/, /ota/b/  the slots: manifest.json, manifest.sig (64 bytes), the model, golden.bin, ...
# An update goes into the slot that is not running. The manifest (JSON: ota/bundle.py on the host says
# its fields) is checked before anything is written: its Ed25519 signature, the product id, a
# sequence number above the running one, the runtime version and .mpy ABI. Each file is then
# written as <name>.part and renamed once its SHA-256 matches the manifest. commit() checks the
# whole slot again and makes it pending (the state's one rename). At the next boot(), the pending
# slot gets one trial: the state says so (written before each step starts); its signature and files
# are checked again, and after a restart (a whole heap) the model must give the golden outputs byte
# for byte within the latency and free-heap budget; then it is confirmed.
# A failed check, or a boot that finds a trial that never finished (crash, reset, power cut),
# returns to the previous slot and records why. Nothing in the running slot is touched by an update.
import gc
import json
import os

from tinyml.ota_health import files_ok, health_check as _health, sha256_file

ROOT = "/ota"
FORMAT = 1
SLOTS = ("a", "b")
MAX_MANIFEST = 16384


class UpdateError(Exception):
    """An update refused; its message is the reason recorded in the state's `last`."""


def _p(*parts):
    return "/".join((ROOT,) + parts)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _rename(old, new):
    try:
        os.rename(old, new)
    except OSError:
        # the unix port's VfsPosix mounted on a folder: rename from inside the folder
        c = os.getcwd()
        d, a = old.rsplit("/", 1)
        os.chdir(d or "/")
        try:
            os.rename(a, new.rsplit("/", 1)[1])
        finally:
            os.chdir(c)


def _mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        pass


def _rmtree(path):
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return
    for e in entries:
        q = path + "/" + e[0]
        if e[1] & 0x4000:
            _rmtree(q)
        else:
            os.remove(q)
    os.rmdir(path)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------- state

def state():
    """The update state: slot (running, None before the first update), seq, pending, trial, last."""
    try:
        st = json.loads(_read(_p("state.json")))
    except (OSError, ValueError):
        st = {}
    for k, v in (("slot", None), ("seq", 0), ("pending", None), ("trial", 0), ("last", None)):
        st.setdefault(k, v)
    return st


def _save(st):
    _mkdir(ROOT)
    tmp = _p("state.tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(st))
    _rename(tmp, _p("state.json"))


def _record(st, result, reason, seq):
    st["last"] = {"result": result, "reason": reason, "seq": seq}
    _save(st)


def inactive(st=None):
    st = st or state()
    return "b" if st["slot"] == "a" else "a"


def status():
    """One line of JSON for the host: the state, the slots' sequence numbers, and this board's ABI."""
    st = state()
    slots = {}
    for s in SLOTS:
        try:
            m = json.loads(_read(_p(s, "manifest.json")))
            slots[s] = {"seq": m.get("seq"), "product": m.get("product"), "model": m.get("model")}
        except (OSError, ValueError):
            slots[s] = None
    st["slots"] = slots
    st["abi"] = abi()
    try:
        import binascii
        st["key"] = binascii.hexlify(_read(_p("key.pub"))).decode()
    except OSError:
        st["key"] = None
    print("tinyml-ota-status " + json.dumps(st))


def abi():
    import sys
    mpy = getattr(sys.implementation, "_mpy", 0)
    return "%d.%d" % (mpy & 0xFF, mpy >> 8 & 3)


# ---------------------------------------------------------------- checks

def _version(text):
    out = []
    for part in str(text).split("."):
        try:
            out.append(int(part))
        except ValueError:
            out.append(0)
    return tuple(out)


def _check_name(name):
    ok = name and name not in (".", "..") and len(name) <= 64
    for c in name or "":
        if not (c.isalpha() or c.isdigit() or c in "._-"):
            ok = False
    if not ok or name.startswith("manifest.") or name.endswith(".part"):
        raise UpdateError("the manifest names a file %r that is not a plain file name" % (name,))


def check_manifest(raw, sig, st=None, key=None):
    """The manifest (dict) when raw (its bytes) is signed by the board's key and fits this board;
    else UpdateError with the reason. Runs before anything of an update is used or written."""
    if len(raw) > MAX_MANIFEST:
        raise UpdateError("the manifest is %d bytes (at most %d)" % (len(raw), MAX_MANIFEST))
    if key is None:
        try:
            key = _read(_p("key.pub"))
        except OSError:
            raise UpdateError("no public key on the board: push the first update over serial with --pubkey KEY.pub")
    if not ed25519.verify(key, raw, sig):
        raise UpdateError("bad signature: the manifest is not signed by the board's key")
    try:
        m = json.loads(raw)
    except ValueError:
        raise UpdateError("the manifest is not JSON")
    if m.get("format") != FORMAT:
        raise UpdateError("manifest format %r; this runtime reads format %d" % (m.get("format"), FORMAT))
    st = st or state()
    seq = m.get("seq")
    floor = max(st["seq"], st.get("floor") or 0)
    if not isinstance(seq, int) or seq <= floor:
        raise UpdateError("sequence number %r is not above the running one (%d): no downgrade or replay"
                          % (seq, floor))
    product = st.get("product")
    if product and m.get("product") != product:
        raise UpdateError("the bundle is for product %r; this board is %r" % (m.get("product"), product))
    import tinyml
    if _version(m.get("runtime", "0")) > _version(tinyml.__version__):
        raise UpdateError("the bundle needs tinyml %s; the board runs %s" % (m.get("runtime"), tinyml.__version__))
    need = m.get("abi")
    if need and need != abi():
        raise UpdateError("the bundle is built for .mpy ABI %s; this board's firmware has %s" % (need, abi()))
    for f in m.get("files", ()):
        _check_name(f.get("name"))
    if m.get("model") not in [f["name"] for f in m.get("files", ())]:
        raise UpdateError("the manifest's model %r is not among its files" % (m.get("model"),))
    return m


def _refuse(st, e, seq=None):
    _record(st, "refused", str(e), seq)
    print("tinyml-ota refused: %s" % e)


# ---------------------------------------------------------------- writing an update

def begin(raw, sig, key=None):
    """Starts an update from its manifest bytes and signature: checks them, then prepares the
    inactive slot (kept when it already holds this very manifest: a resumed download). key: the
    public key to install (serial only; the host asks for it). Returns the slot, or None (refused)."""
    st = state()
    if key is not None:
        key = bytes(key)
        if len(key) != 32 or ed25519.decode(key) is None:
            _refuse(st, UpdateError("the public key given is not an Ed25519 key (32 bytes)"))
            return None
    try:
        m = check_manifest(raw, sig, st, key)
    except UpdateError as e:
        _refuse(st, e, None)
        return None
    if key is not None:
        _mkdir(ROOT)
        with open(_p("key.tmp"), "wb") as f:
            f.write(key)
        _rename(_p("key.tmp"), _p("key.pub"))
    slot = inactive(st)
    if st["pending"] or st.get("prev") == slot:  # forget what the slot held before it changes
        st["pending"] = None
        st["trial"] = 0
        st["prev"] = None
        _save(st)
    d = _p(slot)
    try:
        same = _read(d + "/manifest.json") == bytes(raw) and _read(d + "/manifest.sig") == bytes(sig)
    except OSError:
        same = False
    if not same:
        _rmtree(d)
        _mkdir(ROOT)
        _mkdir(d)
        for name, data in (("manifest.sig", sig), ("manifest.json", raw)):
            with open(d + "/" + name, "wb") as f:
                f.write(data)
    print("tinyml-ota slot %s seq %d" % (slot, m["seq"]))
    return slot


def commit(slot):
    """Checks the whole slot again (signature, every file's size and SHA-256), then makes it the
    pending update with the state's one rename. True, or False with the reason recorded."""
    st = state()
    try:
        if slot not in SLOTS or slot == st["slot"]:
            raise UpdateError("slot %r is not the inactive slot" % (slot,))
        m = _verify_slot(slot, st)
    except UpdateError as e:
        _refuse(st, e)
        return False
    st["pending"] = slot
    st["trial"] = 0
    st["last"] = {"result": "pending", "reason": "installed in slot %s, to be tried at the next boot" % slot,
                  "seq": m["seq"]}
    if m.get("product") and not st.get("product"):
        st["product"] = m["product"]
    _save(st)
    print("tinyml-ota committed slot %s seq %d" % (slot, m["seq"]))
    return True


def _verify_slot(slot, st=None, check_seq=True, files=True):
    # files=False: the files were just hashed against this manifest (check()); its signature only
    d = _p(slot)
    try:
        raw = _read(d + "/manifest.json")
        sig = _read(d + "/manifest.sig")
    except OSError:
        raise UpdateError("slot %s has no manifest" % slot)
    if check_seq:
        m = check_manifest(raw, sig, st)
    else:  # the running slot: its signature still, not its sequence number
        try:
            key = _read(_p("key.pub"))
        except OSError:
            raise UpdateError("no public key on the board")
        if not ed25519.verify(key, raw, sig):
            raise UpdateError("slot %s: its manifest's signature does not verify" % slot)
        m = json.loads(raw)
    for f in m["files"] if files else ():
        try:
            h, n = sha256_file(d + "/" + f["name"])
        except OSError:
            raise UpdateError("%s is missing from slot %s" % (f["name"], slot))
        if n != f["size"] or h != f["sha256"]:
            raise UpdateError("%s: its SHA-256 or size differs from the signed manifest's" % f["name"])
    return m


# ---------------------------------------------------------------- boot: trial, confirm, rollback

def _files_ok(slot):
    try:
        m = json.loads(_read(_p(slot, "manifest.json")))
    except (OSError, ValueError) as e:
        return "its manifest cannot be read (%s)" % e
    return files_ok(_p(slot), m)


def health_check(slot, m=None, backend=None):
    """The slot's model on its manifest's golden inputs (tinyml.ota_health): None, or why not."""
    _forget_crypto()
    return _health(_p(slot), m or json.loads(_read(_p(slot, "manifest.json"))), backend)


def _forget_crypto():
    """Drops the signature code (and its big constants) from the heap once the checks are done."""
    import sys
    for name in ("tinyml.ed25519", "tinyml.sha512"):
        sys.modules.pop(name, None)
    global ed25519
    ed25519 = _Lazy()
    gc.collect()


class _Lazy:
    """tinyml.ed25519, imported when first needed: a boot with no update to try never loads it."""

    def __getattr__(self, name):
        global ed25519
        from tinyml import ed25519 as mod
        ed25519 = mod
        return getattr(mod, name)


ed25519 = _Lazy()


tried = False    # this boot worked on an update (the app runner then restarts: a whole heap for the app)
restart = False  # the update's checks passed: its health check runs after a restart, on a whole heap

# st["trial"]: 0 pending; 1 checking the slot; 2 checked, to be tried after a restart; 3 trying it.
# A boot that finds 1 or 3 was cut off in the middle (crash, reset, power cut): it rolls back.


def boot(backend=None):
    """Called first thing at boot (main.py, through tinyml.runner): tries a pending update once, in
    two boots (its signature and files checked, then, after a restart, its health check on a whole
    heap), confirms it or returns to the previous slot, and checks the running slot's files. Sets
    `restart` when the board must restart to go on. Returns the running slot's folder (None when no
    update was ever installed)."""
    global tried, restart
    st = state()
    pending = st["pending"]
    if pending:
        tried = True
        seq = None
        try:
            seq = json.loads(_read(_p(pending, "manifest.json"))).get("seq")
        except (OSError, ValueError):
            pass
        stage = st["trial"]
        if stage in (1, 3):
            _rollback(st, seq, "the trial boot of slot %s did not finish (crash, reset or power cut)" % pending)
        elif stage == 0:
            st["trial"] = 1
            _save(st)
            try:
                _verify_slot(pending, st)
                why = None
            except UpdateError as e:
                why = str(e)
            if why:
                _rollback(st, seq, "check failed: " + why)
            else:
                st["trial"] = 2
                _save(st)
                restart = True
                print("tinyml-ota: slot %s seq %d checked; its health check follows a restart" % (pending, seq))
        else:
            st["trial"] = 3
            _save(st)  # one shot: a boot that finds this again rolls back
            try:
                m = json.loads(_read(_p(pending, "manifest.json")))
                why = _files_ok(pending) or health_check(pending, m, backend)
            except Exception as e:  # noqa: anything the new model raises fails its check
                why = "the check raised %s: %s" % (type(e).__name__, e)
            gc.collect()
            if why:
                _rollback(st, seq, "health check failed: " + why)
            else:
                st["prev"] = st["slot"]
                st["slot"] = pending
                st["seq"] = seq
                st["floor"] = max(seq, st.get("floor") or 0)
                st["pending"] = None
                st["trial"] = 0
                st["product"] = st.get("product") or m.get("product")
                _record(st, "ok", "confirmed after its health check", seq)
                print("tinyml-ota: confirmed slot %s seq %d" % (pending, seq))
    slot = st["slot"]
    if slot:  # every boot: the running slot's files still match their manifest (flash can rot)
        why = _files_ok(slot)
        if why:
            prev = st.get("prev")
            back = prev if prev and _files_ok(prev) is None else None
            old = st["seq"]
            st["floor"] = max(old, st.get("floor") or 0)  # the floor stays: no replay of older bundles
            st["slot"] = back
            st["seq"] = json.loads(_read(_p(back, "manifest.json")))["seq"] if back else 0
            st["prev"] = None
            _rollback(st, old, "slot %s (seq %d) is damaged: %s" % (slot, old, why))
            slot = back
    return _p(slot) if slot else None


def check(backend=None):
    """Checks what runs now, as an update's trial did: the signature, every file, the golden outputs.
    Prints one line: tinyml-ota-check ok <slot> <seq>, none (no update installed) or bad <reason>."""
    st = state()
    if not st["slot"]:
        print("tinyml-ota-check none")
        return None
    slot = st["slot"]
    try:
        # The model's run first, while the heap is in one piece: the signature code, loaded after it,
        # leaves its interned names scattered through the heap (MicroPython never frees them), and
        # its copy of the manifest would split the block the model's arena needs. Files that differ
        # from the manifest skip the run: the signature check below says which.
        hashed = _files_ok(slot) is None
        health = health_check(slot, None, backend) if hashed else None
        seq = _verify_slot(slot, st, check_seq=False, files=not hashed)["seq"]
        why = health
    except UpdateError as e:
        why = str(e)
    if why:
        print("tinyml-ota-check bad " + why)
        return why
    print("tinyml-ota-check ok %s %d" % (slot, seq))
    return None


def _rollback(st, seq, why):
    st["pending"] = None
    st["trial"] = 0
    _record(st, "rolled back", why, seq)
    print("tinyml-ota: rolled back to %s: %s" % (("slot " + st["slot"]) if st["slot"] else "the deployed model", why))


def model_path(default=None):
    """The model the app should load: the running slot's, else default (a plain deploy's)."""
    st = state()
    if st["slot"]:
        try:
            m = json.loads(_read(_p(st["slot"], "manifest.json")))
            return _p(st["slot"], m["model"])
        except (OSError, ValueError):
            pass
    return default


def reference_stats():
    """The running update's reference statistics of the int8 input (the manifest's "ref"), or None."""
    st = state()
    if not st["slot"]:
        return None
    try:
        return json.loads(_read(_p(st["slot"], "manifest.json"))).get("ref")
    except (OSError, ValueError):
        return None
