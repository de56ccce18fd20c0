# Validation of a .tml model at load (docs/model-format.md, "Validation"): each op's row of the op
# table (tinyml/ops.py) names its check here. (The checks are being filled in.)


def _todo(v, op, row):
    return 0


CHECKS = {}
for _n in ("add", "pool", "concat", "conv", "depthwise", "lut", "fc", "mul", "same", "softmax", "pad", "mean",
           "quantize", "reduce"):
    CHECKS[_n] = _todo
