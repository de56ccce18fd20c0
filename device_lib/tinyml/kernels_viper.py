# Viper kernels: machine code the device compiles itself from these files (no toolchain), one module
# per family: kernels_viper_fixedpoint (requantization), kernels_viper_nn (fully connected,
# convolutions), kernels_viper_elementwise (pooling, mean, add, sub, mul, lookup tables). This module
# is the backend: the same functions as kernels_py and the native module, and the same bytes out.
from tinyml.kernels_py import softmax, quantize_f32  # noqa: F401  (a few values per row; floats: viper has none)
from tinyml.kernels_viper_fixedpoint import EXT, _requantize  # noqa: F401
from tinyml.kernels_viper_nn import fully_connected, conv2d, depthwise_conv2d  # noqa: F401
from tinyml.kernels_viper_elementwise import pool2d, mean_hw, add, sub, mul, lut  # noqa: F401

NAME = "viper"
