// lwIP's compiler/platform header for tinyml's qemu-m3 board (Cortex-M3, GCC, little-endian).
#ifndef TINYML_LWIP_ARCH_CC_H
#define TINYML_LWIP_ARCH_CC_H

#include <stdint.h>
#include <stdlib.h>

#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H 1      // lwIP's own isdigit() etc.: no C library here
#define U8_F "u"
#define S8_F "d"
#define X8_F "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "lu"
#define S32_F "ld"
#define X32_F "lx"
#define SZT_F "u"

// No console output from lwIP; an internal assertion that fails stops the board with a message.
void tinyml_net_assert(const char *msg);
#define LWIP_PLATFORM_DIAG(x)
#define LWIP_PLATFORM_ASSERT(x) tinyml_net_assert(x)

// Random numbers (DHCP transaction ids, TCP initial sequence numbers, local ports).
uint32_t tinyml_net_rand(void);
#define LWIP_RAND() tinyml_net_rand()

#endif
