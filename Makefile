# tinyml: `make demo` and `make test` set everything up on a fresh Debian machine.
# BOARD: unix (MicroPython's unix port; the default virtual board).
BOARD ?= unix
VENV := .venv
PY := $(VENV)/bin/python
TINYML := $(VENV)/bin/tinyml
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all setup natmod demo test bench clean

all: natmod

# Python environment with the `tinyml` command, cross compilers, MicroPython source (idempotent).
setup:
	@bash host_tools/setup.sh

# Native kernels: dist/<arch>_<abi>/tinyml_kernels.mpy for every architecture with a compiler.
natmod: setup
	@bash firmware/build_natmod.sh

# hello_world on the default virtual board: the model's sine beside math.sin.
demo: natmod
	$(TINYML) demo --board $(BOARD)

test: natmod
	$(PY) -m pytest -q tests

bench: natmod
	$(TINYML) bench

clean:
	rm -rf build/natmod dist
