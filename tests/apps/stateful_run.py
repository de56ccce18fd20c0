# Runs the cases of an input file through a model one after another on the device, its state carried
# from each to the next as an app would, and m.reset() before the cases listed: the stateful ops' test
# (tests/test_stateful_ops.py) compares the outputs with TFLM's interpreter doing the same.
import tinyml


def main(model_path, input_path, output_path, backend, resets, window=-1):
    m = tinyml.load(model_path, backend, window)
    buf = m.input_buffer(0)
    n = 0
    with open(input_path, "rb") as f, open(output_path, "wb") as out:
        while f.readinto(buf) == len(buf):
            if n in resets:
                m.reset()
                buf = m.input_buffer(0)
                f.seek(n * len(buf))  # reset() zeroed the input too: read the case again
                f.readinto(buf)
            m.invoke()
            for k in range(len(m.outputs)):  # each case's outputs one after the other
                out.write(m.output_buffer(k))
            n += 1
    print("tinyml-stateful backend=%s cases=%d window=%d" % (m.backend, n, m.window_bytes))
