# The device half of `tinyml pipeline run APP --board B` (host: tinyml_host/apps/pipeline.py): runs
# an app's pipeline (tinyml.app) over a recorded file replayed as its source, and prints per feature
# frame 'F <index> <typecode> <hex>', per inference 'R <frame> <index> <detected> <raw hex> <scores>
# <label>', and at the end one 'tinyml-pipeline ...' summary line. The host sends this file to the
# raw REPL (or the unix port) and then one call: run_app(app_dir, module, input, model, backend, every).
import sys
from binascii import hexlify
from array import array


def run_app(app_dir, module, input_path, model, backend=None, every=None):
    from tinyml import sources
    from tinyml.sources import typecode
    sys.path.insert(0, app_dir)
    A = __import__(module)
    src = sources.open_file(input_path)
    if every is None:
        p = A.pipeline(src, model=model, backend=backend)
    else:
        p = A.pipeline(src, model=model, backend=backend, every=every)

    def on_f(i, f):
        if not isinstance(f, array):
            f = array("f", f)
        print("F", i, typecode(f), str(hexlify(bytes(f)), "ascii"))

    def on_r(r):
        print("R", r.frame, r.index, int(r.detected), str(hexlify(bytes(r.raw)), "ascii"),
              ",".join(repr(s) for s in r.scores), r.label)

    p.observe(on_f, on_r)
    p.run()
    print("tinyml-pipeline frames=%d inferences=%d feature_us=%d model_us=%d fft=%s model=%s" % (
        p.frames, p.inferences, p.feature_us, p.model_us, getattr(p.feature_obj, "fft_backend", None),
        p.model.backend if p.model else None))
