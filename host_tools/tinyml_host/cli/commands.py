"""Every `tinyml` command, in one table: name, help, arguments, handler (cli/table.py says how to
read it). Adding a command is adding one entry here and its handler in the room that does the work."""
import argparse
import re

from tinyml_host.cli.table import Command, arg

BACKENDS = ("native", "viper", "python")


def _board_names():
    from tinyml_host.board import profiles
    return ", ".join(profiles.names())


def heap_size(text):
    """--heap: bytes, or with K or M (MicroPython's -X heapsize= spelling). Returned as given."""
    if not re.fullmatch(r"[1-9][0-9]*[KkMm]?", text.strip()):
        raise argparse.ArgumentTypeError("%r is not a heap size: give bytes, or kilobytes or megabytes with K or M, "
                                         "e.g. --heap 140K or --heap 2M" % text)
    return text.strip()


def window_bytes(text):
    """--window: bytes of RAM for streamed weights (a whole number >= 0), or 'none'/'all' (whole model in RAM)."""
    t = text.strip().lower()
    if t in ("none", "all"):
        return t
    if not re.fullmatch(r"[0-9]+", t):
        raise argparse.ArgumentTypeError(
            "%r is not a weight window: give a number of bytes >= 0 (e.g. --window 2048, the RAM the board may "
            "spend on weights read from the file at a time) or --window none (the whole model in RAM)" % text)
    return t


BACKEND = arg("--backend", choices=BACKENDS, help="force a kernel backend (default: the fastest there is)")
HEAP = arg("--heap", type=heap_size, help="heap of an emulated board (unix, qemu-*), e.g. 140K; restarts it when different")
ICOUNT = arg("--icount", action="store_true",
             help="a QEMU board counting instructions (-icount shift=0: 1 us of board time = 1,000 instructions, "
                  "deterministic), started beside the usual one; bench then reports instructions")
WINDOW = arg("--window", type=window_bytes, help="weight window in bytes on the board (default: tinyml's choice; 'none' reads the "
                              "whole model into RAM)")
INPUTS = arg("--input", action="append", required=True,
             help=".npy of shape (N, *input_shape), int8 (int16 for a 16x8 model, float32 for a float input); one per model input")


def link_args():
    return [arg("--board", help="board profile: %s (default: the one USB board attached, found by its USB ids; "
                                 "with --port the board found there; emulated boards only when named: unix, qemu-m3)"
                % _board_names()),
            arg("--port", help="the board's serial port (default: an emulated board's own pty, started when "
                               "needed, or the real board found by its USB ids)"),
            arg("--baud", type=int, help="serial speed (default: the board profile's, 115200)"),
            HEAP, ICOUNT]


OTA_LINK = [
    arg("--board", help="board profile (default: the one USB board attached, or with --port the board found there)"),
    arg("--port", help="the board's serial port"),
    arg("--baud", type=int),
    arg("--json", action="store_true", help="print the board's update state as one JSON object")]

