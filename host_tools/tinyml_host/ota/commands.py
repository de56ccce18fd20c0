# `tinyml ota keygen | bundle | push | status | serve` (README: "Signed model updates").
# The command forms are fixed (scripts depend on them):
#   tinyml ota keygen -o KEY                         KEY (private) and KEY.pub
#   tinyml ota bundle MODEL --key KEY --seq N -o B.bundle [--app FILE ...]
#   tinyml ota push B.bundle --board B [--port P] [--pubkey KEY.pub] [--replace-key]
#   tinyml ota status --board B [--json]             seq, slot, last (result and reason)
#   tinyml ota serve DIR [--host H] [--port N]       bundles over HTTP (byte ranges), for boards that pull
# Exit status: 0 done; 1 the board refused the update (the reason is printed); 2 anything else.
import json
import sys

from tinyml_host.ota.errors import Refused


def _fail(e, code):
    print("tinyml ota: %s" % e, file=sys.stderr)
    raise SystemExit(code)


def _guarded(fn):
    def run(a):
        from tinyml_host.emulators.supervisor import EmulatorError
        from tinyml_host.errors import TinymlError
        try:
            return fn(a)
        except Refused as e:
            _fail(e, 1)
        except (TinymlError, EmulatorError, ValueError, OSError) as e:
            _fail("error: %s" % e, 2)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
    return run


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


def add_commands(sub):
    """Adds `tinyml ota ...` to the tinyml command's subparsers."""
    from tinyml_host.board.deploy import ABI
    ota = sub.add_parser("ota", help="signed model updates: keygen, bundle, push, status, serve")
    osub = ota.add_subparsers(dest="ota_cmd", required=True)

    c = osub.add_parser("keygen", help="make an Ed25519 key pair: KEY (private) and KEY.pub")
    c.add_argument("-o", "--output", required=True, metavar="KEY")
    c.set_defaults(fn=_guarded(cmd_keygen))

    c = osub.add_parser("bundle", help="a signed update bundle: the model, TFLM's golden outputs, a manifest")
    c.add_argument("model", help=".tflite (or a .tml with --tflite)")
    c.add_argument("--key", required=True, help="the private key (tinyml ota keygen)")
    c.add_argument("--seq", required=True, type=int, help="sequence number: above every earlier update's")
    c.add_argument("-o", "--output", required=True, metavar="B.bundle")
    c.add_argument("--app", action="append", help="a file to ship with the model (e.g. the app's .py)")
    c.add_argument("--product", default="tinyml", help="product id the board must have (default: tinyml)")
    c.add_argument("--tflite", help="the .tflite a .tml model was converted from (for TFLM's golden outputs)")
    c.add_argument("--golden", action="append", help=".npy of golden inputs (N, *shape), one per model input "
                                                     "(default: --cases random inputs)")
    c.add_argument("--cases", type=int, default=8, help="random golden inputs (default 8)")
    c.add_argument("--max-us", type=int, help="latency budget of the health check, µs per inference")
    c.add_argument("--min-free", type=int, help="free heap the health check needs after loading, bytes")
    c.add_argument("--abi", help="the .mpy ABI the bundle needs (default: %s when it holds .mpy files)" % ABI)
    c.set_defaults(fn=_guarded(cmd_bundle))

    def link_args(c):
        c.add_argument("--board", help="board profile (default: the one USB board attached, or with --port the board found there)")
        c.add_argument("--port", help="the board's serial port")
        c.add_argument("--baud", type=int)
        c.add_argument("--json", action="store_true", help="print the board's update state as one JSON object")

    c = osub.add_parser("push", help="install a bundle over the serial link; exit 0 when the board runs it")
    c.add_argument("bundle")
    link_args(c)
    c.add_argument("--pubkey", help="the public key to install (the first push; or with --replace-key)")
    c.add_argument("--replace-key", action="store_true", help="replace the board's key with --pubkey")
    c.add_argument("--no-restart", dest="restart", action="store_false",
                   help="leave the board at its REPL instead of restarting its app")
    c.set_defaults(fn=_guarded(cmd_push))

    c = osub.add_parser("status", help="the board's slots, versions, and the last update's result and reason")
    link_args(c)
    c.set_defaults(fn=_guarded(cmd_status))

    c = osub.add_parser("serve", help="serve the bundles in DIR over HTTP (byte ranges: boards resume)")
    c.add_argument("dir")
    c.add_argument("--host", default="0.0.0.0")
    c.add_argument("--port", type=int, default=8266)
    c.add_argument("--rate", type=int, help="bytes per second per connection (rehearse a slow link)")
    c.set_defaults(fn=_guarded(cmd_serve))
