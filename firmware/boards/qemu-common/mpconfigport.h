// tinyml's emulated boards: MicroPython 1.25's ports/qemu configuration (copied from it) plus what a
// board needs to be driven like real hardware over its UART: Ctrl-C, time, select, a filesystem
// (littlefs on a RAM disk, mounted at "/"), a GC heap whose size the emulator passes at boot, and
// dynamic native modules. Board specifics (memory map) come from the board's mpconfigboard.h.
// Derived from MicroPython's ports/qemu/mpconfigport.h (MIT license, Copyright (c) 2014-2024 Damien P. George).

#include <stdint.h>
#include "mpconfigboard.h"

#define MICROPY_CONFIG_ROM_LEVEL    (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

#if defined(__ARM_ARCH_ISA_ARM)
#define MICROPY_EMIT_ARM            (1)
#define MICROPY_EMIT_INLINE_THUMB   (1)
#elif defined(__ARM_ARCH_ISA_THUMB)
#define MICROPY_EMIT_THUMB          (1)
#define MICROPY_EMIT_INLINE_THUMB   (1)
#define MICROPY_MAKE_POINTER_CALLABLE(p) ((void *)((mp_uint_t)(p) | 1))
#elif defined(__riscv)
#define MICROPY_EMIT_RV32           (1)
#define MICROPY_EMIT_INLINE_RV32    (1)
#endif

#define MICROPY_MALLOC_USES_ALLOCATED_SIZE (1)
#define MICROPY_PERSISTENT_CODE_LOAD (1)   // .mpy files, with native code (dynamic native modules)
#define MICROPY_MEM_STATS           (1)
#define MICROPY_READER_VFS          (1)
#define MICROPY_ENABLE_GC           (1)
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF (1)
#define MICROPY_LONGINT_IMPL        (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_FLOAT_IMPL          (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_WARNINGS            (1)
#define MICROPY_PY_SYS_PLATFORM     "qemu"

// Driven over the UART like a real board.
#define MICROPY_KBD_EXCEPTION       (1)    // Ctrl-C raises KeyboardInterrupt
#define MICROPY_ENABLE_SCHEDULER    (1)
#define MICROPY_PY_SYS_STDIO_BUFFER (1)
#define MICROPY_PY_SELECT           (1)    // select.poll on sys.stdin
#define MICROPY_PY_TIME             (1)
#define MICROPY_PY_TIME_TIME_TIME_NS (1)   // time.time(): seconds since boot (no RTC)
#define MICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME (1)
#define MICROPY_PY_TIME_INCLUDEFILE "ports/qemu/modtime_qemu.c"
#define MICROPY_PY_ASYNCIO          (0)    // its Python half would have to be frozen
#define MICROPY_PY_MACHINE          (1)
#define MICROPY_PY_MACHINE_INCLUDEFILE "ports/qemu/modmachine.c"
#define MICROPY_PY_MACHINE_RESET    (1)
#define MICROPY_PY_MACHINE_PIN_BASE (1)
#define MICROPY_PY_OS_UNAME         (1)
#define MICROPY_PY_OS_URANDOM       (0)
#define MICROPY_VFS                 (1)
#define MICROPY_VFS_ROM             (0)
#define MICROPY_REPL_INFO           (0)

// The UART is polled (QEMU holds further input back while a character waits, so nothing is lost):
// on a VM branch every so often, and while the board sleeps or waits for input. Ctrl-C found there
// raises KeyboardInterrupt in running code.
void tinyml_uart_poll(void);
#define MICROPY_VM_HOOK_COUNT       (64)
#define MICROPY_VM_HOOK_INIT        static unsigned int vm_hook_divisor = MICROPY_VM_HOOK_COUNT;
#define MICROPY_VM_HOOK_POLL        if (--vm_hook_divisor == 0) { \
        vm_hook_divisor = MICROPY_VM_HOOK_COUNT; \
        tinyml_uart_poll(); \
}
#define MICROPY_VM_HOOK_LOOP        MICROPY_VM_HOOK_POLL
#define MICROPY_VM_HOOK_RETURN      MICROPY_VM_HOOK_POLL

// Sleep (the host's CPU too) until UART input or timeout_ms (-1: none).
void tinyml_wfe(int timeout_ms);
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS) tinyml_wfe(TIMEOUT_MS)

// type definitions for the specific machine

#define MP_SSIZE_MAX (0x7fffffff)

#define UINT_FMT "%lu"
#define INT_FMT "%ld"

typedef int32_t mp_int_t; // must be pointer size
typedef uint32_t mp_uint_t; // must be pointer size
typedef long mp_off_t;

// We need to provide a declaration/definition of alloca()
#include <alloca.h>

// We need an implementation of the log2 function which is not a macro.
#define MP_NEED_LOG2 (1)

#define MP_STATE_PORT MP_STATE_VM
