# Pipelines: a sensor source -> frames (ring buffer, hop) -> features -> a stack of the last feature
# frames as the model's input -> the model -> post-processing (averaging over inferences, threshold,
# suppression) -> callbacks. The same code runs on the board and on the host (CPython), so
# `tinyml pipeline run app.py --input x.wav` shows what the board will compute.
#
# An app file (e.g. models/micro_speech/kws_app.py) is a plain module that defines
#   MODEL = "name.tml"            the model file on the device, next to the app
#   MODEL_TFLITE = "path.tflite"  optional: what the host converts into MODEL (relative to the app)
#   FILES = ("frontend.bin",)     optional: data files the app opens (deploy copies them)
#   def source(): ...             the hardware source (sources.I2SMic(...), ...)
#   def pipeline(src, model=MODEL, backend=None): ...   returns an app.Pipeline
#   if __name__ == "__main__": pipeline(source()).run()
# The host replaces source() with a replay of --input and passes its own model path.
from array import array

from tinyml.clock import now_us as _now, diff_us as _diff


class Result:
    """One inference: frame (feature frames seen), index (inferences so far), raw (the model's int8
    output), scores (dequantized; averaged when the post-processor averages), label and score (the
    best), detected (the post-processor's decision)."""

    def __init__(self, frame, index, raw, scores, label, score, detected):
        self.frame = frame
        self.raw = raw
        self.index = index
        self.scores = scores
        self.label = label
        self.score = score
        self.detected = detected

    def __repr__(self):
        return "Result(frame=%d, label=%r, score=%.3f, detected=%s)" % (
            self.frame, self.label, self.score, self.detected)


def argmax(xs):
    best = 0
    for i in range(1, len(xs)):
        if xs[i] > xs[best]:
            best = i
    return best


class Detector:
    """Post-processing of the scores of successive inferences, after TFLM's RecognizeCommands:
    averages the last `average` score vectors (label smoothing over frames), takes the best label,
    and reports a detection when it is not in `ignore`, its averaged score reaches `threshold`,
    and it differs from the last detection or `suppress` feature frames have passed since."""

    def __init__(self, labels, threshold=0.5, average=1, suppress=0, ignore=()):
        self.labels = labels
        self.threshold = threshold
        self.average = max(1, average)
        self.suppress = suppress
        self.ignore = ignore
        self.history = []
        self.last_label = None
        self.last_frame = None

    def reset(self):
        self.history = []
        self.last_label = self.last_frame = None

    def update(self, scores, frame):
        """(averaged scores, best index, detected) for the newest inference's scores."""
        self.history.append(scores)
        if len(self.history) > self.average:
            self.history.pop(0)
        n = len(self.history)
        avg = [sum(h[i] for h in self.history) / n for i in range(len(scores))]
        best = argmax(avg)
        label = self.labels[best] if self.labels else best
        detected = (label not in self.ignore and avg[best] >= self.threshold and
                    (label != self.last_label or self.last_frame is None or
                     frame - self.last_frame >= self.suppress))
        if detected:
            self.last_label = label
            self.last_frame = frame
        return avg, best, detected


