"""`tinyml flash` and `tinyml flash-bench` (commands.py has their arguments)."""


def cmd_flash(a):
    from tinyml_host.emulators import esp_rom
    from tinyml_host.flash import esp as flash
    flash.flash(a.board, a.port, a.firmware, a.version, erase=a.erase, baud=a.baud,
                compress=a.compress, stub=a.stub, wait_banner=a.wait, hooks=esp_rom.flash_hooks())


def cmd_flash_bench(a):
    from tinyml_host.apps.flash_bench import bench_flash
    bench_flash(size=int(a.size * 1024 * 1024), chip=a.chip)
