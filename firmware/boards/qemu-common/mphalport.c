// tinyml's emulated boards: stdio over the UART (buffered, polled, Ctrl-C), time, sleep and reset,
// for QEMU's ARM MPS2-AN385 (QEMU_SOC_MPS2), RISC-V virt (QEMU_SOC_VIRT) and Xtensa sim with the ESP32
// core (QEMU_SOC_XTENSA_SIM) machines.
//
// No interrupt handler runs: interrupts stay masked (PRIMASK on ARM, mstatus.MIE on RISC-V) and WFI
// is used as "wait for event", which wakes on a pending interrupt even when masked. The UART's
// receive interrupt and a timer (SysTick / CLINT mtimecmp) are the events, so an idle board does not
// keep a host CPU busy.
// Derived from MicroPython's ports/qemu/mphalport.c (MIT license, Copyright (c) 2014-2024 Damien P. George).

#include <string.h>

#include "py/mphal.h"
#include "py/runtime.h"
#include "py/stream.h"
#include "shared/runtime/interrupt_char.h"
#include "uart.h"

#define REG32(a) (*(volatile uint32_t *)(a))

#if defined(QEMU_SOC_MPS2)

// CMSDK APB UART0 (uart.c drives DATA/STATE); its RX interrupt is NVIC IRQ 0.
#define UART0_STATE         REG32(0x40004004)
#define UART0_CTRL          REG32(0x40004008)
#define UART0_INTSTATUS     REG32(0x4000400c)
#define UART_STATE_RXFULL   (1 << 1)
#define UART_CTRL_RX_INTEN  (1 << 3)
#define NVIC_ISER0          REG32(0xe000e100)
#define NVIC_ICPR0          REG32(0xe000e280)
#define SCB_ICSR            REG32(0xe000ed04)
#define SCB_AIRCR           REG32(0xe000ed0c)
#define SYST_CSR            REG32(0xe000e010)
#define SYST_RVR            REG32(0xe000e014)
#define SYST_CVR            REG32(0xe000e018)
// MPS2 FPGA IO: COUNTER counts at 25 MHz / (PRESCALE + 1): 1 MHz, a 32-bit microsecond counter.
#define FPGAIO_COUNTER      REG32(0x40028018)
#define FPGAIO_PRESCALE     REG32(0x4002801c)
#define SYSCLK_HZ           (25000000)

static uint32_t ticks_last;
static uint64_t ticks_high;

uint64_t tinyml_ticks_us64(void) {
    uint32_t now = FPGAIO_COUNTER;
    if (now < ticks_last) {
        ticks_high += 1ULL << 32;
    }
    ticks_last = now;
    return ticks_high | now;
}

static void soc_init(void) {
    __asm volatile ("cpsid i" ::: "memory"); // handlers never run; WFI still wakes
    FPGAIO_PRESCALE = SYSCLK_HZ / 1000000 - 1;
    UART0_CTRL |= UART_CTRL_RX_INTEN;
    NVIC_ISER0 = 1;
}

static int soc_uart_has_input(void) {
    return (UART0_STATE & UART_STATE_RXFULL) != 0;
}

static void soc_clear_events(void) {
    UART0_INTSTATUS = 2;    // RX interrupt
    NVIC_ICPR0 = 1;
    SYST_CSR = 0;
    SCB_ICSR = 1 << 25;     // PENDSTCLR
}

static void soc_wait(int timeout_ms) {
    if (timeout_ms >= 0) {
        uint32_t n = (uint32_t)(timeout_ms > 500 ? 500 : timeout_ms) * (SYSCLK_HZ / 1000);
        SYST_RVR = (n ? n : 1) & 0xffffff;
        SYST_CVR = 0;
        SYST_CSR = 7;       // processor clock, exception request, enable
    }
    __asm volatile ("wfi" ::: "memory");
}

NORETURN void tinyml_system_reset(void) {
    SCB_AIRCR = 0x05fa0004; // SYSRESETREQ
    for (;;) {
    }
}

#elif defined(QEMU_SOC_VIRT)

