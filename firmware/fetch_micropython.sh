#!/usr/bin/env bash
# Puts MicroPython's source (for py/dynruntime.mk, tools/mpy_ld.py, ports/qemu) in build/micropython
# and prints its path: Debian's `micropython` source package (firmware/fetch_debian_source.sh), or
# MPY_DIR's tree when that is set.
exec bash "$(dirname "$0")/fetch_debian_source.sh" micropython micropython py/dynruntime.mk MPY_DIR MicroPython
