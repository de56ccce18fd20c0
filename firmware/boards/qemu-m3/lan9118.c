// tinyml's qemu-m3 board: the SMSC LAN9118 Ethernet controller of the MPS2-AN385 (QEMU emulates it at
// 0x40200000, NVIC IRQ 13) as an lwIP network interface, driven by polling from the main loop:
// MICROPY_INTERNAL_EVENT_HOOK (every wait of MicroPython, the socket module's included) moves the
// frames waiting in the receive FIFO into lwIP and runs lwIP's timers; the controller's interrupt
// line only wakes the CPU from WFI (interrupts stay masked, as for the UART: see mphalport.c).
//
// The controller is used in its simplest way: 32-bit programmed I/O, one frame per transmit command
// (first and last segment), receive status + data popped word by word; MAC and PHY registers through
// the MAC CSR window. Written from SMSC's LAN9118 datasheet (register map and FIFO formats).

#include <string.h>

#include "py/mphal.h"
#include "py/runtime.h"

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/etharp.h"
#include "lwip/dhcp.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include "lan9118.h"

#define ETH_BASE            (0x40200000)
#define ETH_IRQ             (13)
#define REG(off)            (*(volatile uint32_t *)(ETH_BASE + (off)))

// System control and status registers (byte offsets).
#define RX_DATA_FIFO        REG(0x00)
#define TX_DATA_FIFO        REG(0x20)
#define RX_STATUS_FIFO      REG(0x40)
#define ID_REV              REG(0x50)
#define IRQ_CFG             REG(0x54)
#define INT_STS             REG(0x58)
#define INT_EN              REG(0x5c)
#define BYTE_TEST           REG(0x64)
#define FIFO_INT            REG(0x68)
#define RX_CFG              REG(0x6c)
#define TX_CFG              REG(0x70)
#define HW_CFG              REG(0x74)
#define RX_FIFO_INF         REG(0x7c)
#define TX_FIFO_INF         REG(0x80)
#define PMT_CTRL            REG(0x84)
#define MAC_CSR_CMD         REG(0xa4)
#define MAC_CSR_DATA        REG(0xa8)

#define IRQ_CFG_EN          (1u << 8)
#define IRQ_CFG_POL_HIGH    (1u << 4)
#define IRQ_CFG_PUSH_PULL   (1u << 0)
#define INT_RSFL            (1u << 3)   // receive status FIFO above its level (0: any frame)
#define HW_CFG_SRST         (1u << 0)
#define PMT_CTRL_READY      (1u << 0)
#define TX_CFG_TX_ON        (1u << 1)
#define TX_CFG_TXSAO        (1u << 2)   // transmit status may overrun: never read
#define CSR_BUSY            (1u << 31)
#define CSR_READ            (1u << 30)
#define RX_STS_ERROR        (1u << 15)
#define TX_CMD_FIRST        (1u << 13)
#define TX_CMD_LAST         (1u << 12)

// MAC registers (through MAC_CSR_CMD/DATA) and their bits.
#define MAC_CR              (1)
#define MAC_ADDRH           (2)
#define MAC_ADDRL           (3)
#define MAC_CR_FDPX         (1u << 20)
#define MAC_CR_TXEN         (1u << 3)
#define MAC_CR_RXEN         (1u << 2)

#define NVIC_ISER0          (*(volatile uint32_t *)0xe000e100)
#define NVIC_ICPR0          (*(volatile uint32_t *)0xe000e280)

#define FRAME_MAX           (1536)

static struct netif lan_netif;
static struct dhcp lan_dhcp;                  // DHCP's state, static too (not on lwIP's heap)
static bool lwip_ready, lan_up, in_poll;
static uint32_t frame_words[FRAME_MAX / 4];  // one frame in or out, word-aligned for the FIFOs

static uint32_t mac_read(int reg) {
    MAC_CSR_CMD = CSR_BUSY | CSR_READ | reg;
    while (MAC_CSR_CMD & CSR_BUSY) {
    }
    return MAC_CSR_DATA;
}

static void mac_write(int reg, uint32_t val) {
    MAC_CSR_DATA = val;
    MAC_CSR_CMD = CSR_BUSY | reg;
    while (MAC_CSR_CMD & CSR_BUSY) {
    }
}

// ---- lwIP netif -------------------------------------------------------------------------------------

static err_t lan_output(struct netif *netif, struct pbuf *p) {
    (void)netif;
    uint32_t len = p->tot_len;
    if (len > FRAME_MAX) {
        return ERR_BUF;
    }
    uint32_t words = (len + 3) / 4;
    if ((TX_FIFO_INF & 0xffff) < words * 4 + 8) {   // data FIFO free space (bytes)
        return ERR_MEM;
    }
    pbuf_copy_partial(p, frame_words, len, 0);
    TX_DATA_FIFO = TX_CMD_FIRST | TX_CMD_LAST | len;  // command A: one segment, no offset
    TX_DATA_FIFO = len;                               // command B: the frame's length
    for (uint32_t i = 0; i < words; ++i) {
        TX_DATA_FIFO = frame_words[i];
    }
    return ERR_OK;
}

