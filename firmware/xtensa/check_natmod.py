"""Checks of ESP32 (xtensawin) object files before mpy_ld.py links them into a native .mpy.

1. Undefined symbols: mpy_ld.py resolves only MicroPython's own tables (mp_fun_table, the qstr and
   object tables, a few mp_type_* objects). Anything else, typically a libgcc helper (__ashldi3,
   __lshrdi3, __divdi3, soft double), has no provider: Debian's lx106 libgcc is call0-ABI and is never
   linked into windowed ESP32 code. The check names each symbol and the objects that need it.

2. IRAM: on the ESP32 a native module's code is copied to IRAM (MALLOC_CAP_EXEC), which takes 32-bit
   loads only: an 8- or 16-bit load there raises LoadStoreError. The module's code reaches its own
   constants through its literal pool: `l32r aN, <literal>` puts an address into aN. This check follows
   every such address that points into a section that ends up in IRAM (text and literals; rodata too
   unless --rodata-in-ram) through the code: register moves, address arithmetic, spills to and
   reloads from the stack frame, branch and loop
   paths (a fixpoint over each function's basic blocks), word loads of relocated pointers out of such
   sections, and arguments of calls to the module's own functions. It fails when one of them is
     - the base of a narrow load or store (l8ui, l16ui, l16si, s8i, s16i), or
     - handed to MicroPython (an argument of a call through mp_fun_table) while it points into
       .rodata in IRAM: MicroPython would read it bytewise (error message strings, for example).
   Loads from buffers MicroPython passes in are not module constants and pass.

3. One module for every xtensawin core: MicroPython reports the same .mpy arch (xtensawin) on the
   ESP32 (LX6), ESP32-S2 and ESP32-S3 (LX7) and loads the same file on all three, but the ESP32-S2
   has no zero-overhead loops, no FPU and no MAC16 (Espressif's xtensa_esp32s2 overlay:
   XCHAL_HAVE_LOOPS, _FP, _MAC16 are 0), and only the S3 has the ee.* SIMD instructions. The check
   fails on any instruction of those options.

    python check_natmod.py [--objdump xtensa-esp32-elf-objdump] [--rodata-in-ram] file.o ...
--rodata-in-ram: the loader puts rodata in RAM (mpy_ld.py's separate_rodata for xtensawin, as in
MicroPython 1.25), so only text and literals are IRAM. Exit status 1 with one line per finding.
"""
import argparse
import re
import subprocess
import sys

NARROW = {"l8ui", "l16ui", "l16si", "s8i", "s16i"}
# Instructions whose result is an address when an operand is one: register moves and address arithmetic.
ADDRESS_OPS = {"mov", "mov.n", "or", "add", "add.n", "addi", "addi.n", "addmi", "addx2", "addx4",
               "addx8", "sub", "subx2", "subx4", "subx8", "movnez", "moveqz", "movltz", "movgez"}
# Instructions with no destination register (stores, branches, special registers, calls, returns).
NO_DEST = re.compile(r"^(s8i|s16i|s32i(\.n)?|ssi|ssip|ssx|ssxp|s32e|s32ri|s32c1i|b\w*|j|jx|call\w*|"
                     r"ret\w*|loop\w*|wsr\.\w+|wur\.\w+|xsr\.\w+|ssl|ssr|ssa8l|ssa8b|ssai|entry|nop(\.n)?|"
                     r"ill(\.n)?|isync|dsync|esync|rsync|memw|extw|excw|break(\.n)?|syscall|waiti|wfr|"
                     r"wer|\.byte)$")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+([0-9a-f]+)\s+(\S+)\s*(.*)$")
RELOC = re.compile(r"^\s*([0-9a-f]+): (R_XTENSA_\w+)\s+(\S+)$")
FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")
SECTION = re.compile(r"^Disassembly of section (\S+):$")
REG = re.compile(r"^a(\d+)$")


def is_code(sec):
    return sec.startswith(".text")


def is_literal(sec):
    return sec.startswith(".literal")


def is_rodata(sec):
    return sec.startswith((".rodata", ".data.rel.ro"))


