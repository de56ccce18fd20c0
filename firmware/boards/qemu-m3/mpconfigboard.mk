# tinyml's qemu-m3 board: ARM MPS2-AN385 (Cortex-M3) in QEMU; as ports/qemu/boards/MPS2_AN385,
# plus ../qemu-common (see firmware/build_board.sh).
QEMU_ARCH = arm
QEMU_MACHINE = mps2-an385

CFLAGS += -mthumb -mcpu=cortex-m3 -mfloat-abi=soft
CFLAGS += -DQEMU_SOC_MPS2
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M3"'

LDSCRIPT = $(BOARD_DIR)/mps2.ld

SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o

MPY_CROSS_FLAGS += -march=armv7m

include $(BOARD_DIR)/../qemu-common/board.mk

# Network: lwIP (build/lwip, Debian's lwip source: firmware/fetch_lwip.sh) with MicroPython's socket
# module (extmod/modlwip.c) over the emulated LAN9118 (lan9118.c), the `network` module
# (modnetwork_lan.c). lwipopts.h and arch/cc.h are in this folder.
MICROPY_PY_LWIP = 1
SRC_C += lan9118.c modnetwork_lan.c
