# tinyml_kernels as a user C module of a make-based port (unix, stm32, ...). make's USER_C_MODULES names
# the folder that holds module folders, so point it at firmware/, the parent of this one:
#   make -C ports/stm32 BOARD=... USER_C_MODULES=/path/to/tinyml/firmware
TINYML_KERNELS_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(TINYML_KERNELS_DIR)/tinyml_kernels.c
CFLAGS_USERMOD += -I$(TINYML_KERNELS_DIR)

# -O2 for this file only (ports default to -Os; the dot product loop is the hot spot). Its object is
# $(BUILD)/<path below USER_C_MODULES>.o, and this target-specific flag comes after the port's own.
$(BUILD)/$(patsubst $(USER_C_MODULES)/%,%,$(TINYML_KERNELS_DIR))/tinyml_kernels.o: CFLAGS += -O2
