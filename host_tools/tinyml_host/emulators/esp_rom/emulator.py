"""The emulated chip: an ESP32 or ESP32-C3 on a pty, in its ROM loader, its app, or halted.

Resets: a pty has no DTR/RTS lines, so esptool's reset sequences do nothing there (it warns once).
The emulator takes resets from three places instead: (1) the protocol itself: FLASH_END /
FLASH_DEFL_END with "run user code" or "reboot" leave the loader and boot the flash, which is what
esptool's `after="soft-reset"` sends; (2) its control socket (registry.py), standing for the board's
auto-reset circuit (DTR/RTS) and for its BOOT and EN buttons (`press_buttons`), which always work,
even with auto_reset=False (a board without the circuit); (3) MicroPython's `machine.bootloader()`
at the emulated REPL (C3 only). After a reset the ROM auto-bauds on the first SYNC.

Test hooks: `commands` (every command seen, by name), `drop_after_blocks` (the link drops after N
flash data blocks: "close" unplugs the device, "silent" leaves the chip hung until a reset).
"""

import json
import os
import select
import threading
import time
import traceback
import tty

from tinyml_host.emulators.esp_rom.boot import load_from_flash, software_reset_log
from tinyml_host.emulators.esp_rom.chips import find_chip
from tinyml_host.emulators.esp_rom.flash_file import MB, Flash
from tinyml_host.emulators.esp_rom.loader import Loader
from tinyml_host.emulators.esp_rom.registry import ControlSocket, flash_file_path
from tinyml_host.emulators.esp_rom.repl import MicroPythonRepl
from tinyml_host.emulators.esp_rom.serial_line import ROM_BAUD, Line
from tinyml_host.emulators.esp_rom.slip import SlipDecoder

DOWNLOAD, APP, HALTED, DEAD = "download", "app", "halted", "dead"