// CLINT (10 MHz mtime), PLIC (the 16550 UART0 is source 10), 16550 registers, SiFive test device.
#define CLINT_MTIMECMP_LO   REG32(0x02004000)
#define CLINT_MTIMECMP_HI   REG32(0x02004004)
#define CLINT_MTIME_LO      REG32(0x0200bff8)
#define CLINT_MTIME_HI      REG32(0x0200bffc)
#define PLIC_PRIORITY(n)    REG32(0x0c000000 + 4 * (n))
#define PLIC_ENABLE_CTX0    REG32(0x0c002000)
#define PLIC_THRESHOLD_CTX0 REG32(0x0c200000)
#define PLIC_CLAIM_CTX0     REG32(0x0c200004)
#define UART_IRQ            (10)
#define UART0_IER           (*(volatile uint8_t *)0x10000001)
#define UART0_DLL           (*(volatile uint8_t *)0x10000000)
#define UART0_DLM           (*(volatile uint8_t *)0x10000001)
#define UART0_FCR           (*(volatile uint8_t *)0x10000002)
#define UART0_LCR           (*(volatile uint8_t *)0x10000003)
#define UART0_LSR           (*(volatile uint8_t *)0x10000005)
#define TEST_DEVICE         REG32(0x00100000)
#define MTIME_HZ            (10000000)

static uint64_t mtime(void) {
    uint32_t hi, lo;
    do {
        hi = CLINT_MTIME_HI;
        lo = CLINT_MTIME_LO;
    } while (hi != CLINT_MTIME_HI);
    return ((uint64_t)hi << 32) | lo;
}

uint64_t tinyml_ticks_us64(void) {
    return mtime() / (MTIME_HZ / 1000000);
}

static void set_mtimecmp(uint64_t t) {
    CLINT_MTIMECMP_HI = 0xffffffff;
    CLINT_MTIMECMP_LO = (uint32_t)t;
    CLINT_MTIMECMP_HI = (uint32_t)(t >> 32);
}

static void soc_init(void) {
    __asm volatile ("csrc mstatus, %0" :: "r" (1 << 3)); // MIE off: handlers never run; WFI still wakes
    set_mtimecmp(~0ULL);
    // QEMU's 16550 takes as many bytes at once as the FIFO's interrupt level (one per main-loop turn
    // beyond that): level 14, with the fastest divisor so that the "character timeout" interrupt
    // for fewer bytes comes after 4 character times of ~25 us.
    UART0_LCR = 0x83;                    // 8N1, divisor latch
    UART0_DLL = 1;
    UART0_DLM = 0;
    UART0_LCR = 0x03;
    UART0_FCR = 0xc7;                    // FIFOs on (and cleared), interrupt at 14 bytes
    UART0_IER = 1;                       // received data available
    PLIC_PRIORITY(UART_IRQ) = 1;
    PLIC_ENABLE_CTX0 = 1 << UART_IRQ;
    PLIC_THRESHOLD_CTX0 = 0;
    __asm volatile ("csrs mie, %0" :: "r" ((1 << 11) | (1 << 7))); // MEIE, MTIE
}

static int soc_uart_has_input(void) {
    return (UART0_LSR & 1) != 0;
}

static void soc_clear_events(void) {
    set_mtimecmp(~0ULL);
    uint32_t claim = PLIC_CLAIM_CTX0;
    if (claim) {
        PLIC_CLAIM_CTX0 = claim;
    }
}

static void soc_wait(int timeout_ms) {
    if (timeout_ms >= 0) {
        set_mtimecmp(mtime() + (uint64_t)timeout_ms * (MTIME_HZ / 1000));
    }
    __asm volatile ("wfi" ::: "memory");
}

NORETURN void tinyml_system_reset(void) {
    TEST_DEVICE = 0x7777;   // FINISHER_RESET
    for (;;) {
    }
}

#elif defined(QEMU_SOC_XTENSA_SIM)

// QEMU's Xtensa "sim" machine with the ESP32 core (qemu-esp32; its console, over semihosting, is in
// firmware/boards/qemu-esp32/esp32sim.c). Time is the cycle counter CCOUNT; a wait is WAITI until
// CCOMPARE0 (a level-1 interrupt, taken only there: PS.INTLEVEL is 1 elsewhere). The console raises
// no interrupt, so a wait polls it: every 50 us while input keeps coming, every 5 ms when idle.
#define CCOMPARE0_INT       (6)
#define WAIT_BUSY_US        (50)
#define WAIT_IDLE_US        (5000)

int tinyml_console_has_input(void);
extern uint32_t tinyml_console_rx_ccount;

static inline uint32_t ccount(void) {
    uint32_t c;
    __asm volatile ("rsr.ccount %0" : "=r" (c));
    return c;
}

static uint32_t ticks_last, ticks_rem;
static uint64_t ticks_us;

uint64_t tinyml_ticks_us64(void) {
    uint32_t now = ccount();
    uint32_t d = now - ticks_last + ticks_rem; // polled far more often than CCOUNT wraps (107 s)
    ticks_last = now;
    ticks_us += d / (TINYML_CCOUNT_HZ / 1000000);
    ticks_rem = d % (TINYML_CCOUNT_HZ / 1000000);
    return ticks_us;
}

