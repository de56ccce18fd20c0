// tinyml's emulated boards: included by extmod/modmachine.c (MICROPY_PY_MACHINE_INCLUDEFILE).
// machine.reset() resets the emulated machine (not exit QEMU, as ports/qemu does): the RAM disk,
// outside the firmware image, keeps its files, as flash does on a real board.
// Derived from MicroPython's ports/qemu/modmachine.c (MIT license, Copyright (c) 2014-2024 Damien P. George).
#include "py/mphal.h"

NORETURN void tinyml_system_reset(void);

static void mp_machine_idle(void) {
    tinyml_wfe(1);
}

#if MICROPY_PY_MACHINE_RESET

static void mp_machine_reset(void) {
    tinyml_system_reset();
}

static mp_int_t mp_machine_reset_cause(void) {
    return 0;
}

#endif
