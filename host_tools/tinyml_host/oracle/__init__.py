"""The reference: TFLM's own interpreter, and a builder of small TFLite test models."""
