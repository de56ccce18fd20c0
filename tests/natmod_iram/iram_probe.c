// A native module with two tables among its code (a .text section: in the ESP32's IRAM once loaded;
// mpy_ld.py keeps .rodata apart, in RAM, for xtensawin): word_at() reads 32-bit words, which IRAM
// serves; byte_at() reads with an 8-bit load, which IRAM answers with a LoadStoreError.
// tests/test_qemu_esp32.py runs both on qemu-esp32.
#include "py/dynruntime.h"

#define IN_CODE __attribute__((section(".text.iram_probe_tables"), aligned(4)))
static const int32_t words[4] IN_CODE = {11, -22, 33, -44};
static const int8_t bytes[8] IN_CODE = {1, -2, 3, -4, 5, -6, 7, -8};

static mp_obj_t word_at(mp_obj_t i) {
    return mp_obj_new_int(words[mp_obj_get_int(i) & 3]);
}
static MP_DEFINE_CONST_FUN_OBJ_1(word_at_obj, word_at);

static mp_obj_t byte_at(mp_obj_t i) {
    return mp_obj_new_int(bytes[mp_obj_get_int(i) & 7]);
}
static MP_DEFINE_CONST_FUN_OBJ_1(byte_at_obj, byte_at);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
    mp_store_global(MP_QSTR_word_at, MP_OBJ_FROM_PTR(&word_at_obj));
    mp_store_global(MP_QSTR_byte_at, MP_OBJ_FROM_PTR(&byte_at_obj));
    MP_DYNRUNTIME_INIT_EXIT
}
