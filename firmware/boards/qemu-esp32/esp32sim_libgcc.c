// tinyml's qemu-esp32 board: the few libgcc helpers MicroPython's core calls on the ESP32's core,
// written here because no libgcc for the windowed ABI comes with the toolchain (Debian's is call0).
// The ESP32 has 32-bit divide, single-precision add/multiply and conversions in hardware, but GCC
// calls out for single division, double conversions, 64-bit division and variable shifts, byte
// swaps and popcount.
// IEEE 754 with round-to-nearest-even, as libgcc's; written for this project.

#include <stdint.h>

typedef union { float f; uint32_t u; } fbits_t;
typedef union { double d; uint64_t u; } dbits_t;

// Rounds a positive value 1.f * 2^(exp - 127) given as q (26 bits: bit 25 the leading 1, then 23
// fraction bits, a guard and a round bit) plus a sticky flag, to the nearest float (ties to even),
// with gradual underflow and overflow to infinity.
static float pack_float(uint32_t sign, int32_t exp, uint32_t q, uint32_t sticky) {
    fbits_t r;
    if (exp <= 0) {
        int32_t shift = 1 - exp;
        if (shift > 26) {
            r.u = sign;
            return r.f;
        }
        sticky |= (q & ((1u << shift) - 1)) != 0;
        q >>= shift;
        exp = 0;
    }
    uint32_t m = q >> 2;
    sticky |= q & 1;
    if (((q >> 1) & 1) && (sticky || (m & 1))) {
        m += 1;
    }
    if (exp >= 255) {
        r.u = sign | 0x7f800000;
        return r.f;
    }
    uint32_t bits = exp == 0 ? m : ((uint32_t)(exp - 1) << 23) + m; // a carry out of m bumps the exponent
    if (bits >= 0x7f800000) {
        bits = 0x7f800000;
    }
    r.u = sign | bits;
    return r.f;
}

// Leading 1 of a denormal's fraction moved to bit 23; returns the exponent (as if normal).
static int32_t normalize(uint32_t *m) {
    int32_t e = 1;
    while (!(*m & 0x800000)) {
        *m <<= 1;
        e -= 1;
    }
    return e;
}

float __divsf3(float a, float b) {
    fbits_t x = { .f = a }, y = { .f = b }, r;
    uint32_t sign = (x.u ^ y.u) & 0x80000000;
    int32_t ea = (x.u >> 23) & 0xff, eb = (y.u >> 23) & 0xff;
    uint32_t ma = x.u & 0x7fffff, mb = y.u & 0x7fffff;
    if (ea == 255 && ma) {
        r.u = x.u | 0x400000;
        return r.f;
    }
    if (eb == 255 && mb) {
        r.u = y.u | 0x400000;
        return r.f;
    }
    if (ea == 255) {
        r.u = eb == 255 ? 0x7fc00000 : sign | 0x7f800000;
        return r.f;
    }
    if (eb == 255) {
        r.u = sign;
        return r.f;
    }
    if (eb == 0 && mb == 0) {
        r.u = (ea == 0 && ma == 0) ? 0x7fc00000 : sign | 0x7f800000;
        return r.f;
    }
    if (ea == 0 && ma == 0) {
        r.u = sign;
        return r.f;
    }
    ea = ea ? (ma |= 0x800000, ea) : normalize(&ma);
    eb = eb ? (mb |= 0x800000, eb) : normalize(&mb);
    int32_t exp = ea - eb + 127;
    if (ma < mb) {
        ma <<= 1;
        exp -= 1;
    }
    // ma / mb in [1, 2): 26 quotient bits by restoring division, the remainder as sticky.
    uint32_t q = 0;
    for (int i = 0; i < 26; ++i) {
        q <<= 1;
        if (ma >= mb) {
            ma -= mb;
            q |= 1;
        }
        ma <<= 1;
    }
    return pack_float(sign, exp, q, ma != 0);
}

double __extendsfdf2(float a) {
    fbits_t x = { .f = a };
    dbits_t r;
    uint64_t sign = (uint64_t)(x.u >> 31) << 63;
    int32_t e = (x.u >> 23) & 0xff;
    uint32_t m = x.u & 0x7fffff;
    if (e == 255) {
        r.u = sign | 0x7ff0000000000000ull | ((uint64_t)m << 29);
    } else if (e == 0 && m == 0) {
        r.u = sign;
    } else {
        if (e == 0) {
            e = normalize(&m);
        }
        r.u = sign | ((uint64_t)(e - 127 + 1023) << 52) | ((uint64_t)(m & 0x7fffff) << 29);
    }
    return r.d;
}

