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
// functions) is relocated and copied into executable memory, here a region of instruction RAM freed
// at soft reset.

static uint32_t exec_used;

void *tinyml_native_code_commit(void *buf, unsigned int len, void *reloc) {
    len = (len + 3) & ~3;
    if (len > TINYML_EXEC_SIZE - exec_used) {
        m_malloc_fail(len);
    }
    uint8_t *p = (uint8_t *)TINYML_EXEC_ADDR + exec_used;
    exec_used += len;
    if (reloc) {
        mp_native_relocate(reloc, buf, (uintptr_t)p);
    }
    memcpy(p, buf, len);
    __asm__ volatile ("isync" ::: "memory");
    return p;
}

void tinyml_native_code_free_all(void) {
    exec_used = 0;
}

// ---- GC: registers of every frame onto the stack, then scan it ------------------------------------

void tinyml_window_spill(void);

void gc_helper_collect_regs_and_stack(void) {
    tinyml_window_spill();
    volatile uintptr_t sp;
    __asm__ volatile ("mov %0, a1" : "=r" (sp));
    gc_collect_root((void **)sp, ((uintptr_t)MP_STATE_THREAD(stack_top) - sp) / sizeof(uintptr_t));
}