COMMANDS = [
    Command("convert", "convert an int8 .tflite model to .tml", "tinyml_host.cli.local:cmd_convert", [
        arg("model"),
        arg("-o", "--output", help="output path (default: the model's name with .tml)"),
        arg("--ref-input", metavar="X.npy", help="int8 inputs (calibration or golden data): their statistics go "
            "into the .tml as the drift reference of tinyml.monitor")]),
    Command("inspect", "print a model's layers, MACs, weight bytes and activation RAM",
            "tinyml_host.cli.local:cmd_inspect", [
                arg("model", help=".tml or .tflite"),
                arg("--no-measure", dest="measure", action="store_false",
                    help="do not load the model on the unix port to measure its RAM"),
                arg("--backend", choices=BACKENDS)]),
    Command("run", "run a model on a board over inputs from .npy files", "tinyml_host.cli.remote:cmd_run", [
        arg("model", help=".tml or .tflite"), INPUTS,
        arg("--output", required=True, help=".npy for the N outputs (output k > 0: <name>.k.npy)"),
        BACKEND, WINDOW] + link_args()),
    Command("verify", "run golden inputs on a board and compare with TFLM, bit for bit",
            "tinyml_host.cli.remote:cmd_verify", [
                arg("model", help=".tflite model (TFLM runs it here, the board runs its conversion)"), INPUTS,
                BACKEND, arg("--mismatches-only", action="store_true", help="list only the cases that differ"),
                WINDOW] + link_args()),
    Command("bench", "time a model on a board (per layer, RAM, each backend); without MODEL the whole benchmark",
            "tinyml_host.cli.remote:cmd_bench", [
                arg("model", nargs="?", help=".tflite or .tml to time on the board (none: the backends side by "
                                             "side on the unix port beside TFLM, the emulated boards, flashing)"),
                arg("--quick", action="store_true", help="without MODEL: fewer repetitions, no flash benchmark"),
                arg("--backend", choices=BACKENDS, help="only this backend"),
                arg("--seconds", type=float, default=1.0, help="time budget per backend on the board (default 1)"),
                arg("--repeat", type=int, default=100, help="most inferences per backend (default 100)"),
                arg("--json", metavar="OUT.json", help="with --icount: write the counts (macs, instructions per "
                    "inference and per MAC, per layer, arena and peak RAM) to this file"),
                WINDOW] + link_args(),
            description="without MODEL: the backends side by side on the unix port; with MODEL: per-layer time, "
                        "peak RAM and µs per inference of each backend, measured on --board"),
    Command("deploy", "put tinyml (and a model, and scripts) on a board; only what changed is sent",
            "tinyml_host.cli.remote:cmd_deploy", [
                arg("model", nargs="?", help=".tflite (converted) or .tml model to put in / (optional)"),
                arg("--app", action="append", help="a script of yours to put in / (repeat for more)"),
                arg("--tool", choices=("mpremote", "ampy"), default="mpremote",
                    help="copy with our protocol over mpremote's transport (default) or adafruit-ampy"),
                arg("--no-compress", action="store_true", help="send base64 even when the board has deflate"),
                arg("--boot", action="store_true", help="run the first --app at every boot (/main.py calls the app "
                    "runner), restart the board and show its first output"),
                arg("--no-boot", action="store_true", help="stop running an app at boot (removes /main.py)"),
                arg("--wait", type=int, default=2, help="--boot: seconds after a reset when Ctrl-C leaves the board "
                    "at its REPL before the app starts (default 2)"),
                arg("--show", type=float, default=8.0, help="--boot: seconds of the app's output to show (default 8)")]
            + link_args()),
    Command("repl", "the board's REPL (mpremote), with tinyml deployed and importable",
            "tinyml_host.cli.remote:cmd_repl", [
                arg("--model", help="also deploy this model"),
                arg("--app", action="append", help="also deploy this script")] + link_args()),
    Command("demo", "hello_world: the model's sine beside math.sin, on the unix port or any board",
            "tinyml_host.cli.local:cmd_demo", [
                arg("--model", help="hello_world .tflite (default: TFLM's hello_world_int8.tflite)"),
                arg("--board", default="unix", help="unix (default: MicroPython's unix port, run directly) or "
                                                    "any board: %s (deployed over its serial link)" % _board_names()),
                arg("--port", help="the board's serial port (real boards; default: found by its USB ids)"), BACKEND,
                arg("--heap", type=heap_size, help="MicroPython heap size of the unix port or an emulated board, e.g. 140K")]),
    Command("pipeline", "run an app's preprocessing + model pipeline over a recording", sub=[
        Command("run", "run APP.py over --input (.wav, .npy, .csv); prints features and predictions",
                "tinyml_host.apps.pipeline:cmd_pipeline_run", [
                    arg("app", help="the app file (e.g. models/micro_speech/kws_app.py)"),
                    arg("--input", required=True, help="recording replayed as the app's source: .wav, .npy or .csv"),
                    arg("--board", help="unix (MicroPython's unix port) or a board name; default: the host (CPython)"),
                    arg("--backend", choices=BACKENDS, help="force the kernel and FFT backend"),
                    arg("--model", help=".tml or .tflite to run instead of the app's MODEL"),
                    arg("--every", type=int, help="run the model every N feature frames (overrides the app's)"),
                    arg("--features", help="save the features to this .npy (frames, features)"),
                    arg("--print-features", action="store_true", help="print every feature frame"),
                    arg("--heap", type=heap_size, help="MicroPython heap size on the unix board, e.g. 512K")])]),
    Command("board", "board profiles; start and stop the emulated boards", sub=[
        Command("list", "the board profiles, and which emulated boards run", "tinyml_host.cli.board:cmd_list", [
            arg("-v", "--verbose", action="store_true", help="with descriptions")]),
        Command("start", "start an emulated board (or reuse it) and print its serial device",
                "tinyml_host.cli.board:cmd_start", [
                    arg("board", help="an emulated board (tinyml board list), or esp32-rom: the emulated ESP32 "
                                      "ROM bootloader, to rehearse `tinyml flash`"),
                    arg("--heap", type=heap_size, help="GC heap size, e.g. 140K, 2M (default: the profile's)"),
                    arg("--erase", action="store_true",
                        help="start with an empty filesystem (else the board's files survive a stop, a kill or "
                             "a reset, as a real board's flash does; qemu-esp32's RAM disk never does)"),
                    arg("--chip", choices=("esp32", "esp32c3"),
                        help="for esp32-rom: the chip it emulates (default esp32)"),
                    arg("--flash", help="for esp32-rom: the file holding its 4 MB flash (default "
                                        "~/.cache/tinyml/esp-rom/CHIP-flash.bin); it outlives the board"),
                    arg("--emulator", choices=("qemu", "python"),
                        help="for esp32-rom: Espressif's ROM in QEMU (default where QEMU has the chip: esp32) "
                             "or tinyml's Python ROM emulation (esp32c3)")]),
        Command("stop", "stop an emulated board", "tinyml_host.cli.board:cmd_stop", [arg("board")]),
        Command("build", "build an emulated board's firmware (firmware/build_board.sh)",
                "tinyml_host.cli.board:cmd_build", [arg("board")])]),
    Command("flash", "flash MicroPython onto an ESP32 board (esptool)", "tinyml_host.cli.flash:cmd_flash", [
        arg("--board", default="esp32", help="esp32 (default), esp32s2, esp32s3, esp32c3 or esp32c6"),
        arg("--port", help="serial port (default: TINYML_PORT, ~/.config/tinyml/config.toml, or the one USB "
                           "serial board plugged in)"),
        arg("--firmware", help="a firmware .bin (default: the official MicroPython release, downloaded once "
                               "into ~/.cache/tinyml/firmware/)"),
        arg("--version", help="the MicroPython release to download (default v1.25.0)"),
        arg("--erase", action="store_true",
            help="erase the whole flash first (done anyway when the board has no MicroPython)"),
        arg("--baud", type=int, default=None,
            help="baud rate for the write (default 460800; falls back to 115200 if it fails)"),
        arg("--no-compress", dest="compress", action="store_false", help="send the image uncompressed"),
        arg("--stub", dest="stub", action="store_true", default=None,
            help="use esptool's flasher stub (default on real boards)"),
        arg("--no-stub", dest="stub", action="store_false",
            help="talk to the ROM bootloader only (default on the emulated board)"),
        arg("--no-wait", dest="wait", action="store_false",
            help="do not wait for the MicroPython banner after the reset")],
        description="Flash MicroPython onto an ESP32 board with esptool, verify it, reset it and wait for the "
                    "MicroPython banner."),
    Command("flash-bench", "time flashing a 1.5 MB image on the emulated ROM bootloader",
            "tinyml_host.cli.flash:cmd_flash_bench", [
                arg("--size", type=float, default=1.5, help="image size in MB (default 1.5)"),
                arg("--chip", default="esp32", choices=("esp32", "esp32c3"))],
            description="Flash a MicroPython-like image onto the emulated ESP32 ROM bootloader, bytes paced at the "
                        "baud rate, at 115200 and 460800 baud, compressed and not (about 5 minutes for 1.5 MB)."),
    Command("new", "start an app from the template: tinyml new app NAME [--model M.tflite]",
            "tinyml_host.apps.boot:cmd_new", [
                arg("what", choices=("app",)),
                arg("name", help="the app's file, e.g. my_app.py"),
                arg("--model", help="the model it runs (sets MODEL)")]),
    Command("monitor", "the statistics of the model at work on a board, live (JSON, PNG)",
            "tinyml_host.apps.monitor:cmd_monitor", [
                arg("--board", help="board profile (default: the one USB board attached, or with --port the board there)"),
                arg("--port", help="the board's serial port"),
                arg("--baud", type=int),
                arg("--json", metavar="FILE", help="save the last report as JSON (- : every report on stdout)"),
                arg("--png", metavar="FILE", help="save the last report's histograms as a PNG (matplotlib)"),
                arg("--count", type=int, help="stop after this many reports"),
                arg("--seconds", type=float, help="stop after this many seconds"),
                arg("--install-mqtt", action="store_true", help="put umqtt.simple on the board (for MQTT)")]),
    Command("quantize", "float model (ONNX; Keras with TensorFlow) -> int8 .tflite that TFLM and tinyml run",
            "tinyml_host.optimize.command:cmd_quantize", [
                arg("model", help=".onnx (PyTorch, Keras 3, scikit-learn exports), or .keras/.h5/SavedModel "
                                  "when TensorFlow is installed"),
                arg("--calibration", required=True, help=".npy of float inputs (N, *input shape), as the float "
                    "model takes them; 100-1000 typical"),
                arg("-o", "--output", required=True, help="the int8 .tflite to write"),
                arg("--tml", help="also write the tinyml model (.tml)"),
                arg("--per-tensor", action="store_true", help="one weight scale per tensor (default: per channel)"),
                arg("--validation", help=".npy of held-out float inputs: compare int8 with float on them"),
                arg("--labels", help=".npy of the validation cases' class labels: accuracy of both models"),
                arg("--int8-validation", metavar="X_INT8.npy", help="write the validation inputs as the int8 model "
                    "takes them (for tinyml run and verify)")],
            description="Calibrate a float model on sample inputs and write a full-integer int8 TFLite model "
                        "(per-channel weights, int8 input and output), exact in TFLM and tinyml."),
    # tinyml ota: exit status 0 done, 1 the board refused the update (the reason printed), 2 anything else.
    Command("ota", "signed model updates: keygen, bundle, push, status, serve", sub=[
        Command("keygen", "make an Ed25519 key pair: KEY (private) and KEY.pub", "tinyml_host.ota.commands:cmd_keygen",
                [arg("-o", "--output", required=True, metavar="KEY")]),
        Command("bundle", "a signed update bundle: the model, TFLM's golden outputs, a manifest",
                "tinyml_host.ota.commands:cmd_bundle", [
                    arg("model", help=".tflite (or a .tml with --tflite)"),
                    arg("--key", required=True, help="the private key (tinyml ota keygen)"),
                    arg("--seq", required=True, type=int, help="sequence number: above every earlier update's"),
                    arg("-o", "--output", required=True, metavar="B.bundle"),
                    arg("--app", action="append", help="a file to ship with the model (e.g. the app's .py)"),
                    arg("--product", default="tinyml", help="product id the board must have (default: tinyml)"),
                    arg("--tflite", help="the .tflite a .tml model was converted from (for TFLM's golden outputs)"),
                    arg("--golden", action="append", help=".npy of golden inputs (N, *shape), one per model input "
                        "(default: --cases random inputs)"),
                    arg("--cases", type=int, default=8, help="random golden inputs (default 8)"),
                    arg("--max-us", type=int, help="latency budget of the health check, µs per inference"),
                    arg("--min-free", type=int, help="free heap the health check needs after loading, bytes"),
                    arg("--abi", help="the .mpy ABI the bundle needs (default: the device library's, 6.3, when "
                                      "it holds .mpy files)")]),
        Command("push", "install a bundle over the serial link; exit 0 when the board runs it",
                "tinyml_host.ota.commands:cmd_push", [
                    arg("bundle")] + OTA_LINK + [
                    arg("--pubkey", help="the public key to install (the first push; or with --replace-key)"),
                    arg("--replace-key", action="store_true", help="replace the board's key with --pubkey"),
                    arg("--no-restart", dest="restart", action="store_false",
                        help="leave the board at its REPL instead of restarting its app")]),
        Command("status", "the board's slots, versions, and the last update's result and reason",
                "tinyml_host.ota.commands:cmd_status", OTA_LINK),
        Command("serve", "serve the bundles in DIR over HTTP (byte ranges: boards resume)",
                "tinyml_host.ota.commands:cmd_serve", [
                    arg("dir"), arg("--host", default="0.0.0.0"), arg("--port", type=int, default=8266),
                    arg("--rate", type=int, help="bytes per second per connection (rehearse a slow link)")])]),
]
