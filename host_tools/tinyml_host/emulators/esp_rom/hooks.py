"""What the real flashing needs to know of the emulated ROM bootloaders, handed to it by the CLI
(flash/esp.py Hooks): the running ones as port candidates, their control socket as DTR/RTS, and
their processes as holders of a port that are not in the way."""
from tinyml_host.board.ports import Candidate
from tinyml_host.emulators.esp_rom.registry import control, find_emulator, running_emulators


def reset_hook(device):
    """For an emulated board: a function standing in for DTR/RTS ("download" or "run"), else None."""
    if find_emulator(device) is None:
        return None

    def hook(mode):
        answer = control(device, "auto-reset " + mode, timeout=90.0) or ""  # QEMU restarts: a loaded machine is slow
        return answer.startswith("ok")
    return hook


def port_candidates():
    return [Candidate(e["device"], "emulated %s ROM bootloader%s (pid %d)" % (
        e["chip"].upper(), " (Espressif's ROM in QEMU)" if e.get("kind") == "qemu" else "", e["pid"]),
                      emulated=True) for e in running_emulators()]


def flash_hooks():
    from tinyml_host.flash.esp import Hooks
    return Hooks(reset=reset_hook, ports=port_candidates, pids=lambda: [e["pid"] for e in running_emulators()],
                 link=lambda device: (find_emulator(device) or {}).get("link", {}))
