#!/usr/bin/env bash
# Puts lwIP's source (the TCP/IP stack of the qemu-m3 board's network: MicroPython's lib/lwip is
# empty in Debian's micropython source package) in build/lwip and prints its path: Debian's `lwip`
# source package (firmware/fetch_debian_source.sh), or LWIP_DIR's tree when that is set.
exec bash "$(dirname "$0")/fetch_debian_source.sh" lwip lwip src/core/tcp.c LWIP_DIR lwIP
