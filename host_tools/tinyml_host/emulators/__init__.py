"""Emulated boards (QEMU, the unix-port board process) and the emulated ESP32 ROM bootloader."""