def split_target(value):
    """'.literal+0x70' -> ('.literal', 0x70)."""
    name, _, off = value.partition("+")
    return name, int(off, 16) if off else 0


class Objdump:
    def __init__(self, objdump, path):
        run = lambda *a: subprocess.run([objdump, *a, path], check=True, capture_output=True, text=True).stdout
        self.symbol_section = {}
        for line in run("-t").splitlines():
            m = re.match(r"^[0-9a-f]+\s+.{7}\s+(\S+)\s+[0-9a-f]+\s+(\S+)$", line)
            if m:
                self.symbol_section[m.group(2)] = m.group(1)
        self.undefined = {n for n, sec in self.symbol_section.items() if sec == "*UND*"}
        # (section, offset) -> target section name, for relocations in literal and data sections.
        self.reloc_target = {}
        sec = None
        for line in run("-r").splitlines():
            m = re.match(r"^RELOCATION RECORDS FOR \[(\S+)\]:$", line)
            if m:
                sec = m.group(1)
                continue
            m = re.match(r"^([0-9a-f]+) (R_XTENSA_\w+)\s+(\S+)$", line)
            if m and sec and not is_code(sec):
                name, _ = split_target(m.group(3))
                self.reloc_target[(sec, int(m.group(1), 16))] = self.symbol_section.get(name, name)
        self.functions = self._functions(run("-d", "-r"))

    def _functions(self, text):
        functions, sec, fn = [], None, None
        for line in text.splitlines():
            m = SECTION.match(line)
            if m:
                sec, fn = m.group(1), None
                continue
            if sec is None or not is_code(sec):
                continue
            m = FUNC.match(line)
            if m:
                fn = {"name": m.group(2), "section": sec, "start": int(m.group(1), 16), "insns": []}
                functions.append(fn)
                continue
            m = RELOC.match(line)
            if m and fn and fn["insns"]:
                fn["insns"][-1]["reloc"] = m.group(3)
                continue
            m = INSN.match(line)
            if m and fn:
                ops = [o.strip() for o in m.group(4).split(",")] if m.group(4) else []
                fn["insns"].append({"addr": int(m.group(1), 16), "op": m.group(3), "ops": ops,
                                    "text": (m.group(3) + " " + m.group(4)).strip(), "reloc": None})
        return functions


def reg(operand):
    m = REG.match(operand.split()[0]) if operand else None
    return int(m.group(1)) if m else None


def target_addr(operand):
    m = re.match(r"^([0-9a-f]+)(\s+<.*>)?$", operand)
    return int(m.group(1), 16) if m else None


