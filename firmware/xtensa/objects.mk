# Read after firmware/kernels/Makefile by firmware/build_natmod.sh (make -f Makefile -f .../objects.mk):
# compiles the module's object files and lists them, so that they are checked (check_natmod.py)
# before mpy_ld.py links them into the .mpy.
.PHONY: tinyml-objects
tinyml-objects: $(SRC_O)
	@echo "OBJECTS: $(SRC_O)"
