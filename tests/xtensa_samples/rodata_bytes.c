// Bad in IRAM: a byte table among the module's constants, read with l8ui (the first lookup goes
// through a helper of the module, the second through a branch).
#include <stdint.h>
static const int8_t table[16] = {3, -1, 4, -1, 5, -9, 2, -6, 5, -3, 5, -8, 9, -7, 9, -3};

__attribute__((noinline)) static int lookup(const int8_t *t, int i) {
    return t[i & 15];
}

int sample_sum(const int8_t *buf, int n, int flip) {
    const int8_t *t = table;
    int s = lookup(table, n);
    if (flip) {
        t += 8;
    }
    for (int i = 0; i < n; i++) {
        s += buf[i] * t[i & 7];
    }
    return s;
}
