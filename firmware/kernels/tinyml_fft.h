// tinyml's integer FFT kernels for preprocessing, bit-exact with device_lib/tinyml/preprocess/fft.py
// (the reference) and device_lib/tinyml/fft_viper.py:
// - tml_rfft_q15: the Q15 real FFT of TFLM's signal library (KissFFT 1.3.0 with FIXED_POINT=16, and
//   kiss_fftr): every radix-4 / radix-2 stage divides by its radix with rounding, Q15 twiddles.
//   Intermediates are int32 where KissFFT stores int16; no int32 overflows for any int16 input (each
//   stage keeps the complex magnitude <= the input's, < 46341, so every product sum stays < 2**31).
// - tml_window_q15: TFLM's SignalWindow (Q `shift` coefficients, saturated to int16) followed by
//   FftAutoScale (left shift so the largest magnitude reaches bit 14; MaxAbs16's int16 wrap included).
// Plain C99 (no division: Cortex-M0 has none); with MicroPython's headers included first, also the
// bindings rfft_q15(x, y, tw, work) and window_q15(frame, coeffs, x, shift) of the tinyml_kernels
// module (docs: device_lib/tinyml/preprocess/fft.py), tml_rfft_q15_obj and tml_window_q15_obj, which
// tinyml_kernels.c registers (its MP_QSTR_ names must appear in the .c: mpy_ld scans only that file).
#ifndef TINYML_FFT_H
#define TINYML_FFT_H

#include <stdint.h>

static inline int32_t tml_q15_half(int32_t v) {
    return (v * 16383 + 16384) >> 15; // C_FIXDIV(c, 2): v * (SAMP_MAX / 2), rounded (>> is arithmetic)
}

static inline int32_t tml_q15_quarter(int32_t v) {
    return (v * 8191 + 16384) >> 15; // C_FIXDIV(c, 4)
}

// w[i0], w[i0 + 1] = a * (tw[t], tw[t + 1]) in Q15, rounded (KissFFT's C_MUL)
#define TML_CMUL(rr, ri, ar, ai, tw, t) do { \
        int32_t cr_ = (tw)[t], ci_ = (tw)[(t) + 1]; \
        rr = ((ar) * cr_ - (ai) * ci_ + 16384) >> 15; \
        ri = ((ar) * ci_ + (ai) * cr_ + 16384) >> 15; \
    } while (0)

