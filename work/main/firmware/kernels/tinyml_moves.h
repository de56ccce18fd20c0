// tinyml's data moves in C: the interpreter's remap (the layout ops' gather: transposes, slices,
// nearest-neighbour resizing, padding, depth/space and batch/space shuffles, ...) and concatenation, the
// same bytes as device_lib/tinyml/moves.py and model.py's _concat, without a Python call per run of
// bytes. Plain C99, no division, no MicroPython dependency (docs/model-format.md, "remap").
#ifndef TINYML_MOVES_H
#define TINYML_MOVES_H

#include <stdint.h>
#include <stdbool.h>

// n bytes from src to dst (apart): words when both are 4-byte aligned (no unaligned access: Xtensa
// faults on one), else bytes
static void tml_copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
    if ((((uintptr_t)dst | (uintptr_t)src) & 3) == 0) {
        int32_t *d = (int32_t *)dst;
        const int32_t *s = (const int32_t *)src;
        for (; n >= 4; n -= 4) {
            *d++ = *s++;
        }
        dst = (int8_t *)d;
        src = (const int8_t *)s;
    }
    while (n-- > 0) {
        *dst++ = *src++;
    }
}

// Output element (i0, i1, i2, i3) of d (the esize bytes at y's element index) is x's esize bytes at
// byte T0[i0] + T1[i1] + T2[i2] + T3[i3], or the byte fill where that sum is negative (an entry is
// -2**28, the fill's; every other entry is >= 0 and the sums stay below 2**27). t holds T0..T3 one
// after the other. Caller's contract: every non-negative sum + esize is inside x.
static void tml_remap(const int8_t *x, int8_t *y, const int32_t *t, const int32_t d[4], int32_t esize, int8_t fill) {
    const int32_t *t1 = t + d[0], *t2 = t1 + d[1], *t3 = t2 + d[2];
    // the innermost dimension one run of consecutive bytes (a pad, a slice, a nearest resize's pixel)?
    bool run = t3[0] >= 0;
    for (int32_t i3 = 1; i3 < d[3] && run; i3++) {
        run = t3[i3] == t3[0] + i3 * esize;
    }
    const int32_t row = d[3] * esize;
    for (int32_t i0 = 0; i0 < d[0]; i0++) {
        for (int32_t i1 = 0; i1 < d[1]; i1++) {
            int32_t b1 = t[i0] + t1[i1];
            for (int32_t i2 = 0; i2 < d[2]; i2++) {
                int32_t b2 = b1 + t2[i2];
                if (run) {
                    if (b2 < 0) {
                        for (int32_t e = 0; e < row; e++) {
                            y[e] = fill;
                        }
                    } else {
                        tml_copy_bytes(y, x + b2 + t3[0], row);
                    }
                    y += row;
                    continue;
                }
                for (int32_t i3 = 0; i3 < d[3]; i3++) {
                    int32_t s = b2 + t3[i3];
                    if (s < 0) {
                        for (int32_t e = 0; e < esize; e++) {
                            *y++ = fill;
                        }
                    } else if (esize == 1) {
                        *y++ = x[s];
                    } else {
                        for (int32_t e = 0; e < esize; e++) {
                            *y++ = x[s + e];
                        }
                    }
                }
            }
        }
    }
}

// One input of a concatenation: its outer runs of n bytes each, to y at offset at of each output run
// of row bytes (concatenation and packing: y's run o is every input's run o, one after the other).
static void tml_concat_part(const int8_t *x, int8_t *y, int32_t outer, int32_t n, int32_t at, int32_t row) {
    y += at;
    for (int32_t o = 0; o < outer; o++, y += row, x += n) {
        tml_copy_bytes(y, x, n);
    }
}

#endif // TINYML_MOVES_H
