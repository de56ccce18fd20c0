// Bad when rodata is in IRAM: pointers into a byte table live across a call, more of them than the
// registers a call keeps, so some wait in the stack frame before their l8ui.
#include <stdint.h>
__attribute__((noipa)) int sample_ext(int x) {
    return x * 3;
}

static const int8_t table[64] = {3, -1, 4, -1, 5, -9, 2, -6, 5, -3, 5, -8, 9, -7, 9, -3};

int sample_spill(int n, int m, int k) {
    const int8_t *p[9];
    for (int i = 0; i < 9; i++) {
        p[i] = table + ((n >> i) & 7) * (i + 1);
    }
    int s = sample_ext(n + m + k);
    for (int i = 0; i < 9; i++) {
        s += p[i][0] * (k + i);
    }
    return s;
}