// x: n int16 samples; y: n + 2 int32 (re, im of bins 0..n/2); tw: 3n/2 int16 (the n/2 complex
// twiddles, then n/4 super twiddles: tinyml.preprocess.fft.twiddles_q15); w: n int32 scratch.
// n: a power of two >= 4.
static void tml_rfft_q15(const int16_t *x, int32_t *y, const int16_t *tw, int32_t *w, int n) {
    int half = n >> 1;
    int bits[32]; // log2 of each radix, outermost first: 4s, then a 2 when needed
    int nf = 0, total = 0;
    for (int m = half; m > 1; ) {
        int b = (m & 3) == 0 ? 2 : 1;
        bits[nf++] = b;
        m >>= b;
        total += b;
    }
    // KissFFT's recursion reads input idx into position pos: mixed-radix digit reversal
    for (int pos = 0; pos < half; pos++) {
        int idx = 0, shift = 0, span_bits = total;
        for (int l = 0; l < nf; l++) {
            span_bits -= bits[l];
            int q = (pos >> span_bits) & ((1 << bits[l]) - 1);
            idx += q << shift;
            shift += bits[l];
        }
        w[2 * pos] = x[2 * idx];
        w[2 * pos + 1] = x[2 * idx + 1];
    }
    int m = 1, fstride_bits = total;
    for (int l = nf - 1; l >= 0; l--) {
        fstride_bits -= bits[l];
        int span = m << bits[l];
        for (int base = 0; base < half; base += span) {
            if (bits[l] == 2) {
                for (int k = 0; k < m; k++) {
                    int i0 = (base + k) << 1, i1 = i0 + 2 * m, i2 = i1 + 2 * m, i3 = i2 + 2 * m;
                    int32_t a0r = tml_q15_quarter(w[i0]), a0i = tml_q15_quarter(w[i0 + 1]);
                    int32_t a1r = tml_q15_quarter(w[i1]), a1i = tml_q15_quarter(w[i1 + 1]);
                    int32_t a2r = tml_q15_quarter(w[i2]), a2i = tml_q15_quarter(w[i2 + 1]);
                    int32_t a3r = tml_q15_quarter(w[i3]), a3i = tml_q15_quarter(w[i3 + 1]);
                    int t = (k << fstride_bits) << 1;
                    int32_t s0r, s0i, s1r, s1i, s2r, s2i;
                    TML_CMUL(s0r, s0i, a1r, a1i, tw, t);
                    TML_CMUL(s1r, s1i, a2r, a2i, tw, 2 * t);
                    TML_CMUL(s2r, s2i, a3r, a3i, tw, 3 * t);
                    int32_t s5r = a0r - s1r, s5i = a0i - s1i;
                    a0r += s1r;
                    a0i += s1i;
                    int32_t s3r = s0r + s2r, s3i = s0i + s2i;
                    int32_t s4r = s0r - s2r, s4i = s0i - s2i;
                    w[i2] = a0r - s3r;
                    w[i2 + 1] = a0i - s3i;
                    w[i0] = a0r + s3r;
                    w[i0 + 1] = a0i + s3i;
                    w[i1] = s5r + s4i;
                    w[i1 + 1] = s5i - s4r;
                    w[i3] = s5r - s4i;
                    w[i3 + 1] = s5i + s4r;
                }
            } else {
                for (int k = 0; k < m; k++) {
                    int i0 = (base + k) << 1, i1 = i0 + 2 * m;
                    int32_t ar = tml_q15_half(w[i0]), ai = tml_q15_half(w[i0 + 1]);
                    int32_t br = tml_q15_half(w[i1]), bi = tml_q15_half(w[i1 + 1]);
                    int32_t tr, ti;
                    TML_CMUL(tr, ti, br, bi, tw, (k << fstride_bits) << 1);
                    w[i1] = ar - tr;
                    w[i1 + 1] = ai - ti;
                    w[i0] = ar + tr;
                    w[i0 + 1] = ai + ti;
                }
            }
        }
        m = span;
    }
    // kiss_fftr: the half-length complex FFT of (even, odd) samples -> the real signal's spectrum
    int32_t dr = tml_q15_half(w[0]), di = tml_q15_half(w[1]);
    y[0] = dr + di;
    y[1] = 0;
    y[2 * half] = dr - di;
    y[2 * half + 1] = 0;
    const int16_t *st = tw + 2 * half;
    for (int k = 1; k <= (half >> 1); k++) {
        int j = (half - k) << 1;
        int32_t fr = tml_q15_half(w[2 * k]), fi = tml_q15_half(w[2 * k + 1]);
        int32_t gr = tml_q15_half(w[j]), gi = tml_q15_half(-w[j + 1]);
        int32_t f1r = fr + gr, f1i = fi + gi, f2r = fr - gr, f2i = fi - gi, tr, ti;
        TML_CMUL(tr, ti, f2r, f2i, st, 2 * k - 2);
        y[2 * k] = (f1r + tr) >> 1;
        y[2 * k + 1] = (f1i + ti) >> 1;
        y[j] = (f1r - tr) >> 1;
        y[j + 1] = (ti - f1i) >> 1;
    }
}

