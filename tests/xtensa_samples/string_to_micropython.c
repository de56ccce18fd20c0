// Bad when rodata is in IRAM: a string constant of the module handed to MicroPython, which reads
// it bytewise (as mp_raise_ValueError(MP_ERROR_TEXT("...")) does in a native module).
typedef struct { void (*raise)(const void *type, const char *msg); } fun_table_t;
extern const fun_table_t mp_fun_table;

void sample_fail(const void *type) {
    mp_fun_table.raise(type, "sample: bad value");
}
