// Bad on any ESP32 MicroPython: a byte table placed with the code (which the loader copies to
// IRAM), read with l8ui.
#include <stdint.h>
static const int8_t table[16] __attribute__((section(".text.sample_table"))) = {
    3, -1, 4, -1, 5, -9, 2, -6, 5, -3, 5, -8, 9, -7, 9, -3};

int sample_get(int i) {
    return table[i & 15];
}
