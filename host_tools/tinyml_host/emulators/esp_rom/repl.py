"""MicroPython's REPL as the emulated board shows it, for an app whose esp_app_desc_t names
"micropython": the banner, with the version and date from that descriptor, and a minimal REPL
(friendly and raw) -- only what `tinyml flash` and a curious user ask: `import sys`,
`sys.implementation` (with `_mpy`: ABI 6.x and the chip's arch), `sys.platform`, `os.uname()`,
print(), getattr(), `machine.reset()`, `machine.bootloader()` (C3 only: the ESP32 has no such
register, as in MicroPython itself), Ctrl-A/B/C/D. Anything else gets a NotImplementedError that
says this is an emulated board.
"""

import ast
import time

class _Record:
    """A MicroPython attrtuple / module: attributes plus MicroPython's repr."""

    def __init__(self, name, fields, as_tuple=True):
        self._name, self._fields, self._as_tuple = name, fields, as_tuple
        for k, v in fields.items():
            setattr(self, k, v)

    def __repr__(self):
        if self._as_tuple:
            return "(" + ", ".join("%s=%s" % (k, repr(v)) for k, v in self._fields.items()) + ")"
        return "<module '%s'>" % self._name


class _Call:
    """A function of the fake modules, the only thing the REPL calls."""

    def __init__(self, fn):
        self.fn = fn


