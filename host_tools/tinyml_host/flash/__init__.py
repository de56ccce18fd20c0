"""Real ESP32 flashing: esptool driving, the firmware cache, the ESP image format checks."""
