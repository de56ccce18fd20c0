// tinyml's qemu-esp32 board: the ESP32's own CPU core (QEMU "-cpu esp32": Xtensa LX6, windowed
// registers, single-precision FPU, MUL32_HIGH, DIV32) on QEMU's Xtensa "sim" machine, whose console
// is semihosting (SIMCALL) mapped to the UART chardev. Memory map (the core's local memories, RAM on
// this machine; see esp32sim.ld):
//   0x3F400000 (4 MB)   the RAM disk (where an ESP32 maps its flash)
//   0x3F800000 (4 MB)   the GC heap (where an ESP32 maps PSRAM); default size the esp32 profile's
//   0x3FF80000 (508 KB) .rodata, .data, .bss and the C stack (the ESP32's internal DRAM)
//   0x3FFFF000          the boot configuration word the emulator writes (heap size)
//   0x40000000 (4 MB)   vectors and firmware code, the initial .data (the ESP32's IRAM)
//   0x60000000          executable memory for native code: .mpy native modules and viper functions
//                       are copied there, as the ESP32 port copies them into IRAM. Like IRAM it
//                       takes 32-bit loads only: its 512 MB region is execute-only for data
//                       (region protection) and the exception handler performs 32-bit loads
//                       (esp32sim_start.S) from a copy at 0x40400000; a narrower one is a
//                       LoadStoreError, as on the chip.
#define TINYML_CONFIG_ADDR          (0x3FFFF000)
#define TINYML_RAMDISK_ADDR         (0x3F400000)
#define TINYML_RAMDISK_SIZE         (4 * 1024 * 1024)
#define TINYML_RAMDISK_BLOCK_SIZE   (4096)
#define TINYML_HEAP_ADDR            (0x3F800000)
#define TINYML_RAM_END              (0x3FC00000)
#define TINYML_EXEC_ADDR            (0x60000000)
#define TINYML_EXEC_SIZE            (256 * 1024)
#define TINYML_EXEC_SHADOW          (0x40400000) // a copy of it, for 32-bit loads (esp32sim.c)
#define TINYML_STACK_LIMIT          (56 * 1024) // of the 64 KB stack (esp32sim.ld)
#define TINYML_CCOUNT_HZ            (40000000)  // QEMU's esp32 core: CCOUNT at 40 MHz of virtual time

// The ESP32's code emitter and, as in ports/esp32, setjmp-based NLR (ours: esp32sim_start.S, for
// the windowed ABI) and native code committed to executable memory (esp32sim.c).
#define MICROPY_EMIT_XTENSAWIN      (1)
#define MICROPY_NLR_SETJMP          (1)
void *tinyml_native_code_commit(void *buf, unsigned int len, void *reloc);
#define MP_PLAT_COMMIT_EXEC(buf, len, reloc) tinyml_native_code_commit(buf, len, reloc)
void tinyml_native_code_free_all(void);
#define TINYML_SOFT_RESET_HOOK()    tinyml_native_code_free_all()
