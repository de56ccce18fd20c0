"""Model optimisation on the host: float ONNX (PyTorch, Keras 3, scikit-learn) or Keras -> int8 TFLite
that TFLM and tinyml run bit-exactly (`tinyml quantize`). Needs the `quantize` extra (onnx, onnxruntime)."""
