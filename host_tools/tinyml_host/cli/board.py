# `tinyml board ...`: board profiles and the emulated boards.
#   tinyml board list                      profiles; which emulated boards run, on which device
#   tinyml board start BOARD [--heap 140K] starts (or reuses) an emulated board; prints its serial device
#                                          (its files survive a stop, a kill, a reset; --erase: a new board)
#   tinyml board stop BOARD                stops it
#   tinyml board build BOARD               builds an emulated board's firmware (QEMU boards)
#   tinyml board start esp32-rom [--chip esp32c3]  an ESP32 ROM bootloader to flash: Espressif's ROM in QEMU
#                                          (esp32), tinyml's Python ROM emulation (esp32c3)
import sys

from tinyml_host.board import profiles as boards
from tinyml_host.emulators import supervisor as emulators
from tinyml_host.errors import BoardError


def _fmt_heap(n):
    return "%dK" % (n // 1024) if n % 1024 == 0 else str(n)


def cmd_list(a):
    """The profiles under a header; then what runs or is attached now: emulated boards (the ESP32 ROM
    bootloaders too) and USB boards found by their profiles' USB ids."""
    from tinyml_host.board import discover
    from tinyml_host.emulators.esp_rom.registry import running_emulators
    running = {s["name"]: s for s in emulators.status()}
    rows = [("BOARD", "ARCH", "HEAP", "KIND", "STATE / USB IDS", "DESCRIPTION")]
    for b in boards.all_boards():
        if b.emulated:
            st = running.get(b.name, {})
            state = ("running on %s (heap %s)" % (st["device"], _fmt_heap(st["heap"]))) if st.get("running") else "stopped"
            kind = "emulated"
        else:
            state = "usb " + ",".join(b.usb_ids) if b.usb_ids else ""
            kind = "chip " + b.chip if b.chip else "real"
        rows.append((b.name, b.arch, _fmt_heap(b.heap), kind, state, b.description))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("%-*s  %-*s  %*s  %-*s  %s" % (w[0], r[0], w[1], r[1], w[2], r[2], w[3], r[3], r[4]))
        if a.verbose and r is not rows[0]:
            print("    " + r[5])
    roms = running_emulators()
    print("\nrunning emulated ROM bootloaders (%s; tinyml flash --port DEVICE):" % ROM)
    for e in roms:
        print("  %s  %s (pid %s, flash %s)" % (e.get("device"), e.get("chip", "esp32"), e.get("pid"), e.get("flash")))
    if not roms:
        print("  none (tinyml board start %s)" % ROM)
    usb = discover.attached()
    print("\nUSB boards attached (used when no --board/--port is given):")
    for u in usb:
        print("  " + str(u))
    if not usb:
        print("  none: commands need --board (unix, qemu-m3: emulated) or --port")


def _board(name):
    return boards.load(name)


ROM = "esp32-rom"  # the emulated ESP32 ROM serial bootloader (esp_rom): rehearse a flash


def cmd_start(a):
    if a.board == ROM:
        from tinyml_host.emulators import esp_rom
        print(esp_rom.start_board(a.chip or "esp32", a.flash, a.emulator))
        return
    b = _board(a.board)
    if not b.emulated:
        raise BoardError("%s is a real board: connect it by USB (its serial device is then found by its USB "
                         "ids %s)" % (b.name, ", ".join(b.usb_ids) or "-"))
    heap = boards.parse_size(a.heap) if a.heap else None
    if a.erase:
        emulators.erase(b.name)
    print(emulators.start(b.name, heap))


def cmd_stop(a):
    if a.board == ROM:
        from tinyml_host.emulators import esp_rom
        esp_rom.stop_rom()
        print("%s stopped" % ROM, file=sys.stderr)
        return
    b = _board(a.board)
    was = emulators.stop(b.name)
    print("%s %s" % (b.name, "stopped" if was else "was not running"), file=sys.stderr)


def cmd_build(a):
    b = _board(a.board)
    if not b.emulated or b.emulator["kind"] != "qemu":
        raise BoardError("%s has no firmware of ours to build (QEMU boards: %s)" % (
            b.name, ", ".join(x.name for x in boards.all_boards() if x.emulated and x.emulator["kind"] == "qemu")))
    print(emulators.ensure_firmware(b, quiet=False))
