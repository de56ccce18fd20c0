"""Models: the TFLite reader, the converter, the .tml writer, quantization parameters, inspect."""
