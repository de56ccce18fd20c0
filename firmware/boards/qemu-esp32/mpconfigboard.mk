# tinyml's qemu-esp32 board: the ESP32's CPU core ("-cpu esp32") on QEMU's Xtensa "sim" machine,
# built with xtensa-esp32-elf-gcc (firmware/build_board.sh passes CROSS_COMPILE): ports/qemu plus
# ../qemu-common plus this directory's start-up code, linker script and semihosting console.
QEMU_ARCH = xtensa
QEMU_MACHINE = sim

CFLAGS += -mlongcalls -DQEMU_SOC_XTENSA_SIM
CFLAGS += -DMICROPY_HW_MCU_NAME='"ESP32 core (Xtensa LX6)"'

LDSCRIPT = $(BOARD_DIR)/esp32sim.ld
LDFLAGS += -nostdlib -fno-use-linker-plugin

SRC_C += esp32sim.c esp32sim_libgcc.c
SRC_BOARD_O += esp32sim_start.o
# The vector table's literals go beside its code (.literal_position), before the code that loads them.
$(BUILD)/esp32sim_start.o: CFLAGS += -Wa,--text-section-literals

MPY_CROSS_FLAGS += -march=xtensawin

include $(BOARD_DIR)/../qemu-common/board.mk

# The esp32 profile's heap when the emulator passes none (it does: host_tools' qemu-esp32.toml).
MICROPY_HEAP_SIZE = $(if $(HEAP),$(HEAP),110000)
