# Runs an app at boot: main.py (installed by `tinyml deploy --boot`) is
#     import tinyml.runner
#     tinyml.runner.main("my_app", wait=2)
# It prints what it starts, waits `wait` seconds (Ctrl-C then leaves the board at its REPL: the safe way
# back), checks SAFE_PIN (held low at reset: no app), applies a pending signed update (tinyml.ota:
# one trial, confirmed or rolled back), puts the running update's folder first on sys.path (its app
# files win), and runs the app: its main() when it has one, else a tinyml.app pipeline app
# (MODEL, source(), pipeline()) with the model from the running update, HOP and RATE applied.
# App settings (module globals, all optional; see the README "Run at boot"):
#   MODEL  the model file (a plain deploy's); an installed update's model replaces it
#   SAFE_PIN  a pin number: held low at boot, the app is not started
#   HOP    run the model every HOP new frames (the pipeline's `every`)
#   RATE   inferences per second at most (sleeps between steps)
#   MONITOR  True: keep tinyml.monitor statistics of every inference; PUBLISH: seconds between reports
import sys
import time

WAIT = 2


def _safe_pin(pin):
    try:
        import machine
        return machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0
    except Exception:  # a port without pins
        return False


def main(app="app", wait=WAIT):
    print("tinyml: starting %s (Ctrl-C within %s s for the REPL)" % (app, wait))
    time.sleep(wait)
    from tinyml import ota
    slot = ota.boot()
    if ota.tried:  # an update was worked on: start again (its health check, or the app, on a whole heap)
        print("tinyml: restarting for the update")
        raise SystemExit  # a soft reset: main.py runs again
    if slot and slot not in sys.path:
        sys.path.insert(0, slot)
    import gc
    gc.collect()
    mod = __import__(app)
    pin = getattr(mod, "SAFE_PIN", None)
    if pin is not None and _safe_pin(pin):
        print("tinyml: SAFE_PIN %s is low: %s not started" % (pin, app))
        return None
    if hasattr(mod, "main"):
        return mod.main()
    return run_pipeline(mod, ota.model_path(getattr(mod, "MODEL", None)))


def run_pipeline(mod, model, max_frames=None):
    """A tinyml.app pipeline app (MODEL, source(), pipeline()): runs it with HOP, RATE, MONITOR."""
    p = mod.pipeline(mod.source(), model=model)
    hop = getattr(mod, "HOP", None)
    if hop:
        p.every = max(1, int(hop))
    rate = getattr(mod, "RATE", None)
    mon = pub = None
    every = getattr(mod, "PUBLISH", 10)
    if getattr(mod, "MONITOR", False) and p.model is not None:
        from tinyml import monitor
        mon = monitor.Monitor(p.model)
        p.observe(on_result=lambda r: mon.on_result(r, p.model))
        pub = monitor.publisher(mod.MQTT) if getattr(mod, "MQTT", None) else None
    gap = int(1000 / rate) if rate else 0
    print("tinyml: running %s with %s" % (getattr(mod, "__name__", "app"), model))
    last = time.ticks_ms()
    while True:
        t0 = time.ticks_ms()
        if mon and every and time.ticks_diff(t0, last) >= every * 1000:
            last = t0
            mon.report(pub)
        n = p.inferences
        if not p.step():
            break
        if max_frames is not None and p.frames >= max_frames:
            break
        if gap and p.inferences != n:
            left = gap - time.ticks_diff(time.ticks_ms(), t0)
            if left > 0:
                time.sleep_ms(left)
    return p.result