class EmulatedRom:
    """An ESP32 or ESP32-C3 in its ROM serial bootloader, on a pty, with flash in a file.

    chip: "esp32" or "esp32c3"; flash_path: the flash file (created erased, flash_size bytes);
    pace: bytes take their time at the baud rate; max_baud: above it the line garbles; auto_reset:
    False for a board whose DTR/RTS do not reach EN/BOOT (only press_buttons resets it);
    boot: "download" (held in the bootloader) or "flash" (booted from flash) at start;
    drop_after_blocks / drop_mode: the link drops after that many flash data blocks, "close"
    (unplugged: the device goes away) or "silent" (hung until a reset); register: list it in the
    registry, with a control socket."""

    def __init__(self, chip="esp32", flash_path=None, *, flash_size=4 * MB, pace=True, max_baud=None,
                 auto_reset=True, boot="download", drop_after_blocks=None, drop_mode="close", register=True):
        self.chip = find_chip(chip)
        self.flash = Flash(flash_file_path(chip, flash_path), flash_size)
        self.auto_reset = auto_reset
        self.drop_after_blocks, self.drop_mode = drop_after_blocks, drop_mode
        self.state = DOWNLOAD
        self._boot_at_start = boot
        self._use_registry = register
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or line editing before a client sets its own mode
        os.set_blocking(self._master, False)
        self.device = os.ttyname(self._slave)
        self.line = Line(self._master, pace, max_baud)
        self.loader = Loader(self.chip, self.flash, self.line, self._count_block, self._leave_loader)
        self.commands = self.loader.commands
        self._slip = SlipDecoder()
        self._blocks_seen = 0
        self._repl = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._control = None

    # ---- life cycle
    def start(self):
        if self._use_registry:
            self._control = ControlSocket(self.device, self.chip.key, str(self.flash.path), self.auto_reset)
        if self._boot_at_start == "flash":
            self._boot_flash(self.chip.flash_boot_log)
        else:
            self._enter_download()
        self._thread = threading.Thread(target=self._serve, name="esp-rom " + self.device, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._close_line()
        self._close_control()
        self.flash.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _close_line(self):
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._master = self._slave = -1

    def _close_control(self):
        if self._control is not None:
            self._control.close()
            self._control = None

    def _control_request(self, words):
        if words[:1] == ["status"]:
            return json.dumps({"state": self.state, "chip": self.chip.key, "baud": self.line.baud})
        if len(words) == 2 and words[0] in ("auto-reset", "buttons") and words[1] in ("download", "run"):
            if words[0] == "auto-reset" and not self.auto_reset:
                return "ignored: this board's DTR/RTS do not reach EN and BOOT"
            (self.press_buttons if words[0] == "buttons" else self.pulse_dtr_rts)(words[1] == "download")
            return "ok " + self.state
        return "unknown request; say: status | auto-reset download|run | buttons download|run"

    # ---- resets
    def pulse_dtr_rts(self, download):
        """What esptool's DTR/RTS sequences do through a board's auto-reset circuit."""
        if self.auto_reset:
            self.press_buttons(download)

    def press_buttons(self, download):
        """Holding BOOT (when download) while pressing and releasing EN."""
        with self._lock:
            if self.state == DEAD:
                return
            if download:
                self._enter_download()
            else:
                self._boot_flash(self.chip.flash_boot_log, delay=0.1)

    def _enter_download(self):
        self.state = DOWNLOAD
        self._slip.reset()
        self.loader.reset()
        self._repl = None
        self.line.baud = ROM_BAUD
        self._send_bytes(self.chip.download_log.encode())

    def _boot_flash(self, log, delay=0.0):
        """A reset without BOOT held: the ROM loads the flash; MicroPython's REPL if it is there."""
        time.sleep(delay)  # a real chip takes a moment to come out of reset
        self._repl = None
        self.loader.reset()
        self.line.baud = ROM_BAUD
        lines, app = load_from_flash(self.chip, self.flash)
        self._send_bytes((log + "".join(lines)).encode())
        self.state = APP if app else HALTED
        if app and app.project == "micropython":
            self._repl = MicroPythonRepl(self.chip, app, self._send_bytes, on_bootloader=self._enter_download,
                                         on_reset=lambda: self._boot_flash(software_reset_log(self.chip)))
            self._repl.start()

    def _leave_loader(self, run_user_code):
        """FLASH_END: jump to the app, or reboot into it."""
        self._boot_flash("" if run_user_code else software_reset_log(self.chip), delay=0.1)

    def _send_bytes(self, data):
        if self._master >= 0:
            self.line.send(data)

    # ---- the serial loop
    def _serve(self):
        while not self._stop.is_set() and self._master >= 0:
            fds = [self._master] + ([self._control] if self._control is not None else [])
            try:
                ready, _, _ = select.select(fds, [], [], 0.05)
            except (OSError, ValueError):
                break
            if self._control is not None and self._control in ready:
                self._control.serve_one(self._control_request)
            if self._master in ready:
                try:
                    data = os.read(self._master, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    time.sleep(0.05)  # EIO: nobody has the port open
                    continue
                with self._lock:
                    try:
                        self._on_bytes(data)
                    except Exception:  # a bug here must not look like a dead board
                        traceback.print_exc()

    def _on_bytes(self, data):
        if self.state == DOWNLOAD and self.loader.autobaud:
            host = self.line.host_baud()
            if host:
                self.line.baud = host  # the ROM measures the SYNC pulses and follows
        data = self.line.received(data)
        if not data or self.state in (HALTED, DEAD):
            return
        if self.state == APP:
            if self._repl is not None:
                self._repl.feed(data)
            return
        for frame in self._slip.feed(data):
            replies, then = self.loader.request(frame)
            if self.state != DOWNLOAD:
                break  # the link dropped, or the chip hung, while handling it
            for reply in replies:
                self._send_bytes(reply)
            if then is not None:
                then()
            if self.state != DOWNLOAD:
                break  # it left the loader: the rest is for the app

    # ---- the link dropping mid-transfer
    def _count_block(self):
        """A flash data block came in; False when the link drops on it."""
        self._blocks_seen += 1
        if self.drop_after_blocks is not None and self._blocks_seen > self.drop_after_blocks:
            if self.drop_mode == "close":
                self.state = DEAD
                self._stop.set()
                self._close_line()   # the USB cable pulled: the device node goes away
                self._close_control()
            else:
                self.state = HALTED  # hung until EN
            self.drop_after_blocks = None
        return self.state == DOWNLOAD
