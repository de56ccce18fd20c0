// tinyml's qemu-m3 board (MPS2-AN385 in QEMU): memory map. The firmware image and the C stack live
// in SSRAM1 (0x00000000, 4 MB; mcu/arm/mps2.ld); the 16 MB RAM at 0x21000000 holds, in order, the
// boot configuration word the emulator writes (heap size), the RAM disk and the GC heap.
#define TINYML_CONFIG_ADDR          (0x21000000)
#define TINYML_RAMDISK_ADDR         (0x21001000)
#define TINYML_RAMDISK_SIZE         (4 * 1024 * 1024)
#define TINYML_RAMDISK_BLOCK_SIZE   (4096)
#define TINYML_HEAP_ADDR            (TINYML_RAMDISK_ADDR + TINYML_RAMDISK_SIZE)
#define TINYML_RAM_END              (0x22000000)
#define TINYML_STACK_LIMIT          (64 * 1024)

// Network (lwIP over the LAN9118, lan9118.c; MICROPY_PY_LWIP from mpconfigboard.mk, so qemu-m4, which
// includes this file, goes without): polled whenever MicroPython waits (a soft reset closes the
// sockets through their finalisers).
#if MICROPY_PY_LWIP
void tinyml_net_poll(void);
#define MICROPY_INTERNAL_EVENT_HOOK tinyml_net_poll()
#endif
