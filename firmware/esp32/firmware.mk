# `make firmware BOARD=esp32|esp32s2|esp32s3|esp32c3|esp32c6`: MicroPython for that chip with tinyml
# frozen in (firmware/esp32/manifest.py) and the kernels compiled in as a user C module
# (firmware/kernels/micropython.cmake). Needs ESP-IDF (idf.py on PATH: `. $IDF_PATH/export.sh`) and
# a MicroPython checkout with its submodules (MPY_ESP32_DIR, default build/mpy-esp32). The image is
# dist/firmware/<MicroPython board>-tinyml.bin; flash it with `make flash BOARD=... FIRMWARE=<it>`.
# Include this from the top-level Makefile: include firmware/esp32/firmware.mk
ESP32_FIRMWARE_SCRIPT := firmware/esp32/build_firmware.sh
ESP32_USER_C_MODULES := $(CURDIR)/firmware/kernels/micropython.cmake
ESP32_FROZEN_MANIFEST := $(CURDIR)/firmware/esp32/manifest.py

.PHONY: firmware
firmware:
	@USER_C_MODULES=$(ESP32_USER_C_MODULES) FROZEN_MANIFEST=$(ESP32_FROZEN_MANIFEST) \
		bash $(ESP32_FIRMWARE_SCRIPT) $(BOARD)
