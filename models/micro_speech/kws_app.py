# Keyword spotting ("yes" / "no") with TFLM's micro_speech model and tinyml's micro front end.
# 16 kHz audio -> frames of 30 ms (480 samples) every 20 ms (320) -> 40 int8 features per frame
# (tinyml.preprocess.frontend, bit-exact with TFLM's audio_preprocessor_int8.tflite) -> the last 49
# frames (about 1 s, oldest first) -> micro_speech model -> scores for silence, unknown, yes, no.
#
# On a board: put this file (as main.py, or import it), frontend.bin and micro_speech.tml on it;
# it listens on an I2S microphone (pins below) and prints each keyword it hears.
# On the host: tinyml pipeline run models/micro_speech/kws_app.py --input yes_1000ms.wav [--board unix]
from tinyml import app, sources
from tinyml.preprocess.frontend import MicroFrontend

MODEL = "micro_speech.tml"
MODEL_TFLITE = "../../../shared/models/tflm/micro_speech_quantized.tflite"  # host: converted to MODEL
FILES = ("frontend.bin",)
LABELS = ("silence", "unknown", "yes", "no")
RATE = 16000
FRAME = 480     # 30 ms
HOP = 320       # 20 ms
STACK = 49      # feature frames per inference
EVERY = 5       # on the board: one inference every 5 frames (100 ms)
I2S_PINS = {"sck": 32, "ws": 25, "sd": 33}  # e.g. an INMP441 on an ESP32; edit for your wiring


def source():
    return sources.I2SMic(rate=RATE, **I2S_PINS)


def heard(label, score, result):
    print("heard %s (%.2f) at %.2f s" % (label, score, result.frame * HOP / RATE))


def pipeline(src, model=MODEL, backend=None, every=EVERY):
    if isinstance(model, str):  # the model first, while the heap is in one piece, its weights streamed
        import tinyml           # through 8 KB: a 140 KB board's heap then holds the front end beside it
        model = tinyml.load(model, backend, tinyml.DEFAULT_WINDOW)
    return app.Pipeline(
        src, MicroFrontend("frontend.bin", backend), FRAME, HOP,
        model=model, stack=STACK, every=every, labels=LABELS,
        post=app.Detector(LABELS, threshold=0.7, average=3, suppress=50, ignore=("silence", "unknown")),
        on_detect=heard, backend=backend)


if __name__ == "__main__":
    pipeline(source()).run()