class Pipeline:
    """source: a tinyml.sources source. features: a function (or an object with process()) from
    one frame (array of frame * channels values) to one feature vector: int8 (array('b'), already
    the model's input quantization) or floats (quantized here with the model input's scale and
    zero point). frame, hop: in samples. model: a .tml path, its bytes, or a loaded tinyml Model
    (None: features only). stack: feature frames per model input (its size / feature size), the
    oldest first; every: run the model every `every` new frames once the stack is full.
    post: a Detector (default: the raw scores, detected never set). on_result(result) after every
    inference; on_detect(label, score, result) on detections."""

    def __init__(self, source, features, frame, hop, model=None, stack=1, every=1, labels=None,
                 post=None, on_result=None, on_detect=None, backend=None, window=-1):
        self.source = source
        self.feature_obj = features
        self.features = features.process if hasattr(features, "process") else features
        from tinyml.preprocess.windowing import Framer
        self.framer = Framer(frame, hop, source.typecode, source.channels)
        self.block = source.new_block(hop)
        self.frame_buf = self.framer.new_frame()
        self.labels = labels
        self.post = post
        self.on_result = on_result
        self.on_detect = on_detect
        self.stack = stack
        self.every = max(1, every)
        self.model = None
        self.quantizer = None
        self.int8 = None       # features come as int8 (else floats to quantize); seen on the first frame
        if model is not None:
            if isinstance(model, (str, bytes, bytearray)):
                import tinyml
                model = tinyml.load(model, backend, window)
            self.model = model
            t = model.inputs[0]
            if t.nbytes % stack:
                raise ValueError("the model's input (%d bytes) is not %d frames of features" % (t.nbytes, stack))
            self.feature_size = t.nbytes // stack
            self.input = model.input_buffer(0)
            self.input[:] = bytes([t.zero_point & 0xFF]) * t.nbytes
            self.out_t = model.outputs[0]
        self.frames = 0        # feature frames computed
        self.inferences = 0
        self.result = None
        self.feature_us = 0    # time spent in features()
        self.model_us = 0      # time spent in the model
        self._observers = []

    def observe(self, on_features=None, on_result=None):
        """Adds callbacks: on_features(frame index, features) for every feature frame, on_result(result)
        for every inference (the host's `tinyml pipeline run` collects both this way)."""
        self._observers.append((on_features, on_result))

    def _quantize(self, feats):
        if self.quantizer is None:
            from tinyml.preprocess.spectral import Quantizer
            self.quantizer = Quantizer.for_model(self.model)
            self._qbuf = array("b", bytes(self.feature_size))
        return self.quantizer.apply(feats, self._qbuf)

    def push_frame(self, frame):
        """Features of one frame, into the model's input stack; runs the model when due. Returns the
        Result of an inference, or None."""
        t0 = _now()
        feats = self.features(frame)
        self.feature_us += _diff(_now(), t0)
        index = self.frames
        self.frames += 1
        for on_features, _ in self._observers:
            if on_features:
                on_features(index, feats)
        if self.model is None:
            return None
        if self.int8 is None:
            from tinyml.sources import typecode
            self.int8 = typecode(feats) == "b"
        if not self.int8:
            feats = self._quantize(feats)
        f = self.feature_size
        if len(feats) != f:
            raise ValueError("features gave %d values; the model takes %d per frame" % (len(feats), f))
        inp = self.input
        n = len(inp)
        if f < n:
            inp[0:n - f] = inp[f:n]  # slide the stack by one frame: the oldest leaves
        inp[n - f:n] = bytes(feats)
        if self.frames < self.stack or (self.frames - self.stack) % self.every:
            return None
        return self.infer()

    def infer(self):
        t0 = _now()
        self.model.invoke()
        out = self.model.output(0)
        self.model_us += _diff(_now(), t0)
        t = self.out_t
        if t.dtype == 1:
            scores = [(q - t.zero_point) * t.scale for q in out]
        else:
            scores = list(out)
        if self.post is not None:
            scores, best, detected = self.post.update(scores, self.frames)
        else:
            best, detected = argmax(scores), False
        label = self.labels[best] if self.labels else best
        r = Result(self.frames, self.inferences, out, scores, label, scores[best], detected)
        self.inferences += 1
        self.result = r
        if self.on_result:
            self.on_result(r)
        for _, on_result in self._observers:
            if on_result:
                on_result(r)
        if detected and self.on_detect:
            self.on_detect(label, r.score, r)
        return r

    def step(self):
        """Reads one hop of samples and processes every frame that completes. Returns False at the
        end of the source."""
        n = self.source.readinto(self.block)
        if not n:
            return False
        self.framer.write(self.block, n)
        while self.framer.ready():
            self.push_frame(self.framer.read(self.frame_buf))
        return True

    def run(self, max_frames=None):
        """Processes the source until it ends (a live source: forever, or max_frames frames).
        Returns the last Result (None when the model never ran)."""
        while self.step():
            if max_frames is not None and self.frames >= max_frames:
                break
        return self.result