float __truncdfsf2(double a) {
    dbits_t x = { .d = a };
    fbits_t r;
    uint32_t sign = (uint32_t)(x.u >> 63) << 31;
    int32_t e = (x.u >> 52) & 0x7ff;
    uint64_t m = x.u & 0xfffffffffffffull;
    if (e == 0x7ff) {
        r.u = sign | 0x7f800000 | (m ? 0x400000 | (uint32_t)(m >> 29) : 0);
        return r.f;
    }
    if (e == 0) { // zero or a double denormal: far below the smallest float denormal
        r.u = sign;
        return r.f;
    }
    m |= 1ull << 52;
    int32_t exp = e - 1023 + 127;
    if (exp > 255) {
        exp = 255;
    } else if (exp < -30) {
        exp = -30;
    }
    return pack_float(sign, exp, (uint32_t)(m >> 27), (m & ((1u << 27) - 1)) != 0);
}

double __floatsidf(int32_t i) {
    dbits_t r;
    if (i == 0) {
        r.u = 0;
        return r.d;
    }
    uint64_t sign = i < 0 ? 1ull << 63 : 0;
    uint32_t u = i < 0 ? -(uint32_t)i : (uint32_t)i;
    int32_t top = 31 - __builtin_clz(u); // NSAU
    r.u = sign | ((uint64_t)(top + 1023) << 52) | (((uint64_t)u << (52 - top)) & 0xfffffffffffffull);
    return r.d;
}

uint64_t __udivdi3(uint64_t n, uint64_t d) {
    if ((n >> 32) == 0 && (d >> 32) == 0) {
        return (uint32_t)n / (uint32_t)d; // QUOU (and its divide-by-zero exception)
    }
    uint64_t q = 0, r = 0;
    for (int i = 0; i < 64; ++i) { // shifts by constants only (variable ones are helpers too)
        uint64_t carry = r >> 63;
        r = (r << 1) | (n >> 63);
        n <<= 1;
        q <<= 1;
        if (carry || r >= d) {
            r -= d;
            q |= 1;
        }
    }
    return q;
}

typedef union { uint64_t u; struct { uint32_t lo, hi; } w; } dwords_t;

uint64_t __ashldi3(uint64_t a, int b) {
    dwords_t x = { .u = a }, r;
    if (b >= 32) {
        r.w.lo = 0;
        r.w.hi = x.w.lo << (b - 32);
    } else if (b == 0) {
        return a;
    } else {
        r.w.lo = x.w.lo << b;
        r.w.hi = (x.w.hi << b) | (x.w.lo >> (32 - b));
    }
    return r.u;
}

uint64_t __lshrdi3(uint64_t a, int b) {
    dwords_t x = { .u = a }, r;
    if (b >= 32) {
        r.w.hi = 0;
        r.w.lo = x.w.hi >> (b - 32);
    } else if (b == 0) {
        return a;
    } else {
        r.w.hi = x.w.hi >> b;
        r.w.lo = (x.w.lo >> b) | (x.w.hi << (32 - b));
    }
    return r.u;
}

int64_t __ashrdi3(int64_t a, int b) {
    dwords_t x = { .u = (uint64_t)a }, r;
    if (b >= 32) {
        r.w.hi = (uint32_t)((int32_t)x.w.hi >> 31);
        r.w.lo = (uint32_t)((int32_t)x.w.hi >> (b - 32));
    } else if (b == 0) {
        return a;
    } else {
        r.w.hi = (uint32_t)((int32_t)x.w.hi >> b);
        r.w.lo = (x.w.lo >> b) | (x.w.hi << (32 - b));
    }
    return (int64_t)r.u;
}

uint32_t __bswapsi2(uint32_t x) {
    uint32_t b0 = x & 0xff, b1 = (x >> 8) & 0xff, b2 = (x >> 16) & 0xff, b3 = x >> 24;
    __asm__ ("" : "+r" (b0), "+r" (b1), "+r" (b2), "+r" (b3)); // hides the idiom, which GCC
    return (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;                // would make a call to itself
}

uint64_t __bswapdi2(uint64_t x) {
    return ((uint64_t)__bswapsi2((uint32_t)x) << 32) | __bswapsi2((uint32_t)(x >> 32));
}

int __popcountsi2(uint32_t x) {
    x = x - ((x >> 1) & 0x55555555);
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333);
    x = (x + (x >> 4)) & 0x0f0f0f0f;
    return (x * 0x01010101) >> 24;
}
