# Frozen manifest for MicroPython's esp32 port with tinyml built in (`make firmware BOARD=esp32`).
# It keeps everything the port freezes by default, and adds the whole device_lib/tinyml package
# (every module under it, found by package(), so a new module is frozen without editing this file),
# compiled to bytecode, and to machine code for its @micropython.viper functions (the port gives
# mpy-cross -march=xtensawin or rv32imc). The C kernels are not here: they are compiled into the
# firmware as a user C module (firmware/kernels/micropython.cmake), the same tinyml_kernels.c as
# the .mpy native module, so `import tinyml_kernels` is built in and tinyml picks the native backend.
# Paths are relative to this file.
include("$(PORT_DIR)/boards/manifest.py")
package("tinyml", base_path="../../device_lib")
