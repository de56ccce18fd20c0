# `tinyml ota keygen | bundle | push | status | serve` (README: "Signed model updates").
# The command forms are fixed (scripts depend on them):
#   tinyml ota keygen -o KEY                         KEY (private) and KEY.pub
#   tinyml ota bundle MODEL --key KEY --seq N -o B.bundle [--app FILE ...]
#   tinyml ota push B.bundle --board B [--port P] [--pubkey KEY.pub] [--replace-key]
#   tinyml ota status --board B [--json]             seq, slot, last (result and reason)
#   tinyml ota serve DIR [--host H] [--port N]       bundles over HTTP (byte ranges), for boards that pull
# Exit status: 0 done; 1 the board refused the update (Refused.exit_status; the reason is printed);
# 2 anything else. The arguments are in the one command table, cli/commands.py.
import json


def cmd_keygen(a):
    from tinyml_host.ota import keys
    priv, pub = keys.keygen(a.output)
    print("wrote %s (private: keep it secret, it signs updates) and %s (public: `tinyml ota push --pubkey` "
          "installs it on a board)" % (priv, pub))


def cmd_bundle(a):
    from tinyml_host.ota import bundle
    golden = None
    if a.golden:
        import numpy as np
        golden = [np.load(p) for p in a.golden]
    b = bundle.build(a.model, a.key, a.seq, a.output, product=a.product, app=a.app or (), tflite=a.tflite,
                     cases=a.cases, inputs=golden, max_us=a.max_us, min_free=a.min_free, abi=a.abi)
    m = b.manifest
    print("wrote %s: %s seq %d, %d files (%s), %d golden cases from TFLM, signed" % (
        a.output, m["product"], m["seq"], len(m["files"]),
        ", ".join("%s %d B" % (f["name"], f["size"]) for f in m["files"]), m["golden"]["cases"]))


def _connect(a):
    from tinyml_host.board import run
    from tinyml_host.emulators import supervisor as emulators
    return run.connect(a.board, a.port, a.baud, start=emulators.start)


def cmd_push(a):
    from tinyml_host.ota import push
    link, prof = _connect(a)
    try:
        st = push.push(link, prof, a.bundle, pubkey=a.pubkey, replace_key=a.replace_key)
        if a.restart:
            push.restart_app(link)
    finally:
        link.close()
    if a.json:
        print(json.dumps(st))


def cmd_status(a):
    from tinyml_host.ota import push
    link, _ = _connect(a)
    try:
        st = push.board_status(link)
    finally:
        link.close()
    if a.json:
        print(json.dumps(st))
        return
    last = st.get("last") or {}
    print("running: %s" % ("seq %d from slot %s" % (st["seq"], st["slot"]) if st["slot"] else
                           "no update installed (the model deployed by `tinyml deploy`)"))
    for s, info in sorted((st.get("slots") or {}).items()):
        print("  slot %s: %s%s" % (s, "empty" if not info else "seq %s, %s (%s)" % (info["seq"], info["model"], info["product"]),
                                   "  <- running" if s == st["slot"] else "  <- pending" if s == st.get("pending") else ""))
    print("last update: %s" % ("none" if not last else "%s (seq %s): %s" % (last.get("result"), last.get("seq"), last.get("reason"))))
    print("board key: %s" % (st.get("key") or "none (the first push over serial installs one)"))


def cmd_serve(a):
    from tinyml_host.ota import serve
    serve.serve(a.dir, a.host, a.port, a.rate)
