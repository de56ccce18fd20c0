# tinyml's qemu-m4 board: ARM MPS2-AN386 (Cortex-M4 with its single-precision FPU and DSP
# instructions) in QEMU. The AN386 image is the AN385's with a Cortex-M4, so the memory map, linker
# script and boot configuration are qemu-m3's (../qemu-m3); the firmware is built for the M4 with the
# hard-float ABI, so MicroPython reports the armv7emsp arch and loads armv7emsp native modules.
QEMU_ARCH = arm
QEMU_MACHINE = mps2-an386

CFLAGS += -mthumb -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard
CFLAGS += -DQEMU_SOC_MPS2
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M4"'

LDSCRIPT = $(BOARD_DIR)/../qemu-m3/mps2.ld

SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o

MPY_CROSS_FLAGS += -march=armv7emsp

include $(BOARD_DIR)/../qemu-common/board.mk
