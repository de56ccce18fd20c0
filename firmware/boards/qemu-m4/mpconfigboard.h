// tinyml's qemu-m4 board (MPS2-AN386 in QEMU): the AN385's memory map, so qemu-m3's.
#include "../qemu-m3/mpconfigboard.h"