class MicroPythonRepl:
    """MicroPython's REPL as the emulated board shows it: banner, friendly and raw modes."""

    KNOWN_MODULES = ("sys", "os", "gc", "machine", "time", "micropython", "esp", "esp32")

    def __init__(self, chip, app, send, on_bootloader, on_reset):
        self.chip, self.app, self.send = chip, app, send
        self.on_bootloader, self.on_reset = on_bootloader, on_reset
        self.raw = False
        self.line = bytearray()
        self._paste_probe = b""
        self.names = {}
        v = app.version.lstrip("v").split("-")[0].split(".")
        nums = tuple(int(x) for x in (v + ["0", "0", "0"])[:3] if x.isdigit())
        self.version = (nums + (0, 0, 0))[:3] + ("" if "-" not in app.version else app.version.split("-")[1].split(".")[0],)
        major, minor = self.version[0], self.version[1]
        sub = 3 if (major, minor) >= (1, 23) else 2 if minor == 22 else 1 if minor >= 20 else 0
        self.mpy = 6 | (sub << 8) | (chip.mpy_arch << 10)

    # what the board prints
    def date_iso(self):
        try:
            return time.strftime("%Y-%m-%d", time.strptime(self.app.date, "%b %d %Y"))
        except ValueError:
            return self.app.date

    def banner(self):
        return ('MicroPython %s on %s; %s with %s\r\nType "help()" for more information.\r\n'
                % (self.app.version, self.date_iso(), self.chip.board_name, self.chip.mcu_name))

    def start(self):
        self.send((self.banner() + ">>> ").encode())

    def modules(self):
        c = self.chip
        machine = "%s with %s" % (c.board_name, c.mcu_name)
        impl = _Record("implementation", {"name": "micropython", "version": self.version, "_machine": machine,
                                          "_mpy": self.mpy, "_build": c.build})
        sys_ = _Record("sys", {"implementation": impl, "platform": "esp32", "byteorder": "little",
                               "version": "3.4.0; MicroPython %s on %s" % (self.app.version, self.date_iso()),
                               "path": ["", ".frozen", "/lib"], "maxsize": 2147483647}, as_tuple=False)
        uname = _Record("uname_result", {"sysname": "esp32", "nodename": "esp32",
                                         "release": "%d.%d.%d" % self.version[:3],
                                         "version": "%s on %s" % (self.app.version, self.date_iso()),
                                         "machine": machine})
        os_ = _Record("os", {"uname": _Call(lambda: uname)}, as_tuple=False)
        gc = _Record("gc", {"mem_free": _Call(lambda: 112000), "collect": _Call(lambda: None)}, as_tuple=False)
        mach = {"reset": _Call(self._machine_reset), "soft_reset": _Call(self._machine_reset),
                "freq": _Call(lambda: 160000000)}
        if c.has_bootloader_register:
            mach["bootloader"] = _Call(self._machine_bootloader)
        return {"sys": sys_, "os": os_, "gc": gc, "machine": _Record("machine", mach, as_tuple=False)}

    def _machine_reset(self):
        raise _Leave(self.on_reset)

    def _machine_bootloader(self):
        raise _Leave(self.on_bootloader)

    # input
    def feed(self, data):
        for b in data:
            try:
                if self.raw:
                    self._raw_byte(b)
                else:
                    self._friendly_byte(b)
            except _Leave as leave:
                leave.then()
                return

    def _friendly_byte(self, b):
        if b == 0x01:  # Ctrl-A: raw REPL
            self.raw, self.line = True, bytearray()
            self.send(b"\r\nraw REPL; CTRL-B to exit\r\n>")
        elif b == 0x02:
            self.send(("\r\n" + self.banner() + ">>> ").encode())
        elif b == 0x03:
            self.line = bytearray()
            self.send(b"\r\n>>> ")
        elif b == 0x04:
            self.line = bytearray()
            self.send(("\r\nMPY: soft reboot\r\n" + self.banner() + ">>> ").encode())
        elif b in (0x0D, 0x0A):
            code, self.line = self.line.decode("utf-8", "replace"), bytearray()
            out, err = self.execute(code, echo_values=True) if code.strip() else ("", "")
            self.send(("\r\n" + out + err + ">>> ").encode())
        elif b in (0x08, 0x7F):
            if self.line:
                self.line = self.line[:-1]
                self.send(b"\x08 \x08")
        elif b >= 0x20:
            self.line.append(b)
            self.send(bytes([b]))

    def _raw_byte(self, b):
        if self._paste_probe or (b == 0x05 and not self.line):  # raw-paste request "\x05A\x01"
            self._paste_probe += bytes([b])
            if self._paste_probe == b"\x05A\x01":
                self._paste_probe = b""
                self.send(b"R\x00")  # raw-paste not supported: the host falls back to plain raw mode
            elif not b"\x05A\x01".startswith(self._paste_probe):
                self._paste_probe = b""
            return
        if b == 0x02:  # Ctrl-B: back to the friendly REPL
            self.raw, self.line = False, bytearray()
            self.send(("\r\n" + self.banner() + ">>> ").encode())
        elif b == 0x03:
            self.line = bytearray()
        elif b == 0x04:
            code, self.line = self.line.decode("utf-8", "replace"), bytearray()
            if not code:
                self.send(b"OK\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>")
                return
            self.send(b"OK")
            out, err = self.execute(code, echo_values=False)
            self.send((out + "\x04" + err + "\x04>").encode())
        else:
            self.line.append(b)

    # execution: a tiny interpreter over a few fake modules (parsed with ast, never eval'd)
    def execute(self, code, echo_values):
        out = []
        try:
            tree = ast.parse(code.replace("\r", "\n"))
            for stmt in tree.body:
                self._statement(stmt, out, echo_values)
        except _Leave:
            raise
        except _MpError as e:
            return "".join(out), ('Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n'
                                  "%s: %s\r\n" % (e.kind, e.message))
        except SyntaxError:
            return "".join(out), "Traceback (most recent call last):\r\nSyntaxError: invalid syntax\r\n"
        return "".join(out), ""

    def _statement(self, stmt, out, echo_values):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name not in self.KNOWN_MODULES:
                    raise _MpError("ImportError", "no module named '%s'" % alias.name)
                self.names[alias.asname or alias.name] = self.modules().get(alias.name, _Record(alias.name, {}, False))
        elif isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            value = self._eval(stmt.value, out)
            for t in stmt.targets:
                self.names[t.id] = value
        elif isinstance(stmt, ast.Expr):
            value = self._eval(stmt.value, out)
            if echo_values and value is not None:
                out.append(repr(value) + "\r\n")
        elif isinstance(stmt, ast.Pass):
            pass
        else:
            raise _MpError("NotImplementedError", "this emulated board only answers imports, names, "
                                                  "attributes, print() and getattr()")

    def _eval(self, node, out):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Tuple):
            return tuple(self._eval(e, out) for e in node.elts)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            raise _MpError("NameError", "name '%s' isn't defined" % node.id)
        if isinstance(node, ast.Attribute):
            obj = self._eval(node.value, out)
            if not hasattr(obj, node.attr) or node.attr.startswith("__"):
                kind = "module" if isinstance(obj, _Record) and not obj._as_tuple else type(obj).__name__
                raise _MpError("AttributeError", "'%s' object has no attribute '%s'" % (kind, node.attr))
            return getattr(obj, node.attr)
        if isinstance(node, ast.Subscript):
            return self._eval(node.value, out)[self._eval(node.slice, out)]
        if isinstance(node, ast.Call) and not node.keywords:
            args = [self._eval(a, out) for a in node.args]
            if isinstance(node.func, ast.Name) and node.func.id == "print":
                out.append(" ".join(a if isinstance(a, str) else repr(a) for a in args) + "\r\n")
                return None
            if isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
                obj, attr = args[0], args[1]
                found = hasattr(obj, attr) and not attr.startswith("__")
                if node.func.id == "hasattr":
                    return found
                if found:
                    return getattr(obj, attr)
                if len(args) > 2:
                    return args[2]
                raise _MpError("AttributeError", "no attribute '%s'" % attr)
            if isinstance(node.func, ast.Name) and node.func.id in ("repr", "str", "len"):
                return {"repr": repr, "str": str, "len": len}[node.func.id](args[0])
            fn = self._eval(node.func, out)
            if isinstance(fn, _Call):
                return fn.fn(*args)
        raise _MpError("NotImplementedError", "this emulated board does not evaluate '%s'"
                       % ast.unparse(node)[:60])


class _MpError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind, self.message = kind, message


class _Leave(Exception):
    """The REPL hands the board back: a reset, or the bootloader."""

    def __init__(self, then):
        super().__init__()
        self.then = then
