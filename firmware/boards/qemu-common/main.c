// tinyml's emulated boards: ports/qemu's main.c, plus a GC heap whose size the emulator passes at
// boot, a littlefs filesystem on a RAM disk mounted at "/" (made on first boot), /lib on sys.path,
// and boot.py / main.py as on a real board.
// Derived from MicroPython's ports/qemu/main.c (MIT license, Copyright (c) 2014-2024 Damien P. George).

#include <stdlib.h>
#include <string.h>

#include "py/compile.h"
#include "py/runtime.h"
#include "py/stackctrl.h"
#include "py/gc.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "extmod/vfs.h"
#include "extmod/vfs_lfs.h"
#include "shared/readline/readline.h"
#include "shared/runtime/gchelper.h"
#include "shared/runtime/pyexec.h"

#if MICROPY_HEAP_SIZE <= 0
#error MICROPY_HEAP_SIZE must be a positive integer.
#endif

// The emulator (QEMU's "-device loader,addr=TINYML_CONFIG_ADDR,data=(size << 32 | HEAP_MAGIC),
// data-len=8") may put the heap size at TINYML_CONFIG_ADDR; otherwise MICROPY_HEAP_SIZE.
#define HEAP_MAGIC (0x50414548) // "HEAP"
#define HEAP_MIN (16 * 1024)
#define HEAP_MAX (TINYML_RAM_END - TINYML_HEAP_ADDR)

size_t tinyml_heap_size;

static size_t heap_size(void) {
    volatile uint32_t *cfg = (volatile uint32_t *)TINYML_CONFIG_ADDR;
    size_t n = MICROPY_HEAP_SIZE;
    if (cfg[0] == HEAP_MAGIC) {
        n = cfg[1];
    }
    if (n < HEAP_MIN) {
        n = HEAP_MIN;
    } else if (n > HEAP_MAX) {
        n = HEAP_MAX;
    }
    return n & ~(size_t)15;
}

extern const struct _ramdisk_obj_t tinyml_ramdisk_obj;

// littlefs on the RAM disk at "/", made when the disk holds none (first boot).
static void mount_fs(void) {
    mp_obj_t bdev = MP_OBJ_FROM_PTR(&tinyml_ramdisk_obj);
    const uint8_t *disk = (const uint8_t *)TINYML_RAMDISK_ADDR;
    if (memcmp(disk + 8, "littlefs", 8) != 0 && memcmp(disk + TINYML_RAMDISK_BLOCK_SIZE + 8, "littlefs", 8) != 0) {
        nlr_buf_t nlr;
        if (nlr_push(&nlr) == 0) {
            mp_call_function_1(mp_load_attr(MP_OBJ_FROM_PTR(&mp_type_vfs_lfs2), MP_QSTR_mkfs), bdev);
            nlr_pop();
        } else {
            mp_printf(&mp_plat_print, "tinyml: could not make a filesystem on the RAM disk\n");
            mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
            return;
        }
    }
    int ret = mp_vfs_mount_and_chdir_protected(bdev, MP_OBJ_NEW_QSTR(MP_QSTR__slash_));
    if (ret != 0) {
        mp_printf(&mp_plat_print, "tinyml: could not mount the RAM disk (%d)\n", ret);
    }
}

int main(int argc, char **argv) {
    #if defined(__ARM_FP)
    // a core with an FPU (qemu-m4, built hard-float): give code and native modules CP10/CP11 (CPACR)
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm volatile ("dsb\n isb" ::: "memory");
    #endif
    mp_stack_ctrl_init();
    mp_stack_set_limit(TINYML_STACK_LIMIT);
    mp_hal_init();
    tinyml_heap_size = heap_size();
    gc_init((void *)TINYML_HEAP_ADDR, (void *)(TINYML_HEAP_ADDR + tinyml_heap_size));

    for (;;) {
        mp_init();
        readline_init0();
        mp_obj_list_append(mp_sys_path, MP_OBJ_NEW_QSTR(MP_QSTR__slash_lib));
        mount_fs();

        int ret = pyexec_file_if_exists("boot.py");
        if (ret & PYEXEC_FORCED_EXIT) {
            goto soft_reset_exit;
        }
        if (pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL && ret != 0) {
            ret = pyexec_file_if_exists("main.py");
            if (ret & PYEXEC_FORCED_EXIT) {
                goto soft_reset_exit;
            }
        }

        for (;;) {
            if (pyexec_mode_kind == PYEXEC_MODE_RAW_REPL) {
                if (pyexec_raw_repl() != 0) {
                    break;
                }
            } else {
                if (pyexec_friendly_repl() != 0) {
                    break;
                }
            }
        }

    soft_reset_exit:
        mp_printf(&mp_plat_print, "MPY: soft reboot\n");
        #ifdef TINYML_SOFT_RESET_HOOK
        TINYML_SOFT_RESET_HOOK();
        #endif

        gc_sweep_all();
        mp_deinit();
    }
}

void gc_collect(void) {
    gc_collect_start();
    gc_helper_collect_regs_and_stack();
    gc_collect_end();
}

void nlr_jump_fail(void *val) {
    mp_printf(&mp_plat_print, "uncaught NLR\n");
    exit(1);
}
