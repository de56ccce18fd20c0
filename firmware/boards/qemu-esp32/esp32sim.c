// tinyml's qemu-esp32 board: what the Xtensa "sim" machine needs beyond ports/qemu: the console over
// semihosting (SIMCALL read/write on fds 0 and 1, which QEMU maps to the UART chardev), the C start,
// exit and fatal exceptions, executable memory for native code (as ports/esp32 commits it to IRAM)
// and the GC's scan of the register windows.

#include <stdint.h>
#include <string.h>

#include "py/mpconfig.h"
#include "py/gc.h"
#include "py/mpstate.h"
#include "py/mphal.h"
#include "py/runtime.h"
#include "py/persistentcode.h"
#include "shared/runtime/gchelper.h"
#include "uart.h"

// ---- semihosting -------------------------------------------------------------------------------

#define SYS_EXIT    (1)
#define SYS_READ    (3)
#define SYS_WRITE   (4)

static inline int32_t simcall(int32_t nr, int32_t a, int32_t b, int32_t c) {
    register int32_t a2 __asm__ ("a2") = nr;
    register int32_t a3 __asm__ ("a3") = a;
    register int32_t a4 __asm__ ("a4") = b;
    register int32_t a5 __asm__ ("a5") = c;
    __asm__ volatile ("simcall" : "+r" (a2), "+r" (a3) : "r" (a4), "r" (a5) : "memory");
    return a2;
}

NORETURN void exit(int status) {
    for (;;) {
        simcall(SYS_EXIT, status, 0, 0);
    }
}

// QEMU holds up to 16 bytes of console input; a read takes what is there (none: -1, EAGAIN).
// tinyml_console_rx_ccount: CCOUNT when input last came (mphalport.c polls faster after it).
static uint8_t con_buf[16];
static int con_len, con_pos;
uint32_t tinyml_console_rx_ccount;

int tinyml_console_has_input(void) {
    if (con_pos == con_len) {
        int n = simcall(SYS_READ, 0, (int32_t)(uintptr_t)con_buf, sizeof(con_buf));
        con_pos = 0;
        con_len = n > 0 ? n : 0;
        if (n > 0) {
            __asm__ volatile ("rsr.ccount %0" : "=r" (tinyml_console_rx_ccount));
        }
    }
    return con_pos < con_len;
}

void uart_init(void) {
}

int uart_rx_chr(void) {
    if (!tinyml_console_has_input()) {
        return UART_RX_NO_CHAR;
    }
    return con_buf[con_pos++];
}

void uart_tx_strn(const char *buf, size_t len) {
    while (len > 0) {
        int n = simcall(SYS_WRITE, 1, (int32_t)(uintptr_t)buf, len);
        if (n <= 0) {
            break;
        }
        buf += n;
        len -= n;
    }
}

// ---- start, reset, fatal exceptions --------------------------------------------------------------

extern uint32_t _data_start[], _data_end[], _data_load[], _bss_start[], _bss_end[];
int main(int argc, char **argv);

void tinyml_start(void) {
    memcpy(_data_start, _data_load, (char *)_data_end - (char *)_data_start);
    memset(_bss_start, 0, (char *)_bss_end - (char *)_bss_start);
    exit(main(0, NULL));
}

NORETURN void tinyml_system_reset(void) {
    extern void _start(void);
    __asm__ volatile ("rsil a2, 15" ::: "a2");
    _start();
    for (;;) {
    }
}

static const char *const exc_names[] = {
    "IllegalInstruction", "Syscall", "InstructionFetchError", "LoadStoreError",
    "Level1Interrupt", "Alloca", "IntegerDivideByZero", "PCValue", "Privileged",
    "LoadStoreAlignment", "ExcCause10", "ExcCause11", "InstrPIFDataError", "LoadStorePIFDataError",
    "InstrPIFAddrError", "LoadStorePIFAddrError", "InstTLBMiss", "InstTLBMultiHit",
    "InstFetchPrivilege", "ExcCause19", "InstFetchProhibited", "ExcCause21", "ExcCause22",
    "ExcCause23", "LoadStoreTLBMiss", "LoadStoreTLBMultiHit", "LoadStorePrivilege", "ExcCause27",
    "LoadProhibited", "StoreProhibited",
};

