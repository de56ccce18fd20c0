// lwIP configuration of tinyml's qemu-m3 board: IPv4 TCP/UDP, DHCP and DNS over the emulated LAN9118
// (lan9118.c), polled from the main loop (NO_SYS: no threads, no interrupt handlers). Every lwIP
// buffer is a static array in the firmware's own RAM (SSRAM1), none on the MicroPython heap: about
// 25 KB in all (8 KB of MEM_SIZE for outgoing data, 12 KB of pbuf pool for incoming frames, the
// PCB pools; lan9118.c adds a 1.5 KB frame buffer).
#ifndef TINYML_LWIPOPTS_H
#define TINYML_LWIPOPTS_H

#include <stdint.h>

#define NO_SYS                      1
#define SYS_LIGHTWEIGHT_PROT        0
#define LWIP_NETCONN                0
#define LWIP_SOCKET                 0
#define LWIP_STATS                  0
#define MEM_ALIGNMENT               4
#define MEM_LIBC_MALLOC             0   // lwIP's own heap: a static array of MEM_SIZE
#define MEMP_MEM_MALLOC             0   // and static pools

#define LWIP_IPV4                   1
#define LWIP_IPV6                   0
#define LWIP_ARP                    1
#define LWIP_ETHERNET               1
#define LWIP_RAW                    1
#define LWIP_DHCP                   1
#define LWIP_DHCP_DOES_ACD_CHECK    0   // no address-conflict probe: DHCP answers at once
#define LWIP_DNS                    1
#define LWIP_IGMP                   1
#define LWIP_NETIF_HOSTNAME         1
#define LWIP_NETIF_LINK_CALLBACK    0
#define LWIP_NETIF_STATUS_CALLBACK  0
#define SO_REUSE                    1
#define TCP_LISTEN_BACKLOG          1
#define LWIP_CHKSUM_ALGORITHM       3

// Sizes: a full-size segment in a pool buffer; the receive window (4 segments) fits QEMU's LAN9118
// receive FIFO (2640 words), so a burst from the host is not dropped by the emulated NIC.
#define TCP_MSS                     1460
#define TCP_WND                     (4 * TCP_MSS)
#define TCP_SND_BUF                 (4 * TCP_MSS)
#define TCP_SND_QUEUELEN            (2 * TCP_SND_BUF / TCP_MSS)
#define MEM_SIZE                    (8 * 1024)
#define PBUF_POOL_SIZE              8
#define MEMP_NUM_PBUF               8
#define MEMP_NUM_TCP_PCB            4
#define MEMP_NUM_TCP_PCB_LISTEN     2
#define MEMP_NUM_TCP_SEG            16
#define MEMP_NUM_UDP_PCB            4
#define MEMP_NUM_RAW_PCB            1
#define MEMP_NUM_ARP_QUEUE          4
#define ARP_TABLE_SIZE              4
#define DNS_TABLE_SIZE              2

typedef uint32_t sys_prot_t;

#endif
