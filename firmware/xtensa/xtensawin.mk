# Read after firmware/kernels/Makefile by firmware/build_natmod.sh for ARCH=xtensawin
# (make -f Makefile -f .../xtensawin.mk), so that the kernels' own Makefile stays arch-neutral.

# No zero-overhead loops: MicroPython loads the same xtensawin .mpy on the ESP32-S2, whose core has
# none (check_natmod.py fails on a `loop` instruction). Appended last, after the kernels' -O2.
CFLAGS += -fno-branch-count-reg

# `make ... tinyml-objects` compiles the module's object files and lists them, so that they are
# checked (check_natmod.py) before mpy_ld.py links them into the .mpy.
.PHONY: tinyml-objects
tinyml-objects: $(SRC_O)
	@echo "OBJECTS: $(SRC_O)"