// x[i] = saturate_int16((frame[i] * coeffs[i]) >> shift) for i < n, then auto-scaled in place;
// returns the auto-scale shift.
static int tml_window_q15(const int16_t *frame, const int16_t *coeffs, int16_t *x, int n, int shift) {
    int16_t top = 0;
    for (int i = 0; i < n; i++) {
        int32_t v = ((int32_t)frame[i] * coeffs[i]) >> shift;
        v = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
        x[i] = (int16_t)v;
        if (v > top) {
            top = (int16_t)v;
        } else if (-v > top) {
            top = (int16_t)(uint16_t)(-v); // -(-32768) wraps to -32768, as MaxAbs16's int16
        }
    }
    if (top <= 0) {
        return 0;
    }
    int b = 0;
    while (top >> b) {
        b++;
    }
    int s = 15 - b;
    if (s <= 0) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        x[i] = (int16_t)(x[i] * (1 << s));
    }
    return s;
}

#ifdef MP_OBJ_FROM_PTR // the MicroPython bindings, in the tinyml_kernels module

static void tml_fft_check(bool ok, mp_rom_error_text_t msg) {
    if (!ok) {
        mp_raise_ValueError(msg);
    }
}

// rfft_q15(x, y, tw, work): n = len(work) / 4
static mp_obj_t tml_rfft_q15_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t x, y, tw, w;
    mp_get_buffer_raise(args[0], &x, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &y, MP_BUFFER_WRITE);
    mp_get_buffer_raise(args[2], &tw, MP_BUFFER_READ);
    mp_get_buffer_raise(args[3], &w, MP_BUFFER_WRITE);
    size_t n = w.len / 4;
    tml_fft_check(w.len % 4 == 0 && n >= 4 && n <= (1 << 20) && (n & (n - 1)) == 0,
        MP_ERROR_TEXT("rfft_q15: work must be an array('i') of n, a power of two in 4..2**20"));
    tml_fft_check(x.len >= 2 * n && y.len >= 4 * (n + 2) && tw.len >= 3 * n,
        MP_ERROR_TEXT("rfft_q15: x needs n int16, y n + 2 int32, tw 3n/2 int16"));
    tml_fft_check(((uintptr_t)x.buf & 1) == 0 && ((uintptr_t)tw.buf & 1) == 0 &&
        ((uintptr_t)y.buf & 3) == 0 && ((uintptr_t)w.buf & 3) == 0,
        MP_ERROR_TEXT("rfft_q15: x, tw must be 2-byte aligned, y, work 4-byte aligned"));
    const uint8_t *wb = w.buf, *yb = y.buf;
    tml_fft_check(wb + w.len <= yb || yb + 4 * (n + 2) <= wb, MP_ERROR_TEXT("rfft_q15: y overlaps work"));
    tml_rfft_q15(x.buf, y.buf, tw.buf, w.buf, (int)n);
    return args[1];
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_rfft_q15_obj, 4, 4, tml_rfft_q15_fn);

// window_q15(frame, coeffs, x, shift) -> auto-scale shift; n = len(coeffs) / 2
static mp_obj_t tml_window_q15_fn(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    mp_buffer_info_t f, c, x;
    mp_get_buffer_raise(args[0], &f, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &c, MP_BUFFER_READ);
    mp_get_buffer_raise(args[2], &x, MP_BUFFER_WRITE);
    mp_int_t shift = mp_obj_get_int(args[3]);
    size_t n = c.len / 2;
    tml_fft_check(shift >= 0 && shift <= 31, MP_ERROR_TEXT("window_q15: shift must be in 0..31"));
    tml_fft_check(f.len >= 2 * n && x.len >= 2 * n && n <= (1 << 24),
        MP_ERROR_TEXT("window_q15: frame and x need len(coeffs) int16"));
    tml_fft_check((((uintptr_t)f.buf | (uintptr_t)c.buf | (uintptr_t)x.buf) & 1) == 0,
        MP_ERROR_TEXT("window_q15: buffers must be 2-byte aligned"));
    return mp_obj_new_int(tml_window_q15(f.buf, c.buf, x.buf, (int)n, (int)shift));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(tml_window_q15_obj, 4, 4, tml_window_q15_fn);

#endif // MP_OBJ_FROM_PTR

#endif // TINYML_FFT_H
