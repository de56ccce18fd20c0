// tinyml's qemu-m3 board: the `network` module, its LAN interface as on MicroPython's Ethernet ports:
//   import network
//   lan = network.LAN()
//   lan.active(True)                 # the LAN9118 up, and an address from DHCP (QEMU's user network)
//   lan.isconnected()                # True
//   lan.ifconfig()                   # ('10.0.2.15', '255.255.255.0', '10.0.2.2', '10.0.2.3')
//   lan.ifconfig(('10.0.2.15', '255.255.255.0', '10.0.2.2', '10.0.2.3'))   # static instead
// The host's loopback is 10.0.2.2 from the board. Sockets: the `socket` module (extmod/modlwip.c).

#include <string.h>

#include "py/runtime.h"
#include "py/mphal.h"

#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/ip4_addr.h"

#include "lan9118.h"

// The address family socket.getaddrinfo() asks DNS for (extmod/modlwip.c): IPv4, the only one here.
int mp_mod_network_prefer_dns_use_ip_version = 4;

#define DHCP_WAIT_MS (10000)

typedef struct _lan_obj_t {
    mp_obj_base_t base;
} lan_obj_t;

static const mp_obj_type_t lan_type;
static const lan_obj_t lan_obj = {{&lan_type}};

static mp_obj_t lan_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return MP_OBJ_FROM_PTR(&lan_obj);
}

static struct netif *netif_or_raise(void) {
    struct netif *n = tinyml_lan_netif();
    if (n == NULL) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("the LAN is not active: call network.LAN().active(True)"));
    }
    return n;
}

static mp_obj_t lan_active(size_t n_args, const mp_obj_t *args) {
    if (n_args == 1) {
        return mp_obj_new_bool(tinyml_lan_netif() != NULL);
    }
    if (mp_obj_is_true(args[1])) {
        if (!tinyml_lan_start()) {
            mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("no LAN9118 at 0x40200000: is this QEMU's mps2-an385?"));
        }
        struct netif *n = tinyml_lan_netif();
        if (ip4_addr_isany_val(*netif_ip4_addr(n))) {
            dhcp_start(n);
            // QEMU's DHCP server answers within milliseconds: wait for the address here, so that
            // a socket opened next has a route (an emulated board has nothing else to wait for).
            mp_uint_t t0 = mp_hal_ticks_ms();
            while (ip4_addr_isany_val(*netif_ip4_addr(n))) {
                if (mp_hal_ticks_ms() - t0 > DHCP_WAIT_MS) {
                    mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("no DHCP answer in 10 s: is QEMU started with "
                        "-nic user,model=lan9118 (the qemu-m3 profile's [emulator] args)?"));
                }
                mp_event_wait_ms(10);
            }
        }
    } else if (tinyml_lan_netif() != NULL) {
        // Not supported: taking the interface down and up again after traffic hung the board in
        // testing (open bug); it stays up until a hard reset.
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("qemu-m3's LAN stays up until a reset: active(False) is not supported"));
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(lan_active_obj, 1, 2, lan_active);

static mp_obj_t lan_isconnected(mp_obj_t self) {
    struct netif *n = tinyml_lan_netif();
    return mp_obj_new_bool(n != NULL && netif_is_up(n) && !ip4_addr_isany_val(*netif_ip4_addr(n)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(lan_isconnected_obj, lan_isconnected);

static mp_obj_t addr_str(const ip4_addr_t *a) {
    char buf[16];
    ip4addr_ntoa_r(a, buf, sizeof(buf));
    return mp_obj_new_str(buf, strlen(buf));
}

static void addr_parse(mp_obj_t s, ip4_addr_t *a) {
    if (!ip4addr_aton(mp_obj_str_get_str(s), a)) {
        mp_raise_ValueError(MP_ERROR_TEXT("ifconfig wants dotted IPv4 addresses, e.g. '10.0.2.15'"));
    }
}

static mp_obj_t lan_ifconfig(size_t n_args, const mp_obj_t *args) {
    struct netif *n = netif_or_raise();
    if (n_args == 1) {
        const ip_addr_t *d = dns_getserver(0);
        mp_obj_t t[4] = {
            addr_str(netif_ip4_addr(n)), addr_str(netif_ip4_netmask(n)), addr_str(netif_ip4_gw(n)),
            addr_str(ip_2_ip4(d)),
        };
        return mp_obj_new_tuple(4, t);
    }
    if (mp_obj_is_str(args[1]) && strcmp(mp_obj_str_get_str(args[1]), "dhcp") == 0) {
        dhcp_start(n);
        return mp_const_none;
    }
    size_t len;
    mp_obj_t *items;
    mp_obj_get_array(args[1], &len, &items);
    if (len != 4) {
        mp_raise_ValueError(MP_ERROR_TEXT("ifconfig wants (ip, netmask, gateway, dns) or 'dhcp'"));
    }
    ip4_addr_t ip, mask, gw, dns;
    addr_parse(items[0], &ip);
    addr_parse(items[1], &mask);
    addr_parse(items[2], &gw);
    addr_parse(items[3], &dns);
    dhcp_release_and_stop(n);
    netif_set_addr(n, &ip, &mask, &gw);
    ip_addr_t d;
    ip_addr_copy_from_ip4(d, dns);
    dns_setserver(0, &d);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(lan_ifconfig_obj, 1, 2, lan_ifconfig);

static mp_obj_t lan_config(mp_obj_t self, mp_obj_t key) {
    if (key == MP_OBJ_NEW_QSTR(MP_QSTR_mac)) {
        struct netif *n = netif_or_raise();
        return mp_obj_new_bytes(n->hwaddr, 6);
    }
    mp_raise_ValueError(MP_ERROR_TEXT("LAN.config knows 'mac'"));
}
static MP_DEFINE_CONST_FUN_OBJ_2(lan_config_obj, lan_config);

static const mp_rom_map_elem_t lan_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_active), MP_ROM_PTR(&lan_active_obj) },
    { MP_ROM_QSTR(MP_QSTR_isconnected), MP_ROM_PTR(&lan_isconnected_obj) },
    { MP_ROM_QSTR(MP_QSTR_ifconfig), MP_ROM_PTR(&lan_ifconfig_obj) },
    { MP_ROM_QSTR(MP_QSTR_config), MP_ROM_PTR(&lan_config_obj) },
};
static MP_DEFINE_CONST_DICT(lan_locals, lan_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(lan_type, MP_QSTR_LAN, MP_TYPE_FLAG_NONE, make_new, lan_make_new,
    locals_dict, &lan_locals);

static const mp_rom_map_elem_t network_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_network) },
    { MP_ROM_QSTR(MP_QSTR_LAN), MP_ROM_PTR(&lan_type) },
};
static MP_DEFINE_CONST_DICT(network_globals, network_globals_table);

const mp_obj_module_t tinyml_network_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&network_globals,
};

MP_REGISTER_MODULE(MP_QSTR_network, tinyml_network_module);
