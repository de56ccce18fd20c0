# A tinyml app (made by `tinyml new app`). Run it at every boot of the board:
#     tinyml deploy MODEL.tflite --board BOARD --app this_file.py --boot
# Settings (module globals; the README's "Run at boot" lists them all):
#   MODEL     the model file on the board (`tinyml deploy MODEL.tflite` puts it there); a signed update
#             installed with `tinyml ota push` replaces it (ota.model_path finds the running one)
#   RATE      inferences per second at most (None: as fast as the board goes)
#   MONITOR   True: keep tinyml.monitor statistics of every inference (`tinyml monitor` shows them)
#   PUBLISH   seconds between monitoring reports printed (and sent over MQTT when MQTT is set)
#   MQTT      None, or {"broker": "host", "port": 1883, "topic": "tinyml/board1"} (needs umqtt.simple)
#   SAFE_PIN  a pin number: held low at reset, the app does not start (real boards)
#   CASES     stop after this many inferences (None: run forever)
# A pipeline app (sensor frames -> features -> model, tinyml.app) defines MODEL, source() and
# pipeline() instead of main(); the runner then applies HOP (run the model every HOP frames) and RATE.
import time

import tinyml
from tinyml import ota

MODEL = "model.tml"
RATE = 10
MONITOR = True
PUBLISH = 10
MQTT = None
SAFE_PIN = None
CASES = None


def read_input(buf, n):
    """Fills the model's input buffer (int8 bytes) with reading n. Put your sensor here."""
    for i in range(len(buf)):
        buf[i] = (n * 7 + i) & 0xFF


def on_output(out, n):
    """What to do with the model's output (its int8 bytes): here, print the best class."""
    best, top = 0, -129
    for i in range(len(out)):
        v = out[i] - 256 if out[i] > 127 else out[i]
        if v > top:
            best, top = i, v
    print("inference %d: class %d (score %d)" % (n, best, top))


def main():
    path = ota.model_path(MODEL)
    model = tinyml.load(path)
    print("app: running %s" % path)
    mon = pub = None
    if MONITOR:
        from tinyml import monitor
        mon = monitor.Monitor(model)  # drift reference: the update's, or the .tml's (convert --ref-input)
        pub = monitor.publisher(MQTT) if MQTT else None
    buf = model.input_buffer(0)
    n = 0
    last = time.ticks_ms()
    while CASES is None or n < CASES:
        t0 = time.ticks_ms()
        read_input(buf, n)
        if mon:
            mon.before(buf)
        model.invoke()
        out = model.output_buffer(0)
        if mon:
            mon.after(out, time.ticks_diff(time.ticks_ms(), t0) * 1000)
        on_output(out, n)
        n += 1
        if mon and PUBLISH and time.ticks_diff(time.ticks_ms(), last) >= PUBLISH * 1000:
            last = time.ticks_ms()
            mon.report(pub)
        if RATE:
            left = 1000 // RATE - time.ticks_diff(time.ticks_ms(), t0)
            if left > 0:
                time.sleep_ms(left)
