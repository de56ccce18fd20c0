# hello_world on the board: the model's sine beside math.sin over [0, 2*pi].
# Runs on the device with hello_world.tml in the current folder; BACKEND may be set before it.
import math
import time
import tinyml

try:
    BACKEND
except NameError:
    BACKEND = None

m = tinyml.load("hello_world.tml", BACKEND)
print("backend: %s" % m.backend)
print("%8s %10s %10s %9s" % ("x", "model", "sin(x)", "error"))
steps = 20
total_us = 0
for i in range(steps + 1):
    x = 2 * math.pi * i / steps
    t0 = time.ticks_us()
    y = m.predict(x)[0]
    total_us += time.ticks_diff(time.ticks_us(), t0)
    print("%8.3f %10.3f %10.3f %9.3f" % (x, y, math.sin(x), y - math.sin(x)))
x = bytes([0x80])
t0 = time.ticks_us()
for _ in range(100):
    m.run(x)
run_us = time.ticks_diff(time.ticks_us(), t0) / 100
print("backend %s: %.1f us per inference (run, raw int8), %.1f us with predict's quantize and dequantize"
      % (m.backend, run_us, total_us / (steps + 1)))