class Checker:
    def __init__(self, dump, rodata_in_iram):
        self.d = dump
        self.iram = lambda sec: is_code(sec) or is_literal(sec) or (rodata_in_iram and is_rodata(sec))
        self.has_iram_pointers = {s for (s, _), t in dump.reloc_target.items() if self.iram(t)}
        self.by_start = {(f["section"], f["start"]): f for f in dump.functions}
        self.entry = {id(f): {} for f in dump.functions}  # incoming a2..a7 -> origin section
        self.frame = {id(f): None for f in dump.functions}  # origin stored through a computed frame address
        self.frame_changed = False
        self.findings = {}

    def run(self):
        changed = True
        while changed:  # to a fixpoint over calls between the module's own functions
            changed = False
            for f in self.d.functions:
                changed |= self.function(f)
        return sorted(self.findings.values())

    def literal_origin(self, insn):
        if not insn["reloc"]:
            return None
        name, off = split_target(insn["reloc"])
        name = self.d.symbol_section.get(name, name)
        target = self.d.reloc_target.get((name, off))
        return target if target and self.iram(target) else None

    def function(self, f):
        insns = f["insns"]
        if not insns:
            return False
        index = {i["addr"]: n for n, i in enumerate(insns)}
        succ = [[] for _ in insns]
        loop_back = {}  # index of the last instruction of a zero-overhead loop body -> body start
        for n, i in enumerate(insns):
            op, fall = i["op"], n + 1 < len(insns)
            tgt = target_addr(i["ops"][-1]) if i["ops"] else None
            if op in ("j", "j.l") and tgt in index:
                succ[n].append(index[tgt])
            elif op.startswith("loop") and tgt in index:
                succ[n] += [n + 1, index[tgt]] if fall else [index[tgt]]
                if index[tgt] > 0:
                    loop_back[index[tgt] - 1] = n + 1
            elif op.startswith("b") and not op.startswith("break") and tgt in index:
                succ[n] += [n + 1, index[tgt]] if fall else [index[tgt]]
            elif op in ("jx", "ret", "ret.n", "retw", "retw.n", "ill", "ill.n") or not fall:
                pass
            else:
                succ[n].append(n + 1)
        for last, start in loop_back.items():
            succ[last].append(start)
        state = [None] * len(insns)
        state[0] = dict(self.entry[id(f)])
        work, changed_calls = [0], False
        self.frame_changed = False
        while work:
            n = work.pop()
            out = self.step(f, insns[n], dict(state[n]))
            for s in succ[n]:
                merged = dict(state[s] or {})
                before = dict(merged)
                merged.update(out)
                if state[s] is None or merged != before:
                    state[s] = merged
                    work.append(s)
            changed_calls |= self.pass_args(f, insns[n], state[n])
        return changed_calls or self.frame_changed

    def pass_args(self, f, insn, regs):
        if insn["op"] not in ("call8",) or not insn["ops"]:
            return False
        callee = self.by_start.get((f["section"], target_addr(insn["ops"][0])))
        if callee is None:
            return False
        entry, changed = self.entry[id(callee)], False
        for k in range(6):
            origin = regs.get(10 + k)
            if origin and entry.get(2 + k) != origin:
                entry[2 + k] = origin
                changed = True
        return changed

    def finding(self, f, insn, why):
        key = (f["section"], insn["addr"])
        self.findings[key] = "%s+0x%x (%s %s): %s" % (f["name"], insn["addr"] - f["start"], f["section"],
                                                     insn["text"], why)

    def step(self, f, insn, regs):
        op, ops = insn["op"], insn["ops"]
        dest = reg(ops[0]) if ops and not NO_DEST.match(op) else None
        if op in NARROW and len(ops) >= 2 and regs.get(reg(ops[1])):
            self.finding(f, insn, "narrow %s through an address in %s (module constant in IRAM: LoadStoreError)"
                         % ("store" if op.startswith("s") else "load", regs[reg(ops[1])]))
        if op == "callx8":
            for k in range(6):
                origin = regs.get(10 + k)
                if origin and origin.startswith(".rodata"):
                    self.finding(f, insn, "argument a%d points into %s (IRAM) and goes to MicroPython, which reads it bytewise"
                                 % (10 + k, origin))
        if op in ("call8", "callx8"):
            for r in range(8, 16):
                regs.pop(r, None)
                regs.pop(("sp", r), None)
            return regs
        stack = lambda r: r == 1 or bool(regs.get(("sp", r)))  # a1 or an address in the stack frame
        if op in ("s32i", "s32i.n") and len(ops) == 3 and stack(reg(ops[1])):  # a spill to the frame
            origin = regs.get(reg(ops[0]))
            if reg(ops[1]) == 1:
                slot = ("a1", ops[2])
                if origin:
                    regs[slot] = origin
                else:
                    regs.pop(slot, None)
            elif origin and self.frame[id(f)] != origin:  # through a computed address: any slot
                self.frame[id(f)] = origin
                self.frame_changed = True
        if dest is None:
            return regs
        origin, in_frame = None, False
        if op == "l32r":
            origin = self.literal_origin(insn)
        elif op in ADDRESS_OPS:
            srcs = [r for r in map(reg, ops[1:]) if r is not None]
            origin = next((regs[r] for r in srcs if regs.get(r)), None)
            in_frame = any(stack(r) for r in srcs)
        elif op in ("l32i", "l32i.n") and len(ops) == 3 and stack(reg(ops[1])):  # a reload from the frame
            origin = (regs.get(("a1", ops[2])) if reg(ops[1]) == 1 else None) or self.frame[id(f)]
        elif op in ("l32i", "l32i.n") and len(ops) >= 2 and regs.get(reg(ops[1])) in self.has_iram_pointers:
            origin = regs[reg(ops[1])]  # a pointer read out of a table of pointers into IRAM
        if origin:
            regs[dest] = origin
        else:
            regs.pop(dest, None)
        if in_frame:
            regs[("sp", dest)] = True
        else:
            regs.pop(("sp", dest), None)
        return regs


