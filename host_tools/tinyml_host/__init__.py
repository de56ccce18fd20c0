"""Host side of tinyml: convert TFLite models to .tml, inspect, run and check them on MicroPython."""
