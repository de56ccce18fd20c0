// Good in IRAM: the module's table is read as 32-bit words; bytes are read from the caller's buffer only.
#include <stdint.h>
static const int32_t table[16] = {3, -1, 4, -1, 5, -9, 2, -6, 5, -3, 5, -8, 9, -7, 9, -3};

int sample_sum(const int8_t *buf, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) {
        s += buf[i] * table[i & 15];
    }
    return s;
}
