"""python -m tinyml_host.emulators.esp_rom: one emulated ROM in this process (what start_rom() runs)."""

import sys

from tinyml_host.emulators.esp_rom.process import main

sys.exit(main())