// From the vector table: an exception nothing handles. Reported as ESP-IDF's panic handler does,
// then the board resets (its RAM disk keeps its files).
NORETURN void tinyml_fatal_exception(uint32_t cause, uint32_t epc, uint32_t vaddr) {
    mp_hal_stdout_tx_str("\r\nGuru Meditation Error: Core  0 panic'ed (");
    mp_hal_stdout_tx_str(cause < MP_ARRAY_SIZE(exc_names) ? exc_names[cause] : "Unknown");
    mp_hal_stdout_tx_str("). Exception was unhandled.\r\n");
    static const char hex[] = "0123456789abcdef";
    char line[] = "PC      : 0x00000000  EXCVADDR: 0x00000000\r\n\r\nRebooting...\r\n";
    for (int i = 0; i < 8; ++i) {
        line[12 + i] = hex[(epc >> (28 - 4 * i)) & 15];
        line[34 + i] = hex[(vaddr >> (28 - 4 * i)) & 15];
    }
    mp_hal_stdout_tx_str(line);
    tinyml_system_reset();
}

// ---- executable memory for native code -------------------------------------------------------------
// As ports/esp32's esp_native_code_commit: code (of .mpy native modules, and of @native/@viper
// functions) is relocated and copied into executable memory (TINYML_EXEC_ADDR), freed at soft reset.
// Data access to that region is off (mpconfigboard.h): the code is written with it on for a moment,
// and a copy at TINYML_EXEC_SHADOW serves the 32-bit loads the exception handler performs.

// esp32sim.iram_strict(False) lets loads of any width through without the handler, for timing:
// on the chip a 32-bit load from IRAM costs what one from DRAM does, in emulation the handler's
// ~40 instructions (esp32sim.iram_loads() counts them). Soft reset makes the board strict again.

#define ATTR_RWX        (2)
#define ATTR_EXEC_ONLY  (3)

static uint32_t exec_used;
static bool iram_strict = true;
extern uint32_t tinyml_iram_loads;

static void exec_region_attr(uint32_t attr) {
    __asm__ volatile ("wdtlb %0, %1; dsync" :: "r" (attr), "r" (TINYML_EXEC_ADDR) : "memory");
}

void *tinyml_native_code_commit(void *buf, unsigned int len, void *reloc) {
    len = (len + 3) & ~3;
    if (len > TINYML_EXEC_SIZE - exec_used) {
        m_malloc_fail(len);
    }
    uint8_t *p = (uint8_t *)TINYML_EXEC_ADDR + exec_used;
    if (reloc) {
        mp_native_relocate(reloc, buf, (uintptr_t)p);
    }
    memcpy((uint8_t *)TINYML_EXEC_SHADOW + exec_used, buf, len);
    exec_region_attr(ATTR_RWX);
    memcpy(p, buf, len);
    exec_region_attr(iram_strict ? ATTR_EXEC_ONLY : ATTR_RWX);
    __asm__ volatile ("isync" ::: "memory");
    exec_used += len;
    return p;
}

void tinyml_native_code_free_all(void) {
    exec_used = 0;
    iram_strict = true;
    exec_region_attr(ATTR_EXEC_ONLY);
}

static mp_obj_t esp32sim_iram_strict(size_t n_args, const mp_obj_t *args) {
    if (n_args) {
        iram_strict = mp_obj_is_true(args[0]);
        exec_region_attr(iram_strict ? ATTR_EXEC_ONLY : ATTR_RWX);
    }
    return mp_obj_new_bool(iram_strict);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(esp32sim_iram_strict_obj, 0, 1, esp32sim_iram_strict);

static mp_obj_t esp32sim_iram_loads(void) {
    return mp_obj_new_int_from_uint(tinyml_iram_loads);
}
static MP_DEFINE_CONST_FUN_OBJ_0(esp32sim_iram_loads_obj, esp32sim_iram_loads);

static const mp_rom_map_elem_t esp32sim_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_esp32sim) },
    { MP_ROM_QSTR(MP_QSTR_iram_strict), MP_ROM_PTR(&esp32sim_iram_strict_obj) },
    { MP_ROM_QSTR(MP_QSTR_iram_loads), MP_ROM_PTR(&esp32sim_iram_loads_obj) },
};
static MP_DEFINE_CONST_DICT(esp32sim_module_globals, esp32sim_module_globals_table);

const mp_obj_module_t esp32sim_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&esp32sim_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_esp32sim, esp32sim_module);
// ---- GC: registers of every frame onto the stack, then scan it ------------------------------------

void tinyml_window_spill(void);

void gc_helper_collect_regs_and_stack(void) {
    tinyml_window_spill();
    volatile uintptr_t sp;
    __asm__ volatile ("mov %0, a1" : "=r" (sp));
    gc_collect_root((void **)sp, ((uintptr_t)MP_STATE_THREAD(stack_top) - sp) / sizeof(uintptr_t));
}
