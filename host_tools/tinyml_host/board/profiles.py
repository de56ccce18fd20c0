# Board profiles: one small TOML file per board in boards/ (adding a board = adding a file).
#   load("esp32") -> Board, names() -> ["esp32", ...], all_boards() -> [Board, ...]
import dataclasses
import pathlib
import re
import tomllib

from tinyml_host.errors import BoardError

PROFILES = pathlib.Path(__file__).resolve().parent / "boards"

# The .mpy architectures (MicroPython's py/persistentcode.h) a profile may name.
ARCHS = ("x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
         "xtensa", "xtensawin", "rv32imc", "rv64imc")
EMULATOR_KINDS = ("unix", "qemu")
_USB_ID = re.compile(r"^[0-9a-f]{4}:([0-9a-f]{4}|\*)$")


@dataclasses.dataclass(frozen=True)
class Board:
    name: str
    description: str
    arch: str                 # .mpy arch: sys.implementation._mpy names it on the board
    heap: int                 # GC heap bytes: the default of an emulated board, typical for a real one
    emulated: bool
    baud: int = 115200
    chip: str | None = None   # esptool's chip name (ESP boards only); esptool knows the flash offset
    usb_ids: tuple = ()       # "vid:pid" (lowercase hex, pid may be "*") of the board's USB serial
    emulator: dict | None = None  # emulated boards: {"kind": "unix"|"qemu", ...}
    path: str = ""            # the profile file

    @property
    def is_esp(self):
        return self.chip is not None and self.chip.startswith("esp")

    def matches_usb(self, vid, pid):
        """True when a USB serial port with these ids (ints) may be this board."""
        for spec in self.usb_ids:
            v, p = spec.split(":")
            if int(v, 16) == vid and (p == "*" or int(p, 16) == pid):
                return True
        return False


def names():
    """The known boards, sorted."""
    return sorted(p.stem for p in PROFILES.glob("*.toml"))


def _unknown(name):
    return BoardError("unknown board %r; known boards: %s (profiles in %s)" % (name, ", ".join(names()), PROFILES))


def load(name):
    """The board profile `name` (boards/<name>.toml), checked."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise _unknown(name)
    path = PROFILES / (name + ".toml")
    if not path.is_file():
        raise _unknown(name)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BoardError("%s: %s" % (path, e)) from None

    def bad(msg):
        return BoardError("%s: %s" % (path, msg))

    known = {f.name for f in dataclasses.fields(Board)} - {"path"}
    extra = set(data) - known
    if extra:
        raise bad("unknown field(s) %s (known: %s)" % (", ".join(sorted(extra)), ", ".join(sorted(known))))
    for field, typ in (("name", str), ("description", str), ("arch", str), ("heap", int), ("emulated", bool)):
        if field not in data:
            raise bad("missing field %r" % field)
        if not isinstance(data[field], typ) or (typ is int and isinstance(data[field], bool)):
            raise bad("field %r must be a %s" % (field, typ.__name__))
    if data["name"] != name:
        raise bad("name = %r, but the file is named %s.toml" % (data["name"], name))
    if data["arch"] not in ARCHS:
        raise bad("arch %r is not an .mpy architecture (%s)" % (data["arch"], ", ".join(ARCHS)))
    if data["heap"] <= 0:
        raise bad("heap must be a positive number of bytes")
    baud = data.get("baud", 115200)
    if not isinstance(baud, int) or baud <= 0:
        raise bad("baud must be a positive integer")
    chip = data.get("chip")
    if chip is not None and not isinstance(chip, str):
        raise bad("chip must be esptool's chip name, e.g. \"esp32s3\"")
    usb_ids = data.get("usb_ids", [])
    if not isinstance(usb_ids, list) or not all(isinstance(u, str) and _USB_ID.match(u.lower()) for u in usb_ids):
        raise bad("usb_ids must be a list of \"vid:pid\" hex strings (pid may be \"*\"), e.g. [\"10c4:ea60\"]")
    emulator = data.get("emulator")
    if data["emulated"]:
        if not isinstance(emulator, dict) or emulator.get("kind") not in EMULATOR_KINDS:
            raise bad("an emulated board needs an [emulator] table with kind = one of %s" % ", ".join(EMULATOR_KINDS))
        if emulator["kind"] == "qemu":
            for key in ("system", "machine", "firmware", "config_addr"):
                if key not in emulator:
                    raise bad("[emulator] of kind \"qemu\" needs %r" % key)
            if not all(isinstance(x, str) for x in emulator.get("args", [])):
                raise bad("[emulator] args must be a list of strings (extra QEMU arguments)")
            if "ram" in emulator and not (isinstance(emulator["ram"], str) and emulator["ram"][-1:] in ("K", "M")
                                          and emulator["ram"][:-1].isdigit()):
                raise bad("[emulator] ram must be the machine's RAM size as QEMU writes it, e.g. \"16M\"")
    elif emulator is not None:
        raise bad("a real board (emulated = false) has no [emulator] table")
    return Board(name=name, description=data["description"], arch=data["arch"], heap=data["heap"],
                 emulated=data["emulated"], baud=baud, chip=chip,
                 usb_ids=tuple(u.lower() for u in usb_ids), emulator=emulator, path=str(path))


def all_boards():
    return [load(n) for n in names()]


def parse_size(text):
    """'140K', '2M', '143360' -> bytes (K = 1024)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)[bB]?\s*", str(text))
    if not m:
        raise BoardError("not a size: %r (give bytes, or e.g. 140K, 2M)" % (text,))
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