static void soc_init(void) {
    ticks_last = ccount();
}

static int soc_uart_has_input(void) {
    return tinyml_console_has_input();
}

static void soc_clear_events(void) {
    __asm volatile ("wsr.intenable %0; rsync" :: "r" (0));
}

static void soc_wait(int timeout_ms) {
    uint32_t us = (ccount() - tinyml_console_rx_ccount) < TINYML_CCOUNT_HZ / 10 ? WAIT_BUSY_US : WAIT_IDLE_US;
    if (timeout_ms >= 0 && (uint32_t)timeout_ms * 1000 < us) {
        us = timeout_ms * 1000;
    }
    uint32_t when = ccount() + us * (TINYML_CCOUNT_HZ / 1000000);
    __asm volatile ("wsr.ccompare0 %0; wsr.intenable %1; rsync; waiti 0; rsil %1, 1"
        :: "r" (when), "r" (1 << CCOMPARE0_INT) : "memory");
}

#else
#error "tinyml's emulated boards support QEMU_SOC_MPS2, QEMU_SOC_VIRT and QEMU_SOC_XTENSA_SIM"
#endif

// ---- UART input: a ring buffer filled by polling ------------------------------------------------

#define RX_SIZE (1024)
static uint8_t rx_buf[RX_SIZE];
static volatile uint32_t rx_head, rx_tail;

void tinyml_uart_poll(void) {
    for (;;) {
        uint32_t next = (rx_head + 1) % RX_SIZE;
        if (next == rx_tail) {
            break; // full: the rest waits in QEMU
        }
        int c = uart_rx_chr();
        if (c < 0) {
            break;
        }
        c &= 0xff;
        if (c == mp_interrupt_char) {
            mp_sched_keyboard_interrupt();
            continue;
        }
        rx_buf[rx_head] = c;
        rx_head = next;
    }
    tinyml_ticks_us64(); // keeps the 32-bit hardware counter's extension current
}

// No spinning on the UART before WFI: a spinning vCPU takes the host CPU from QEMU's I/O thread,
// which hands over the input (measured: slower, not faster).
void tinyml_wfe(int timeout_ms) {
    tinyml_uart_poll();
    if (rx_head != rx_tail || timeout_ms == 0) {
        return;
    }
    soc_clear_events();
    if (!soc_uart_has_input()) {
        soc_wait(timeout_ms);
    }
    soc_clear_events();
    tinyml_uart_poll();
}

void mp_hal_init(void) {
    soc_init();
    tinyml_ticks_us64();
}

uintptr_t mp_hal_stdio_poll(uintptr_t poll_flags) {
    uintptr_t ret = 0;
    if (poll_flags & MP_STREAM_POLL_RD) {
        tinyml_uart_poll();
        if (rx_head != rx_tail) {
            ret |= MP_STREAM_POLL_RD;
        }
    }
    if (poll_flags & MP_STREAM_POLL_WR) {
        ret |= MP_STREAM_POLL_WR;
    }
    return ret;
}

int mp_hal_stdin_rx_chr(void) {
    for (;;) {
        tinyml_uart_poll();
        if (rx_head != rx_tail) {
            int c = rx_buf[rx_tail];
            rx_tail = (rx_tail + 1) % RX_SIZE;
            return c;
        }
        mp_event_wait_indefinite();
    }
}

mp_uint_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    uart_tx_strn(str, len);
    return len;
}

// ---- time ---------------------------------------------------------------------------------------

mp_uint_t mp_hal_ticks_us(void) {
    return (mp_uint_t)tinyml_ticks_us64();
}

mp_uint_t mp_hal_ticks_ms(void) {
    return (mp_uint_t)(tinyml_ticks_us64() / 1000);
}

mp_uint_t mp_hal_ticks_cpu(void) {
    return (mp_uint_t)tinyml_ticks_us64();
}

uint64_t mp_hal_time_ns(void) {
    return tinyml_ticks_us64() * 1000ULL;
}

void mp_hal_delay_us(mp_uint_t us) {
    uint64_t end = tinyml_ticks_us64() + us;
    while (tinyml_ticks_us64() < end) {
        tinyml_uart_poll();
    }
}

void mp_hal_delay_ms(mp_uint_t ms) {
    uint64_t end = tinyml_ticks_us64() + (uint64_t)ms * 1000;
    for (;;) {
        uint64_t now = tinyml_ticks_us64();
        if (now >= end) {
            break;
        }
        mp_event_wait_ms((mp_uint_t)((end - now + 999) / 1000));
    }
}