# Instructions of core options that not every xtensawin core has (see 3. above).
NOT_ON_EVERY_CORE = re.compile(
    r"^(loop|loopnez|loopgtz|wsr\.(lbeg|lend|lcount)|rsr\.(lbeg|lend|lcount)|xsr\.(lbeg|lend|lcount)"  # loops
    r"|\w+\.s|wfr|rfr|lsi|lsiu|ssi|ssiu|lsx|lsxu|ssx|ssxu|\w+\.(fcr|fsr)|bt|bf|any4|all4|any8|all8"  # FPU, booleans
    r"|andb|andbc|orb|orbc|xorb|movt|movf"
    r"|mul\.\w\w\.\w+|mula\.\w+|muls\.\w+|umul\.\w+|ldinc|lddec"  # MAC16
    r"|ee\.\S+)$")  # ESP32-S3 SIMD


def core_specific(dump):
    """Instructions that some xtensawin core (ESP32-S2 above all) does not have."""
    return ["%s+0x%x (%s %s): an instruction the ESP32-S2 core lacks (loops, FPU, MAC16 or S3 SIMD)"
            % (f["name"], i["addr"] - f["start"], f["section"], i["text"])
            for f in dump.functions for i in f["insns"] if NOT_ON_EVERY_CORE.match(i["op"])]


# What mpy_ld.py resolves by itself (its fun_table list and special tables).
MICROPYTHON_PROVIDES = ("mp_fun_table", "mp_native_qstr_table", "mp_native_obj_table", "_GLOBAL_OFFSET_TABLE_")
MICROPYTHON_PREFIXES = ("mp_type_", "mp_stream_")


def undefined_symbols(dumps):
    """{symbol: [objects needing it]} for symbols no object defines and MicroPython does not provide."""
    defined = {n for d in dumps.values() for n, sec in d.symbol_section.items() if sec != "*UND*"}
    missing = {}
    for path, d in dumps.items():
        for name in sorted(d.undefined - defined):
            if name not in MICROPYTHON_PROVIDES and not name.startswith(MICROPYTHON_PREFIXES):
                missing.setdefault(name, []).append(path)
    return missing


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objdump", default="xtensa-esp32-elf-objdump")
    p.add_argument("--rodata-in-ram", action="store_true",
                   help="the loader puts rodata in RAM (mpy_ld.py's separate_rodata): only text is IRAM")
    p.add_argument("objects", nargs="+")
    a = p.parse_args(argv)
    dumps = {path: Objdump(a.objdump, path) for path in a.objects}
    bad = 0
    for name, paths in sorted(undefined_symbols(dumps).items()):
        print("%s: undefined symbol %s: nothing in the module defines it and MicroPython does not provide it%s"
              % (", ".join(paths), name, " (a libgcc helper: Debian's lx106 libgcc is call0-ABI and is never"
                 " linked into ESP32 code; write the C without it, or give the module its own)"
                 if name.startswith("__") else ""))
        bad += 1
    for path, dump in dumps.items():
        findings = Checker(dump, not a.rodata_in_ram).run() + core_specific(dump)
        narrow = sum(i["op"] in NARROW for f in dump.functions for i in f["insns"])
        for line in findings:
            print("%s: %s" % (path, line))
        if findings:
            print("%s: xtensawin checks FAILED: %d finding(s)" % (path, len(findings)), file=sys.stderr)
        else:
            print("%s: xtensawin checks ok: %d functions, %d narrow loads/stores, none through the module's own"
                  " constants in IRAM (%s); no instruction the ESP32-S2 lacks" % (path, len(dump.functions), narrow,
                  "text and literals" if a.rodata_in_ram else "text, literals and rodata"), file=sys.stderr)
        bad += len(findings)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
