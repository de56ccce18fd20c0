# Statistics of a model at work, in fixed-size counters: nothing is allocated per inference (arrays
# of counters made once; the loops use small ints only). The host computes the very same numbers from
# the same inputs (tests), `tinyml monitor` shows the reports live, and an app may publish them over
# MQTT (umqtt.simple from micropython-lib).
#   mon = Monitor(model, ref={"mean": m, "var": v})   ref: the int8 input's reference statistics
#   per inference: mon.before(input_bytes); model.invoke(); mon.after(output_bytes, microseconds)
#   mon.stats() -> dict; mon.report(publisher) prints one line "tinyml-monitor {json}" (and publishes)
#
# What is kept (all from the int8 bytes, so integers only):
#   latency   16 buckets: bucket 0 is < 128 µs, bucket k < 128 * 2^k µs, the last one the rest
#   conf      16 buckets of the top-1 raw output q (int8): bucket (q + 128) >> 4; ties: the first
#   classes   per output index: how often it was the top-1
#   saturated output values at -128 or 127, out of `values` output values seen
#   heap_min  the lowest gc.mem_free() seen after an inference
#   drift     sum and sum of squares of a fixed sample of each input (every `stride`-th byte, at most
#             SAMPLE values per inference): mean and variance against ref. The drift flag is raised
#             when |mean - ref mean| > max(MEAN_TOL, ref std / 4) or the variance is off by more than
#             VAR_RATIO either way, once MIN_INFERENCES inferences are in.
import gc
from array import array

LAT_BUCKETS = 16
CONF_BUCKETS = 16
SAMPLE = 256
CARRY = 1 << 28        # the sums carry into a high word here: they stay small ints on 32-bit boards
MEAN_TOL = 8.0
VAR_RATIO = 2.0
MIN_INFERENCES = 8
NO_HEAP = 0x3FFFFFFF   # heap_min before the first inference: the largest small int of a 32-bit board


def reference(model=None):
    """The drift reference: the running signed update's (tinyml.ota), else the model file's own
    ("input_ref" in its .tml metadata trailer, written by `tinyml convert --ref-input`), else None."""
    try:
        from tinyml import ota
        ref = ota.reference_stats()
        if ref:
            return ref
    except (ImportError, OSError, ValueError):
        pass
    name = getattr(model, "name", None)
    if isinstance(name, str):
        try:
            from tinyml import tmlfile
            return (tmlfile.metadata(name) or {}).get("input_ref")
        except (OSError, ValueError):
            pass
    return None


class Monitor:
    """ref: {"mean", "var"} of the int8 input the model expects; None: reference(model)."""

    def __init__(self, model=None, n_in=None, n_out=None, ref=None):
        if model is not None:
            n_in = model.inputs[0].nbytes
            n_out = model.outputs[0].nbytes
            if ref is None:
                ref = reference(model)
        self.n_in = n_in
        self.n_out = n_out
        self.stride = max(1, n_in // SAMPLE)
        self.per = len(range(0, n_in, self.stride))
        self.ref = ref
        self.latency = array("I", bytes(4 * LAT_BUCKETS))
        self.conf = array("I", bytes(4 * CONF_BUCKETS))
        self.classes = array("I", bytes(4 * n_out))
        # [inferences, saturated, sum lo, sum hi, sumsq lo, sumsq hi, heap_min]
        self.c = array("i", bytes(4 * 7))
        self.c[6] = NO_HEAP

    def reset(self):
        for a in (self.latency, self.conf, self.classes, self.c):
            for i in range(len(a)):
                a[i] = 0
        self.c[6] = NO_HEAP

    def before(self, buf):
        """The input of the next inference (int8 bytes, as model.input_buffer(0))."""
        s = 0
        q = 0
        i = 0
        n = self.n_in
        step = self.stride
        while i < n:  # (a range with a variable step would be an object per call)
            v = buf[i]
            if v > 127:
                v -= 256
            s += v
            q += v * v
            i += step
        c = self.c
        lo = c[2] + s
        if lo >= CARRY or lo <= -CARRY:
            c[3] += lo // CARRY
            lo %= CARRY
        c[2] = lo
        lo = c[4] + q
        if lo >= CARRY:
            c[5] += lo // CARRY
            lo %= CARRY
        c[4] = lo

    def after(self, out, us):
        """The output of the inference (int8 bytes, as model.output_buffer(0)) and its time in µs."""
        c = self.c
        c[0] += 1
        b = 0
        t = us >> 7
        while t and b < LAT_BUCKETS - 1:
            t >>= 1
            b += 1
        self.latency[b] += 1
        best = 0
        top = -129
        sat = 0
        for i in range(self.n_out):
            v = out[i]
            if v > 127:
                v -= 256
            if v > top:
                top = v
                best = i
            if v == 127 or v == -128:
                sat += 1
        c[1] += sat
        self.classes[best] += 1
        self.conf[(top + 128) >> 4] += 1
        free = gc.mem_free()
        if free < c[6]:
            c[6] = free

    def on_result(self, r, model):
        """For a tinyml.app pipeline (Pipeline.observe): the input still in the model, its output."""
        self.before(model.input_buffer(0))
        self.after(model.output_buffer(0), 0)

    def stats(self):
        c = self.c
        n = c[0]
        total = c[3] * CARRY + c[2]
        squares = c[5] * CARRY + c[4]
        k = n * self.per
        mean = total / k if k else 0.0
        var = squares / k - mean * mean if k else 0.0
        out = {"inferences": n, "latency_us": list(self.latency), "conf": list(self.conf),
               "classes": list(self.classes), "saturated": c[1], "values": n * self.n_out,
               "heap_min": c[6] if n else None, "input": {"sum": total, "sumsq": squares, "n": k,
                                                          "mean": mean, "var": var},
               "drift": self.drift(mean, var, n)}
        return out

    def drift(self, mean, var, n):
        """True when the inputs seen differ from the reference (None: no reference or too few)."""
        ref = self.ref
        if not ref or n < MIN_INFERENCES:
            return None
        rstd = ref["var"] ** 0.5
        if abs(mean - ref["mean"]) > max(MEAN_TOL, rstd / 4):
            return True
        rv = max(ref["var"], 1.0)
        return var > rv * VAR_RATIO or var * VAR_RATIO < rv

    def report(self, publisher=None):
        """Prints one line `tinyml-monitor {json}` (what `tinyml monitor` reads); publishes it too."""
        import json
        line = json.dumps(self.stats())
        print("tinyml-monitor " + line)
        if publisher is not None:
            publisher(line)
        return line


def publisher(cfg):
    """A function that publishes one report over MQTT (umqtt.simple), connecting on first use and
    again after an error. cfg: {"broker": host, "port": 1883, "topic": "tinyml/<id>", "client": id}."""
    from umqtt.simple import MQTTClient
    state = {"c": None}
    topic = cfg.get("topic", "tinyml/monitor")

    def publish(line):
        for _ in range(2):
            try:
                if state["c"] is None:
                    c = MQTTClient(cfg.get("client", "tinyml"), cfg["broker"], port=cfg.get("port", 1883))
                    c.connect()
                    state["c"] = c
                state["c"].publish(topic, line)
                return True
            except OSError:
                try:
                    state["c"].disconnect()
                except Exception:
                    pass
                state["c"] = None
        return False
    return publish
