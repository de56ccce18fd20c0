# tinyml's emulated boards: make settings shared by qemu-m3 and qemu-rv32 (included by their
# mpconfigboard.mk; built by firmware/build_board.sh).
INC += -I$(BOARD_DIR)

# littlefs on a RAM disk, mounted at "/".
MICROPY_VFS_LFS2 = 1

# No frozen code (the stock manifest wants micropython-lib's unittest, which Debian's source lacks).
FROZEN_MANIFEST =

# The default GC heap (bytes) when the emulator passes none: HEAP=... at build time.
MICROPY_HEAP_SIZE = $(if $(HEAP),$(HEAP),143360)

SRC_C += ramdisk.c shared/timeutils/timeutils.c
