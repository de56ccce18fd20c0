// Needs libgcc's __divdi3 (64-bit division): there is none for windowed ESP32 code.
#include <stdint.h>
int64_t sample_div(int64_t a, int64_t b) {
    return a / b;
}
