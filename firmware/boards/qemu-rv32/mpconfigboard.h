// tinyml's qemu-rv32 board (QEMU virt, 128 MB RAM at 0x80000000): memory map. The firmware image
// takes 0x80000000-0x80610000 (mcu/rv32/virt.ld: code, data, 64 KB stack); above it come the boot
// configuration word the emulator writes (heap size), the RAM disk and the GC heap.
#define TINYML_CONFIG_ADDR          (0x80800000)
#define TINYML_RAMDISK_ADDR         (0x80801000)
#define TINYML_RAMDISK_SIZE         (4 * 1024 * 1024)
#define TINYML_RAMDISK_BLOCK_SIZE   (4096)
#define TINYML_HEAP_ADDR            (TINYML_RAMDISK_ADDR + TINYML_RAMDISK_SIZE)
#define TINYML_RAM_END              (0x88000000)
#define TINYML_STACK_LIMIT          (48 * 1024)
