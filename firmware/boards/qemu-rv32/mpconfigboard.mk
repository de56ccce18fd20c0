# tinyml's qemu-rv32 board: QEMU's RISC-V "virt" machine, 32-bit; as ports/qemu/boards/VIRT_RV32,
# plus ../qemu-common (see firmware/build_board.sh, which passes RV32_ARCH=rv32imac and LIBS=).
QEMU_ARCH = riscv32
QEMU_MACHINE = virt

CFLAGS += -DQEMU_SOC_VIRT
CFLAGS += -DMICROPY_HW_MCU_NAME='"$(RV32_ARCH)"'

LDSCRIPT = mcu/rv32/virt.ld

SRC_BOARD_O += shared/runtime/gchelper_native.o shared/runtime/gchelper_rv32i.o

MPY_CROSS_FLAGS += -march=rv32imc

include $(BOARD_DIR)/../qemu-common/board.mk

# Debian's riscv64-unknown-elf-gcc 12 has multilibs for rv32imac but not rv32imac_zicsr, and its
# binutils want zicsr named for CSR instructions: build for rv32imac (RV32_ARCH, given by
# build_board.sh, with that multilib's libgcc as LIBS) under ISA spec 2.2, where "i" includes zicsr.
AFLAGS += -misa-spec=2.2