static err_t lan_netif_init(struct netif *netif) {
    netif->name[0] = 'e';
    netif->name[1] = 'n';
    netif->output = etharp_output;
    netif->linkoutput = lan_output;
    netif->mtu = 1500;
    netif->hwaddr_len = 6;
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP;
    uint32_t lo = mac_read(MAC_ADDRL), hi = mac_read(MAC_ADDRH);
    for (int i = 0; i < 4; ++i) {
        netif->hwaddr[i] = lo >> (8 * i);
    }
    netif->hwaddr[4] = hi;
    netif->hwaddr[5] = hi >> 8;
    return ERR_OK;
}

// Frames waiting in the receive FIFO into lwIP.
static void lan_receive(void) {
    while ((RX_FIFO_INF >> 16) & 0xff) {             // receive status FIFO entries
        uint32_t status = RX_STATUS_FIFO;
        uint32_t len = (status >> 16) & 0x3fff;      // frame + 4-byte CRC
        uint32_t words = (len + 3) / 4;
        uint32_t keep = words < FRAME_MAX / 4 ? words : FRAME_MAX / 4;
        for (uint32_t i = 0; i < words; ++i) {
            uint32_t w = RX_DATA_FIFO;
            if (i < keep) {
                frame_words[i] = w;
            }
        }
        if ((status & RX_STS_ERROR) || len < 18 || len - 4 > FRAME_MAX) {
            continue;
        }
        struct pbuf *p = pbuf_alloc(PBUF_RAW, len - 4, PBUF_POOL);
        if (p == NULL) {
            continue;                                 // no buffer: dropped, as a busy NIC would
        }
        pbuf_take(p, frame_words, len - 4);
        if (lan_netif.input(p, &lan_netif) != ERR_OK) {
            pbuf_free(p);
        }
    }
}

// ---- the board's side: bring-up, polling, soft reset ------------------------------------------------

struct netif *tinyml_lan_netif(void) {
    return lan_up ? &lan_netif : NULL;
}

// Resets the controller, starts lwIP (once) and adds the interface; false when no LAN9118 answers.
bool tinyml_lan_start(void) {
    if (lan_up) {
        return true;
    }
    if (BYTE_TEST != 0x87654321) {
        return false;
    }
    HW_CFG = HW_CFG_SRST;
    for (int i = 0; i < 100000 && ((HW_CFG & HW_CFG_SRST) || !(PMT_CTRL & PMT_CTRL_READY)); ++i) {
    }
    TX_CFG = TX_CFG_TX_ON | TX_CFG_TXSAO;
    RX_CFG = 0;                                       // no offset, 4-byte end alignment
    FIFO_INT = 0;                                     // a status entry raises RSFL
    INT_STS = 0xffffffff;
    INT_EN = INT_RSFL;
    IRQ_CFG = IRQ_CFG_EN | IRQ_CFG_POL_HIGH | IRQ_CFG_PUSH_PULL;
    mac_write(MAC_CR, MAC_CR_FDPX | MAC_CR_TXEN | MAC_CR_RXEN);
    NVIC_ISER0 = 1u << ETH_IRQ;                       // wakes WFI; no handler runs (PRIMASK)
    if (!lwip_ready) {
        lwip_init();
        lwip_ready = true;
    }
    netif_add(&lan_netif, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4, NULL, lan_netif_init, ethernet_input);
    dhcp_set_struct(&lan_netif, &lan_dhcp);
    netif_set_default(&lan_netif);
    netif_set_up(&lan_netif);
    netif_set_link_up(&lan_netif);
    lan_up = true;
    return true;
}

// MICROPY_INTERNAL_EVENT_HOOK: received frames, then lwIP's timers (sys_now() is the board's tick).
void tinyml_net_poll(void) {
    if (!lan_up || in_poll) {
        return;
    }
    in_poll = true;
    lan_receive();
    INT_STS = INT_RSFL;
    NVIC_ICPR0 = 1u << ETH_IRQ;
    lan_receive();                                    // a frame that came while clearing
    sys_check_timeouts();
    in_poll = false;
}

// At a soft reset nothing is left to do here: the socket objects have finalisers
// (extmod/modlwip.c), which gc_sweep_all() runs, closing their PCBs.

// ---- lwIP's platform needs ---------------------------------------------------------------------------

u32_t sys_now(void) {
    return mp_hal_ticks_ms();
}

uint32_t tinyml_net_rand(void) {
    static uint32_t x;
    if (x == 0) {
        x = (uint32_t)tinyml_ticks_us64() ^ 0x9e3779b9u;
        for (int i = 0; i < 6; ++i) {
            x ^= lan_netif.hwaddr[i] << (4 * i);
        }
    }
    x ^= x << 13;                                     // xorshift32
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

void tinyml_net_assert(const char *msg) {
    mp_printf(&mp_plat_print, "lwIP assertion failed: %s\n", msg);
    for (;;) {
    }
}
