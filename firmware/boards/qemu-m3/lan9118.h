// tinyml's qemu-m3 board: the LAN9118 Ethernet interface under lwIP (lan9118.c), for modnetwork_lan.c.
#include <stdbool.h>
#include "lwip/netif.h"

bool tinyml_lan_start(void);
struct netif *tinyml_lan_netif(void);  // NULL while the interface is down
