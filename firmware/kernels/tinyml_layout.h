// tinyml's resizing kernel (docs/kernels.md): TFLM's reference_ops::ResizeBilinearInteger for int8.
// The host works out each output row's (y0, y1 as byte offsets, wy) and column's (x0, x1, wx), the
// fractions in 1/1024 (TFLM's ComputeInterpolationValuesInteger), into one int32 table: this weighs
// the four neighbours and rounds half away from zero. Every sum fits int32: |x| <= 128 and the
// weights' absolute values add up to at most 2048 * 2048.
#ifndef TINYML_LAYOUT_H
#define TINYML_LAYOUT_H

#include <stdint.h>
#include "tinyml_ops.h"

// g: TML_RESIZE_BATCHES, _OH, _OW, _C, _IN_BATCH (bytes of one input image); table: 3 * (OH + OW)
static inline void tml_resize_bilinear(const int8_t *x, int8_t *y, const int32_t *table, const int32_t *g) {
    const int32_t nb = g[TML_RESIZE_BATCHES], oh = g[TML_RESIZE_OH], ow = g[TML_RESIZE_OW];
    const int32_t c = g[TML_RESIZE_C], stride = g[TML_RESIZE_IN_BATCH];
    for (int32_t b = 0; b < nb; b++) {
        const int8_t *xb = x + b * stride;
        for (int32_t oy = 0; oy < oh; oy++) {
            const int8_t *r0 = xb + table[3 * oy], *r1 = xb + table[3 * oy + 1];
            const int32_t wy = table[3 * oy + 2];
            for (int32_t ox = 0; ox < ow; ox++) {
                const int32_t *t = table + 3 * (oh + ox);
                const int32_t wx = t[2];
                const int32_t w00 = (1024 - wy) * (1024 - wx), w10 = wy * (1024 - wx);
                const int32_t w01 = (1024 - wy) * wx, w11 = wy * wx;
                const int8_t *p00 = r0 + t[0], *p10 = r1 + t[0], *p01 = r0 + t[1], *p11 = r1 + t[1];
                for (int32_t ch = 0; ch < c; ch++) {
                    int32_t v = p00[ch] * w00 + p10[ch] * w10 + p01[ch] * w01 + p11[ch] * w11;
                    *y++ = (int8_t)(v > 0 ? (v + (1 << 19)) >> 20 : -((((1 << 19) - v)) >> 20));
                }
            }
        }
    }
}

#endif // TINYML_LAYOUT_H
