// tinyml's emulated boards: the HAL of ports/qemu plus time, sleep and a buffered, polled UART.
#include <stddef.h>
#include <stdint.h>
#include "shared/runtime/interrupt_char.h"

void mp_hal_init(void);
uint64_t tinyml_ticks_us64(void);
#define mp_hal_delay_us_fast(us) mp_hal_delay_us(us)
