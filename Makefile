# tinyml: `make demo` and `make test` set everything up on a fresh Debian machine.
#   BOARD: unix (the default virtual board), qemu-m3, qemu-m4, qemu-rv32, qemu-esp32, or a real board: esp32, esp32s3,
#          esp32s2, esp32c3, esp32c6, rp2, pyboard (tinyml board list)
#   PORT:  a real board's serial port (default: found by its USB ids); MODEL, APP: what to deploy;
#          BOOT=1: the (first) APP runs at every boot of the board
BOARD ?= unix
PORT ?=
MODEL ?=
APP ?=
TOOL ?= mpremote
FIRMWARE ?=
ERASE ?=
WAIT ?=
BOOT ?=
VERSION ?=
VENV := .venv
PY := $(VENV)/bin/python
TINYML := $(VENV)/bin/tinyml
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

port_arg = $(if $(PORT),--port $(PORT))

.PHONY: all setup natmod boards demo test fuzz bench bench-icount deploy repl flash clean

all: natmod

# Python environment with the `tinyml` command, cross compilers (the ESP32 one assembled in build/xtensa
# by firmware/xtensa/toolchain.sh when none is on PATH), qemu, MicroPython source (idempotent).
setup:
	@bash host_tools/setup.sh

# Native kernels: dist/<arch>_<abi>/tinyml_kernels.mpy for every architecture with a compiler
# (xtensawin always: its objects are checked for undefined symbols and IRAM-safe loads first).
natmod: setup
	@bash firmware/build_natmod.sh

# Firmware of the emulated boards (MicroPython's ports/qemu with our board definitions), and QEMU
# with Espressif's ESP32 machine and ROM (built once into build/qemu-esp32/ unless one is on PATH):
# the emulated ESP32 boards (esp32-rom, qemu-esp32) run on it.
boards: setup
	@bash firmware/qemu-esp32/qemu.sh >/dev/null
	@bash firmware/build_board.sh qemu-m3
	@bash firmware/build_board.sh qemu-m4
	@bash firmware/build_board.sh qemu-rv32
	@bash firmware/build_board.sh qemu-esp32

# hello_world on the default virtual board: the model's sine beside math.sin.
demo: natmod
	$(TINYML) demo --board $(BOARD)

test: natmod boards
	$(PY) -m pytest -q --durations=30 tests

# The model-file fuzzer (issue 10): CASES structure-aware mutations per backend on the unix port
# (make test runs 2000); failing cases are saved under build/fuzz/failures for --replay.
CASES ?= 20000
SEED ?= 1
fuzz: natmod
	$(PY) -m tinyml_host.apps.fuzz --cases $(CASES) --seed $(SEED)

# Everything measured side by side in one run (see README: Benchmarks).
bench: natmod boards
	$(TINYML) bench

# only the instruction table of `make bench` (qemu-m3, qemu-m4 and qemu-esp32, QEMU -icount shift=0)
bench-icount: natmod boards
	$(TINYML) bench --icount

# Copy tinyml, the native module for the board's CPU, MODEL and APP to BOARD (only what changed).
deploy: natmod
	$(TINYML) deploy $(MODEL) --board $(BOARD) $(port_arg) $(foreach a,$(APP),--app $(a)) --tool $(TOOL) \
		$(if $(filter 1 yes true,$(BOOT)),--boot)

# The board's REPL with tinyml importable.
repl: natmod
	$(TINYML) repl --board $(BOARD) $(port_arg)

# MicroPython onto an ESP32 board with esptool: BOARD=esp32 [PORT=...] [FIRMWARE=x.bin] [ERASE=1]
# [WAIT=0: do not wait for MicroPython's banner]. The emulated ESP32 with Espressif's ROM:
# PORT=$$(tinyml board start esp32-rom --chip esp32).
flash: setup
	$(TINYML) flash --board $(BOARD) $(port_arg) $(if $(FIRMWARE),--firmware $(FIRMWARE)) \
		$(if $(VERSION),--version $(VERSION)) $(if $(filter 1 yes true,$(ERASE)),--erase) \
		$(if $(filter 0 no false,$(WAIT)),--no-wait)

# `make firmware BOARD=esp32`: a custom firmware with tinyml frozen in (needs ESP-IDF).
include firmware/esp32/firmware.mk

clean:
	rm -rf build/natmod build/mpy dist
