// tinyml's emulated boards: a block device over a RAM region outside the firmware image and the GC
// heap (TINYML_RAMDISK_ADDR/SIZE), with the extended block protocol littlefs uses. It survives soft
// resets and machine.reset(); it starts blank when the emulator starts. Python: qemu.bdev.

#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "extmod/vfs.h"

typedef struct _ramdisk_obj_t {
    mp_obj_base_t base;
    uint8_t *start;
    uint32_t block_size;
    uint32_t num_blocks;
} ramdisk_obj_t;

static void ramdisk_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    ramdisk_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "RAMDisk(%u blocks of %u bytes at 0x%08x)", (unsigned)self->num_blocks,
        (unsigned)self->block_size, (unsigned)(uintptr_t)self->start);
}

static uint8_t *ramdisk_at(ramdisk_obj_t *self, size_t n_args, const mp_obj_t *args, mp_buffer_info_t *buf, int rw) {
    mp_get_buffer_raise(args[2], buf, rw);
    uint32_t block = mp_obj_get_int(args[1]);
    uint32_t offset = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    uint64_t at = (uint64_t)block * self->block_size + offset;
    if (at + buf->len > (uint64_t)self->block_size * self->num_blocks) {
        return NULL;
    }
    return self->start + at;
}

static mp_obj_t ramdisk_readblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t buf;
    uint8_t *p = ramdisk_at(MP_OBJ_TO_PTR(args[0]), n_args, args, &buf, MP_BUFFER_WRITE);
    if (p == NULL) {
        return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
    }
    memcpy(buf.buf, p, buf.len);
    return MP_OBJ_NEW_SMALL_INT(0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ramdisk_readblocks_obj, 3, 4, ramdisk_readblocks);

static mp_obj_t ramdisk_writeblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t buf;
    uint8_t *p = ramdisk_at(MP_OBJ_TO_PTR(args[0]), n_args, args, &buf, MP_BUFFER_READ);
    if (p == NULL) {
        return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
    }
    memcpy(p, buf.buf, buf.len);
    return MP_OBJ_NEW_SMALL_INT(0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ramdisk_writeblocks_obj, 3, 4, ramdisk_writeblocks);

static mp_obj_t ramdisk_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    ramdisk_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_INIT:
        case MP_BLOCKDEV_IOCTL_DEINIT:
        case MP_BLOCKDEV_IOCTL_SYNC:
            return MP_OBJ_NEW_SMALL_INT(0);
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(self->num_blocks);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(self->block_size);
        case MP_BLOCKDEV_IOCTL_BLOCK_ERASE: {
            uint32_t block = mp_obj_get_int(arg_in);
            if (block >= self->num_blocks) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
            }
            memset(self->start + block * self->block_size, 0xff, self->block_size);
            return MP_OBJ_NEW_SMALL_INT(0);
        }
        default:
            return mp_const_none;
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(ramdisk_ioctl_obj, ramdisk_ioctl);

static const mp_rom_map_elem_t ramdisk_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&ramdisk_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&ramdisk_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&ramdisk_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(ramdisk_locals_dict, ramdisk_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    tinyml_ramdisk_type,
    MP_QSTR_RAMDisk,
    MP_TYPE_FLAG_NONE,
    print, ramdisk_print,
    locals_dict, &ramdisk_locals_dict
    );

const ramdisk_obj_t tinyml_ramdisk_obj = {
    { &tinyml_ramdisk_type },
    (uint8_t *)TINYML_RAMDISK_ADDR,
    TINYML_RAMDISK_BLOCK_SIZE,
    TINYML_RAMDISK_SIZE / TINYML_RAMDISK_BLOCK_SIZE,
};

// The `qemu` module: the RAM disk and the heap size the board booted with.
extern size_t tinyml_heap_size;

static mp_obj_t qemu_heap_size(void) {
    return mp_obj_new_int_from_uint(tinyml_heap_size);
}
static MP_DEFINE_CONST_FUN_OBJ_0(qemu_heap_size_obj, qemu_heap_size);

static const mp_rom_map_elem_t qemu_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_qemu) },
    { MP_ROM_QSTR(MP_QSTR_bdev), MP_ROM_PTR(&tinyml_ramdisk_obj) },
    { MP_ROM_QSTR(MP_QSTR_heap_size), MP_ROM_PTR(&qemu_heap_size_obj) },
};
static MP_DEFINE_CONST_DICT(qemu_module_globals, qemu_module_globals_table);

const mp_obj_module_t tinyml_qemu_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&qemu_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_qemu, tinyml_qemu_module);
