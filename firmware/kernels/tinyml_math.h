// tinyml's kernels of TFLM's math ops (issue 12): reductions over any axes. Plain C99, bit-exact with
// TFLite Micro's reference kernels and device_lib/tinyml/kernels_py_math.py (docs/model-format.md).
#ifndef TINYML_MATH_H
#define TINYML_MATH_H

#include "tinyml_fixedpoint.h"

// The g of reduce_sum, reduce_max, reduce_min (docs/kernels.md), by name: the input is read at
// (i + r) . stride for each output index i of D and each reduced index r of R (4-D, right-aligned).
typedef struct {
    int D[4], R[4], stride[4];
    int32_t x_zp, y_zp, mult, shift; // reduce_sum only
} tml_reduce_t;

enum { TML_REDUCE_SUM, TML_REDUCE_MAX, TML_REDUCE_MIN };

// TFLM's QuantizedMeanOrSum for int8 (TML_REDUCE_SUM: the int32 sum less x_zp per value, requantized;
// a mean has 1/count folded into mult, shift by the host) and ReduceGeneric with the maximum or the
// minimum (the codes themselves: input and output share one quantization). Caller's contract: at most
// 2**23 values reduced into one, so the sum and x_zp times the count fit int32.
static inline void tml_reduce(const int8_t *x, int8_t *y, const tml_reduce_t *g, int kind) {
    const int *D = g->D, *R = g->R, *s = g->stride;
    int32_t zp_n = g->x_zp * (R[0] * R[1] * R[2] * R[3]);
    for (int i0 = 0; i0 < D[0]; i0++) {
        for (int i1 = 0; i1 < D[1]; i1++) {
            for (int i2 = 0; i2 < D[2]; i2++) {
                for (int i3 = 0; i3 < D[3]; i3++) {
                    const int8_t *b = x + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
                    int32_t a = kind == TML_REDUCE_MAX ? -128 : kind == TML_REDUCE_MIN ? 127 : 0;
                    for (int r0 = 0; r0 < R[0]; r0++) {
                        for (int r1 = 0; r1 < R[1]; r1++) {
                            for (int r2 = 0; r2 < R[2]; r2++) {
                                const int8_t *p = b + r0 * s[0] + r1 * s[1] + r2 * s[2];
                                for (int r3 = 0; r3 < R[3]; r3++, p += s[3]) {
                                    int32_t v = *p;
                                    if (kind == TML_REDUCE_SUM) {
                                        a += v;
                                    } else if (kind == TML_REDUCE_MAX ? v > a : v < a) {
                                        a = v;
                                    }
                                }
                            }
                        }
                    }
                    if (kind == TML_REDUCE_SUM) { // TFLM's int32 difference: wraps as its does
                        a = (int32_t)((uint32_t)a - (uint32_t)zp_n);
                        a = tml_out8(tml_requantize(a, g->mult, g->shift), g->y_zp, -128, 127);
                    }
                    *y++ = (int8_t)a;
                }
            }
        }
    }
}

#endif // TINYML_MATH_H
